package localnode

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrCannotRun wraps the reason this host cannot run containers. Callers
// print it in one line and fall back to the process-level path (make demo)
// or skip (tests, never under CI on a host that could run them).
var ErrCannotRun = errors.New("this host cannot run a local node")

// Preflight reports, as an ErrCannotRun, the first thing that stops this
// host from running pods, or nil. It checks what the host offers (root,
// cgroups, the OS tools); missing build outputs are ordinary errors from
// Start, since hack/tools.sh can always produce them.
func Preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not running as root (containerd, runc and the kubelet need it)", ErrCannotRun)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu"); err != nil {
		if _, err2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err2 != nil {
			return fmt.Errorf("%w: no cgroup hierarchy mounted at /sys/fs/cgroup", ErrCannotRun)
		}
	}
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "ip", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s is not installed (./hack/tools.sh node installs it from apt)", ErrCannotRun, tool)
		}
	}
	return nil
}

// nodeBinaries are what the node needs besides the control plane.
var nodeBinaries = []string{"kubelet", "kube-scheduler"}

func checkNodeBinaries(assets, cniDir string) error {
	for _, b := range nodeBinaries {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return fmt.Errorf("%s: %w (build it with ./hack/tools.sh node)", b, err)
		}
	}
	for _, p := range []string{"bridge", "loopback", "host-local"} {
		if _, err := os.Stat(filepath.Join(cniDir, p)); err != nil {
			return fmt.Errorf("CNI plugin %s: %w (build it with ./hack/tools.sh node)", p, err)
		}
	}
	return nil
}
