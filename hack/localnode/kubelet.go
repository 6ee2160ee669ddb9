package localnode

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// SyncFrequency is the kubelet's sync period, which bounds how long a
// changed Secret takes to reach a pod's volume. The default of 1 min would
// make the rotation test slow; 2 s gave 1.4-3.3 s propagation here.
const SyncFrequency = 2 * time.Second

// kubeletConfig is the KubeletConfiguration for this host kind: cgroup v1
// (failCgroupV1: false), cgroupfs without systemd, swap allowed, eviction
// thresholds low enough that a busy CI disk does not evict the test pods,
// x509 client authentication from the API server only.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
syncFrequency: %s
nodeStatusUpdateFrequency: 2s
resolvConf: %q
evictionHard: {memory.available: "10Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
shutdownGracePeriod: 0s
`

func startKubelet(ctx context.Context, dir, assets, kubeconfig, clientCA, sock string) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	kdir := filepath.Join(dir, "kubelet")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return nil, err
	}
	// Pods get this resolv.conf: the node has no cluster DNS and tests
	// reach only addresses, never names.
	resolv := filepath.Join(kdir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("options ndots:1\n"), 0o644); err != nil {
		return nil, err
	}
	cfg := filepath.Join(kdir, "config.yaml")
	body := fmt.Sprintf(kubeletConfig, NodeIP, port, clientCA, sock, SyncFrequency, resolv)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return nil, err
	}
	args := []string{
		"--config=" + cfg,
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + filepath.Join(kdir, "root"),
		"--cert-dir=" + filepath.Join(kdir, "pki"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + NodeIP,
		"--v=1",
	}
	p, err := StartProcess("kubelet", filepath.Join(assets, "kubelet"), args, nil, filepath.Join(dir, "kubelet.log"))
	if err != nil {
		return nil, err
	}
	return p, waitHealthz(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
}

func startScheduler(ctx context.Context, dir, assets, kubeconfig string) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--authorization-always-allow-paths=/healthz,/readyz,/livez",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--leader-elect=false",
		"-v=1",
	}
	p, err := StartProcess("kube-scheduler", filepath.Join(assets, "kube-scheduler"), args, nil, filepath.Join(dir, "kube-scheduler.log"))
	if err != nil {
		return nil, err
	}
	return p, waitHealthz(ctx, p, fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
}

func waitHealthz(ctx context.Context, p *Process, url string) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureLocalhostTLS()}, Timeout: 2 * time.Second}
	err := Eventually(ctx, 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		if exited, werr := p.Exited(); exited {
			return false, fmt.Errorf("%s exited: %v (log: %s)", p.Name, werr, p.LogPath)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", p.Name, err)
	}
	return nil
}
