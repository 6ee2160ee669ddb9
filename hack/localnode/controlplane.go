package localnode

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

// Options configure StartControlPlane.
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
	// Address is where kube-apiserver listens and what its serving
	// certificate names; 127.0.0.1 when empty. The node listens on the
	// bridge address so that pods (the webhook's) can reach it.
	Address string
	// APIServerArgs are set on kube-apiserver on top of envtest's defaults.
	APIServerArgs map[string][]string
	// ServiceAccountAdmission turns on the ServiceAccount admission plugin
	// envtest disables, so pods get their token volume as on a real cluster.
	ServiceAccountAdmission bool
}

// Cluster is a running control plane.
type Cluster struct {
	// CAFile holds the CA of the API server's serving certificate, which
	// kube-controller-manager publishes to pods as kube-root-ca.crt.
	CAFile string
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

// StartControlPlane launches etcd and kube-apiserver through envtest, writes
// an admin kubeconfig, then starts kube-controller-manager against it and
// waits until it is healthy enough to have started its controllers.
func StartControlPlane(ctx context.Context, opts Options) (c *Cluster, err error) {
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
	api := &envtest.APIServer{}
	if opts.Address != "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		api.SecureServing.ListenAddr = envtest.ListenAddr{Address: opts.Address, Port: fmt.Sprint(port)}
	}
	for k, v := range opts.APIServerArgs {
		api.Configure().Set(k, v...)
	}
	// envtest disables the ServiceAccount admission plugin, which suits a
	// control plane without a kubelet: pods need no token.
	if opts.ServiceAccountAdmission {
		api.Configure().Disable("disable-admission-plugins")
	}
	c.env.ControlPlane.APIServer = api
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
	c.CAFile = filepath.Join(c.Dir, "apiserver-ca.crt")
	if err := os.WriteFile(c.CAFile, c.env.ControlPlane.APIServer.SecureServing.CA, 0o644); err != nil {
		return nil, fmt.Errorf("writing the API server CA: %w", err)
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
		"--root-ca-file=" + c.CAFile,
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
