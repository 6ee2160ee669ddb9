package localnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeName is the single node's name.
const NodeName = "localnode"

// NodeControllers adds what a cluster with a kubelet needs: default
// ServiceAccounts and the kube-root-ca.crt ConfigMap for in-cluster clients,
// endpoints for aggregator routing to the webhook Service, and disruption
// for the chart's PodDisruptionBudget.
var NodeControllers = append(append([]string{}, DefaultControllers...),
	"serviceaccount", "root-ca-cert-publisher", "endpoint", "endpointslice", "disruption", "podgc",
	// Removes the not-ready taint the kubelet registers the node with.
	"nodelifecycle")

// NodeOptions configure Start.
type NodeOptions struct {
	// AssetsDir holds the Kubernetes binaries (AssetsDir() when empty).
	AssetsDir string
	// CNIBinDir holds the CNI plugins hack/tools.sh built.
	CNIBinDir string
	// Dir is the node's state directory; it must be short enough for a
	// unix socket path (about 80 bytes).
	Dir string
	// Images are OCI archives (hack/images) imported before the kubelet
	// starts; one of them must be the pause image PauseRef names.
	Images []string
}

// PauseRef is the sandbox image containerd is configured with.
const PauseRef = "registry.k8s.io/pause:3.10"

// Node is a running single-node cluster.
type Node struct {
	*Cluster
	// APIServerHost and APIServerPort are how a pod reaches the API server
	// without kube-proxy (KUBERNETES_SERVICE_HOST/PORT for in-cluster clients).
	APIServerHost, APIServerPort string

	dir        string
	containerd *containerd
	scheduler  *Process
	kubelet    *Process
	netns      map[string]bool
	stopped    bool
}

// state is what `localnode down` needs to clean up after a node whose
// owner died: the PIDs to stop and the namespaces that were there before.
type state struct {
	PIDs   map[string]int  `json:"pids"`
	Netns  map[string]bool `json:"netnsBefore"`
	Socket string          `json:"containerdSocket"`
}

const stateFile = "localnode.json"

// Start brings up containerd, the control plane, kube-scheduler and the
// kubelet, and waits for the node to be Ready. On error everything it
// started is torn down again.
func Start(ctx context.Context, opts NodeOptions) (n *Node, err error) {
	if err := Preflight(); err != nil {
		return nil, err
	}
	if opts.AssetsDir == "" {
		if opts.AssetsDir, err = AssetsDir(); err != nil {
			return nil, err
		}
	}
	if err := checkNodeBinaries(opts.AssetsDir, opts.CNIBinDir); err != nil {
		return nil, err
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	// A node of this directory that died without cleaning up would hold the
	// bridge and its address.
	if err := Teardown(opts.Dir); err != nil {
		return nil, fmt.Errorf("cleaning up an earlier node in %s: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	n = &Node{dir: opts.Dir, netns: listNetns()}
	defer func() {
		if err != nil {
			_ = n.Stop()
		}
	}()
	if err := setupBridge(); err != nil {
		return nil, err
	}
	cniConf := filepath.Join(opts.Dir, "cni", "net.d")
	if err := writeCNIConfig(cniConf, filepath.Join(opts.Dir, "cni", "ipam")); err != nil {
		return nil, err
	}
	if n.containerd, err = startContainerd(ctx, opts.Dir, opts.CNIBinDir, cniConf, PauseRef); err != nil {
		return nil, err
	}
	n.saveState()
	if err := n.containerd.Import(ctx, opts.Images...); err != nil {
		return nil, err
	}
	clientCA, kcert, kkey, err := kubeletClientCerts(filepath.Join(opts.Dir, "pki"))
	if err != nil {
		return nil, err
	}
	n.Cluster, err = StartControlPlane(ctx, Options{
		AssetsDir:   opts.AssetsDir,
		Dir:         opts.Dir,
		Controllers: NodeControllers,
		Address:     NodeIP,
		APIServerArgs: map[string][]string{
			// Webhook Services are reached through their endpoints, as
			// there is no kube-proxy to make ClusterIPs work.
			"enable-aggregator-routing":       {"true"},
			"kubelet-client-certificate":      {kcert},
			"kubelet-client-key":              {kkey},
			"kubelet-preferred-address-types": {"InternalIP"},
			"advertise-address":               {NodeIP},
		},
		ServiceAccountAdmission: true,
	})
	if err != nil {
		return nil, err
	}
	n.APIServerHost, n.APIServerPort = NodeIP, n.Config.Host[len("https://"+NodeIP+":"):]
	n.saveState()
	if n.scheduler, err = startScheduler(ctx, opts.Dir, opts.AssetsDir, n.Kubeconfig); err != nil {
		return nil, err
	}
	if n.kubelet, err = startKubelet(ctx, opts.Dir, opts.AssetsDir, n.Kubeconfig, clientCA, n.containerd.sock); err != nil {
		return nil, err
	}
	n.saveState()
	if err := n.waitReady(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Node) waitReady(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		return err
	}
	return Eventually(ctx, 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		if exited, werr := n.kubelet.Exited(); exited {
			return false, fmt.Errorf("kubelet exited: %v (log: %s)", werr, n.kubelet.LogPath)
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, fmt.Errorf("node %s: %s: %s", NodeName, c.Reason, c.Message)
			}
		}
		return false, fmt.Errorf("node %s has no Ready condition yet", NodeName)
	})
}

func (n *Node) saveState() {
	s := state{PIDs: map[string]int{}, Netns: n.netns}
	for name, p := range map[string]*Process{"kubelet": n.kubelet, "kube-scheduler": n.scheduler} {
		if p != nil {
			s.PIDs[name] = p.Pid()
		}
	}
	if n.containerd != nil {
		s.PIDs["containerd"] = n.containerd.proc.Pid()
		s.Socket = n.containerd.sock
	}
	if n.Cluster != nil && n.ControllerManager != nil {
		s.PIDs["kube-controller-manager"] = n.ControllerManager.Pid()
	}
	// envtest starts these two without telling their PIDs; they are our
	// children by command name.
	for name, pid := range childPIDs("etcd", "kube-apiserver") {
		s.PIDs[name] = pid
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	_ = os.WriteFile(filepath.Join(n.dir, stateFile), b, 0o600)
}

// Stop stops the kubelet first (so no pod is restarted), kills the
// containers, stops the control plane and containerd, then removes what
// they left: shims, mounts, network namespaces, cni0 and the KUBE-* chains.
func (n *Node) Stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if n.kubelet != nil {
		errs = append(errs, stopErr(n.kubelet))
	}
	if n.containerd != nil {
		n.containerd.killContainers(ctx)
	}
	if n.scheduler != nil {
		errs = append(errs, stopErr(n.scheduler))
	}
	if n.Cluster != nil {
		errs = append(errs, n.Cluster.Stop())
	}
	if n.containerd != nil {
		errs = append(errs, stopErr(n.containerd.proc))
	}
	errs = append(errs, Teardown(n.dir))
	return errors.Join(errs...)
}

// stopErr stops p, naming it in the error.
func stopErr(p *Process) error {
	if err := p.Stop(20 * time.Second); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	return nil
}

// Teardown removes everything a node in dir may have left, whether or not
// its processes are still running: it stops them by the PIDs in the state
// file, kills containerd's shims, unmounts below dir, and removes the pod
// network namespaces, cni0, the KUBE-* chains and the kubepods cgroups. It
// keeps dir's logs. A directory without a node is a no-op.
func Teardown(dir string) error {
	var s state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", stateFile, err)
	}
	var errs []error
	// The kubelet first, so that it restarts nothing; containerd last.
	for _, name := range []string{"kubelet", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd", "containerd"} {
		if pid, ok := s.PIDs[name]; ok {
			killPID(pid)
		}
	}
	if s.Socket != "" {
		for _, pid := range shimPIDs(s.Socket) {
			killPID(pid)
		}
	}
	if left := unmountAll(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %v", left))
	}
	errs = append(errs, removeNetns(s.Netns)...)
	if err := removeBridge(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, removeKubeChains()...)
	removeKubepodsCgroups()
	for _, sub := range []string{"containerd", "kubelet", "cni"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// childPIDs maps each of names to the PID of this process's child with that
// command name (/proc/<pid>/stat: "pid (comm) state ppid ...").
func childPIDs(names ...string) map[string]int {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]int{}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		var pid, ppid int
		var comm, st string
		if _, err := fmt.Sscanf(string(b), "%d %s %s %d", &pid, &comm, &st, &ppid); err != nil {
			continue
		}
		comm = strings.Trim(comm, "()")
		if ppid == self && want[comm] {
			out[comm] = pid
		}
	}
	return out
}

// killPID stops a process by PID: SIGTERM, then SIGKILL after 10 s. A PID
// whose process is gone is fine.
func killPID(pid int) {
	if pid <= 0 || syscall.Kill(pid, syscall.SIGTERM) != nil {
		return
	}
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
