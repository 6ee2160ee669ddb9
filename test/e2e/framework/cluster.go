package framework

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// DefaultControllers are the kube-controller-manager controllers the tests
// rely on: Deployments create ReplicaSets create pods, namespaces can be
// deleted, and owned objects are garbage collected.
var DefaultControllers = []string{"deployment", "replicaset", "namespace", "garbagecollector", "serviceaccount-token"}

// Options configure Start.
type Options struct {
	// AssetsDir holds etcd, kube-apiserver and kube-controller-manager;
	// AssetsDir() when empty.
	AssetsDir string
	// Dir receives the admin kubeconfig and the controller-manager's log; a
	// new temporary directory (removed by Stop) when empty.
	Dir string
	// Controllers passed to kube-controller-manager; DefaultControllers when
	// empty.
	Controllers []string
}

// Cluster is a running control plane.
type Cluster struct {
	// Config is an admin (system:masters) client config.
	Config *rest.Config
	// Kubeconfig is the path of the admin kubeconfig file.
	Kubeconfig string
	// Dir holds the kubeconfig and logs.
	Dir string
	// ControllerManager is the kube-controller-manager process.
	ControllerManager *Process

	env        *envtest.Environment
	removeDir  bool
	stopOnce   bool
	stopErrors []error
}

// Start launches etcd and kube-apiserver through envtest, writes an admin
// kubeconfig, then starts kube-controller-manager against it and waits until
// it is healthy enough to have started its controllers.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.AssetsDir == "" {
		if opts.AssetsDir, err = AssetsDir(); err != nil {
			return nil, err
		}
	}
	c = &Cluster{Dir: opts.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "oauth-injector-cluster-"); err != nil {
			return nil, fmt.Errorf("cluster dir: %w", err)
		}
		c.removeDir = true
	} else if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()

	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    opts.AssetsDir,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest disables the ServiceAccount admission plugin; keep it that way
	// so pods need no token Secret (there is no kubelet to mount it anyway).
	if _, err := c.env.Start(); err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", opts.AssetsDir, err)
	}
	admin, err := c.env.AddUser(envtest.User{Name: "oauth-injector-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("creating admin user: %w", err)
	}
	c.Config = admin.Config()
	kc, err := admin.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("rendering admin kubeconfig: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	if err := c.startControllerManager(ctx, opts); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startControllerManager(ctx context.Context, opts Options) error {
	controllers := opts.Controllers
	if len(controllers) == 0 {
		controllers = DefaultControllers
	}
	api := c.env.ControlPlane.GetAPIServer()
	// kube-controller-manager's /healthz on its secure port is how we know
	// it is up, so it gets a free port instead of being disabled with 0.
	port, err := FreePort()
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		// The authn/authz kubeconfigs let /healthz be checked without
		// anonymous access being configured on the API server.
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--authorization-always-allow-paths=/healthz,/readyz,/livez",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(c.Dir, "kcm-certs"),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--controllers=" + strings.Join(controllers, ","),
		// Signs service-account tokens with the key envtest gave the API
		// server, so tokens the token controller mints are accepted.
		"--service-account-private-key-file=" + filepath.Join(api.CertDir, "sa-signer.key"),
		// Pods created by ReplicaSets should appear immediately, not after
		// the default sync backoff.
		"--concurrent-replicaset-syncs=5",
		"--concurrent-deployment-syncs=5",
		"-v=1",
	}
	p, err := StartProcess("kube-controller-manager", filepath.Join(opts.AssetsDir, "kube-controller-manager"), args, nil, filepath.Join(c.Dir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	c.ControllerManager = p
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureLocalhostTLS()}, Timeout: 2 * time.Second}
	healthURL := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	err = Eventually(ctx, 90*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		if exited, werr := p.Exited(); exited {
			return false, fmt.Errorf("kube-controller-manager exited: %v (log: %s)", werr, p.LogPath)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: HTTP %d", healthURL, resp.StatusCode)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for kube-controller-manager: %w", err)
	}
	return nil
}

// Stop stops the controller-manager, the API server and etcd, and removes
// the temporary directory it created. Safe to call twice.
func (c *Cluster) Stop() error {
	if c.stopOnce {
		return errors.Join(c.stopErrors...)
	}
	c.stopOnce = true
	if c.ControllerManager != nil {
		if err := c.ControllerManager.Stop(10 * time.Second); err != nil {
			c.stopErrors = append(c.stopErrors, fmt.Errorf("kube-controller-manager: %w", err))
		}
	}
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			c.stopErrors = append(c.stopErrors, fmt.Errorf("envtest: %w", err))
		}
	}
	if c.removeDir {
		if err := os.RemoveAll(c.Dir); err != nil {
			c.stopErrors = append(c.stopErrors, err)
		}
	}
	return errors.Join(c.stopErrors...)
}
