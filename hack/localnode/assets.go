package localnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Binaries the control plane needs inside the assets directory.
var requiredBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager"}

// ErrNoAssets means KUBEBUILDER_ASSETS and CI are both unset: a developer
// running `go test` without the control plane built. Only this case may
// skip; everything else is a failure.
var ErrNoAssets = errors.New("KUBEBUILDER_ASSETS is unset (run ./hack/tools.sh control-plane and `export $(./hack/tools.sh env)`)")

// AssetsDir returns the directory holding etcd, kube-apiserver and
// kube-controller-manager. It returns ErrNoAssets only when neither
// KUBEBUILDER_ASSETS nor CI is set; under CI a missing variable or binary is
// an ordinary error so the run fails instead of silently skipping.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		if os.Getenv("CI") == "" {
			return "", ErrNoAssets
		}
		return "", errors.New("KUBEBUILDER_ASSETS must be set when CI is set: the e2e tests may not be skipped in CI")
	}
	for _, b := range requiredBinaries {
		p := filepath.Join(dir, b)
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s: %w (build it with ./hack/tools.sh control-plane)", dir, err)
		}
		if st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s: %s is not executable", dir, b)
		}
	}
	return dir, nil
}

// HelmBinary returns $HELM or the binary hack/tools.sh builds.
func HelmBinary() (string, error) {
	p := os.Getenv("HELM")
	if p == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locating helm: %w", err)
		}
		root := os.Getenv("OAUTH_INJECTOR_CACHE")
		if root == "" {
			root = filepath.Join(home, ".cache", "oauth-injector")
		}
		p = filepath.Join(root, "tools", "helm-v3.22.0", "helm")
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("helm binary: %w (build it with ./hack/tools.sh helm or set HELM)", err)
	}
	return p, nil
}
