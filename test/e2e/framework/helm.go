package framework

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// Helm runs the helm binary against one kubeconfig.
type Helm struct {
	Bin        string
	Kubeconfig string
	// HomeDir isolates helm's cache, config and data directories so the
	// tests never read or write the developer's helm state.
	HomeDir string
}

// Run executes helm with args and returns combined output.
func (h *Helm) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.Bin, append([]string{"--kubeconfig", h.Kubeconfig}, args...)...)
	cmd.Env = []string{
		"HOME=" + h.HomeDir,
		"HELM_CACHE_HOME=" + h.HomeDir + "/cache",
		"HELM_CONFIG_HOME=" + h.HomeDir + "/config",
		"HELM_DATA_HOME=" + h.HomeDir + "/data",
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// UpgradeInstall installs or upgrades release from chartDir into namespace
// with the given --set values, waiting for nothing (there is no kubelet, so
// Deployments never become ready).
func (h *Helm) UpgradeInstall(ctx context.Context, release, namespace, chartDir string, set map[string]string) (string, error) {
	args := []string{"upgrade", "--install", release, chartDir, "--namespace", namespace, "--create-namespace"}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--set", k+"="+set[k])
	}
	return h.Run(ctx, args...)
}
