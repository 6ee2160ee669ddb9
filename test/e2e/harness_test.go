package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/internal/controller"
	"github.com/oauth-injector/oauth-injector/test/e2e/framework"
)

// Fixed names of the chart release the suite installs.
const (
	releaseName      = "oi"
	releaseNamespace = "oauth-injector-system"
	webhookConfig    = releaseName + "-oauth-injector"
	serviceAccount   = releaseName + "-oauth-injector"
	sidecarImage     = "ghcr.io/oauth-injector/injector:e2e"
)

// suite is the shared state of the control-plane tests, built once.
type suite struct {
	cluster *framework.Cluster
	client  client.Client
	kube    *kubernetes.Clientset
	helm    *framework.Helm
	dir     string
	// injectorBin is the built cmd/injector binary.
	injectorBin string
	webhookBin  string
	// webhookKubeconfig impersonates the chart's ServiceAccount, so the
	// webhook runs with exactly the chart's RBAC.
	webhookKubeconfig string
	webhookPort       int
	metricsPort       int
	healthPort        int
	webhook           *framework.Process
	failurePolicy     string
}

var (
	suiteOnce sync.Once
	theSuite  *suite
	suiteErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theSuite != nil {
		theSuite.teardown()
	}
	os.Exit(code)
}

// needSuite returns the running suite, starting it on first use. It skips
// only when neither KUBEBUILDER_ASSETS nor CI is set.
func needSuite(t *testing.T) *suite {
	t.Helper()
	if _, err := framework.AssetsDir(); errors.Is(err, framework.ErrNoAssets) {
		t.Skipf("skipping control-plane test: %v", err)
	}
	suiteOnce.Do(func() {
		theSuite, suiteErr = startSuite()
	})
	if suiteErr != nil {
		t.Fatalf("starting the e2e suite: %v", suiteErr)
	}
	return theSuite
}

func startSuite() (s *suite, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	helmBin, err := framework.HelmBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "oauth-injector-e2e-")
	if err != nil {
		return nil, err
	}
	s = &suite{dir: dir}
	defer func() {
		if err != nil {
			s.teardown()
			s = nil
		}
	}()
	// Build while the control plane starts: both are slow on a busy machine.
	buildErr := make(chan error, 1)
	go func() { buildErr <- s.build(ctx) }()

	if s.cluster, err = framework.Start(ctx, framework.Options{Dir: filepath.Join(dir, "cluster")}); err != nil {
		return s, err
	}
	// client-go's default 5 QPS would turn every measured pod create into a
	// 200ms wait on the client's own rate limiter.
	cfg := rest.CopyConfig(s.cluster.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	if s.client, err = client.New(cfg, client.Options{Scheme: controller.NewScheme()}); err != nil {
		return s, fmt.Errorf("client: %w", err)
	}
	if s.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return s, fmt.Errorf("clientset: %w", err)
	}
	s.helm = &framework.Helm{Bin: helmBin, Kubeconfig: s.cluster.Kubeconfig, HomeDir: filepath.Join(dir, "helm")}
	if err := <-buildErr; err != nil {
		return s, err
	}
	for _, p := range []*int{&s.webhookPort, &s.metricsPort, &s.healthPort} {
		if *p, err = framework.FreePort(); err != nil {
			return s, err
		}
	}
	if err := s.installChart(ctx, "Fail"); err != nil {
		return s, err
	}
	if s.webhookKubeconfig, err = impersonatingKubeconfig(s.cluster.Kubeconfig, dir,
		"system:serviceaccount:"+releaseNamespace+":"+serviceAccount); err != nil {
		return s, err
	}
	if err := s.startWebhook(ctx); err != nil {
		return s, err
	}
	return s, nil
}

func (s *suite) build(ctx context.Context) error {
	s.webhookBin = filepath.Join(s.dir, "bin", "webhook")
	s.injectorBin = filepath.Join(s.dir, "bin", "injector")
	for bin, pkg := range map[string]string{s.webhookBin: "./cmd/webhook", s.injectorBin: "./cmd/injector"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return nil
}

// installChart installs or upgrades the release in dev mode: the API server
// calls the local webhook process through the chart's devURL.
func (s *suite) installChart(ctx context.Context, failurePolicy string) error {
	out, err := s.helm.UpgradeInstall(ctx, releaseName, releaseNamespace, chartDir, map[string]string{
		"webhook.devURL": fmt.Sprintf("https://localhost:%d/mutate-v1-pod", s.webhookPort),
		"replicas":       "0",
		"failurePolicy":  failurePolicy,
		"timeoutSeconds": "5",
	})
	if err != nil {
		return err
	}
	s.failurePolicy = failurePolicy
	_ = out
	return nil
}

// impersonatingKubeconfig copies the admin kubeconfig with every user set to
// impersonate user (a ServiceAccount): the API server then authorizes the
// webhook's requests exactly as it would the chart's ServiceAccount.
func impersonatingKubeconfig(adminPath, dir, user string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(adminPath)
	if err != nil {
		return "", fmt.Errorf("reading kubeconfig: %w", err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = user
	}
	p := filepath.Join(dir, "webhook.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		return "", fmt.Errorf("writing impersonating kubeconfig: %w", err)
	}
	return p, nil
}

func (s *suite) startWebhook(ctx context.Context) error {
	args := []string{
		"--kubeconfig=" + s.webhookKubeconfig,
		fmt.Sprintf("--webhook-port=%d", s.webhookPort),
		"--cert-dir=" + filepath.Join(s.dir, "webhook-certs"),
		"--cert-mode=self",
		"--cert-secret-name=" + webhookConfig + "-certs",
		"--webhook-config-name=" + webhookConfig,
		"--service-dns-name=localhost",
		"--namespace=" + releaseNamespace,
		"--leader-elect=true",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", s.metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", s.healthPort),
		"--sidecar-image=" + sidecarImage,
		// Short, so "Secret created later" is noticed within the test's
		// deadline; production uses the chart's 1m.
		"--resync-period=2s",
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "webhook-certs"), 0o700); err != nil {
		return err
	}
	p, err := framework.StartProcess("webhook", s.webhookBin, args, nil, filepath.Join(s.dir, "webhook.log"))
	if err != nil {
		return err
	}
	s.webhook = p
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", s.healthPort)
	err = framework.Eventually(ctx, 2*time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		if exited, werr := p.Exited(); exited {
			return false, fmt.Errorf("webhook exited: %v\n%s", werr, tail(p.LogPath, 40))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: HTTP %d", readyz, resp.StatusCode)
		}
		// The webhook is only reachable once the API server trusts its
		// certificate: the caBundle must be the CA that signed it.
		var mwc admissionv1.MutatingWebhookConfiguration
		if err := s.client.Get(ctx, client.ObjectKey{Name: webhookConfig}, &mwc); err != nil {
			return false, err
		}
		if len(mwc.Webhooks) == 0 || len(mwc.Webhooks[0].ClientConfig.CABundle) == 0 {
			return false, errors.New("caBundle not injected yet")
		}
		return caSignsServingCert(mwc.Webhooks[0].ClientConfig.CABundle, filepath.Join(s.dir, "webhook-certs", "tls.crt"))
	})
	if err != nil {
		return fmt.Errorf("waiting for the webhook: %w\n%s", err, tail(p.LogPath, 40))
	}
	return nil
}

func caSignsServingCert(caPEM []byte, certPath string) (bool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return false, errors.New("caBundle holds no PEM certificate")
	}
	raw, err := os.ReadFile(certPath)
	if err != nil {
		return false, err
	}
	blk, _ := pem.Decode(raw)
	if blk == nil {
		return false, errors.New("serving certificate is not PEM yet")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return false, err
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		return false, fmt.Errorf("serving certificate not signed by caBundle yet: %w", err)
	}
	return true, nil
}

func (s *suite) stopWebhook(t *testing.T) {
	t.Helper()
	if s.webhook == nil {
		return
	}
	if err := s.webhook.Stop(20 * time.Second); err != nil {
		t.Errorf("stopping webhook: %v", err)
	}
	s.webhook = nil
}

func (s *suite) teardown() {
	if s.webhook != nil {
		_ = s.webhook.Stop(10 * time.Second)
	}
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping cluster:", err)
		}
	}
	if os.Getenv("E2E_KEEP") == "" {
		_ = os.RemoveAll(s.dir)
	} else {
		fmt.Fprintln(os.Stderr, "e2e: kept", s.dir)
	}
}

// webhookLog returns the end of the webhook's log for failure messages.
func (s *suite) webhookLog() string {
	return tail(filepath.Join(s.dir, "webhook.log"), 30)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// namespace creates a fresh namespace for one test and deletes it after.
func (s *suite) namespace(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("e2e-%s-%04x", prefix, rand.IntN(1<<16))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := s.client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.client.Delete(context.Background(), ns); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// eventually fails the test when cond is not met within timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := framework.Eventually(context.Background(), timeout, 200*time.Millisecond, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
