package localnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// containerd is the node's runtime, one instance per state directory, with
// its socket, root and state all inside it so nothing touches the host's
// default /run/containerd or /var/lib/containerd.
type containerd struct {
	dir  string
	sock string
	proc *Process
}

// containerdConfig is containerd 1.6's CRI configuration for this host kind:
// restrict_oom_score_adj because the VM lacks CAP_SYS_RESOURCE (every
// sandbox failed with "can't get final child's PID from pipe" without it),
// cgroupfs because there is no systemd, and the locally built pause image.
const containerdConfig = `version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`

func startContainerd(ctx context.Context, dir, cniBin, cniConf, pauseRef string) (*containerd, error) {
	c := &containerd{dir: filepath.Join(dir, "containerd")}
	c.sock = filepath.Join(c.dir, "containerd.sock")
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(c.dir, "config.toml")
	body := fmt.Sprintf(containerdConfig, filepath.Join(c.dir, "root"), filepath.Join(c.dir, "state"), c.sock, pauseRef, cniBin, cniConf)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return nil, err
	}
	p, err := StartProcess("containerd", "containerd", []string{"--config", cfg, "--log-level", "warn"}, nil, filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	c.proc = p
	err = Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		if exited, werr := p.Exited(); exited {
			return false, fmt.Errorf("containerd exited: %v (log: %s)", werr, p.LogPath)
		}
		return c.ctr(ctx, "version") == nil, nil
	})
	if err != nil {
		return c, fmt.Errorf("waiting for containerd: %w", err)
	}
	return c, nil
}

func (c *containerd) ctr(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Import loads OCI archives into the namespace the kubelet uses, so pods
// whose image names them start with imagePullPolicy IfNotPresent and never
// reach for a registry.
func (c *containerd) Import(ctx context.Context, archives ...string) error {
	for _, a := range archives {
		if err := c.ctr(ctx, "images", "import", a); err != nil {
			return fmt.Errorf("importing %s: %w", a, err)
		}
	}
	return nil
}

// killContainers kills every task and removes every container, which the
// kubelet would have done pod by pod; after the kubelet is stopped nobody
// else will.
func (c *containerd) killContainers(ctx context.Context) {
	out, err := exec.CommandContext(ctx, "ctr", "--address", c.sock, "--namespace", "k8s.io", "containers", "list", "-q").Output()
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		_ = c.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
	}
	for _, id := range strings.Fields(string(out)) {
		_ = c.ctr(ctx, "tasks", "delete", "--force", id)
		_ = c.ctr(ctx, "containers", "delete", id)
	}
}

// shimPIDs finds the runc shims this containerd started: they outlive
// containerd by design, and name its socket on their command line.
func shimPIDs(sock string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		s := string(cmd)
		if strings.Contains(s, "containerd-shim") && strings.Contains(s, sock) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TaskPID returns the host PID of a running container's first process, for
// tests that look at it through /proc (its UID, capabilities, mounts).
// containerID is the ID in a pod's container status, with or without the
// "containerd://" prefix.
func (n *Node) TaskPID(ctx context.Context, containerID string) (int, error) {
	id := strings.TrimPrefix(containerID, "containerd://")
	out, err := exec.CommandContext(ctx, "ctr", "--address", n.containerd.sock, "--namespace", "k8s.io", "tasks", "list").Output()
	if err != nil {
		return 0, fmt.Errorf("ctr tasks list: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			var pid int
			if _, err := fmt.Sscanf(f[1], "%d", &pid); err == nil && pid > 0 {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no running task for container %s", id)
}
