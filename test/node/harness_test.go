package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/hack/localnode"
	"github.com/oauth-injector/oauth-injector/test/e2e/framework"
)

const (
	repoRoot    = "../.."
	registry    = "localhost:5000/oauth-injector"
	imageTag    = "nodetest"
	releaseNS   = "oauth-injector-system"
	releaseName = "oi"
	// fullName is the chart's <release>-oauth-injector prefix of every object.
	fullName     = releaseName + "-oauth-injector"
	webhookLabel = "app.kubernetes.io/name=oauth-injector"
)

func image(name string) string { return registry + "/" + name + ":" + imageTag }

type suite struct {
	node   *localnode.Node
	cs     *kubernetes.Clientset
	client client.Client
	helm   *framework.Helm
	tmp    string
	// partner is the TAAP simulator the bindings call.
	partner *partner
}

var (
	theSuite   *suite
	skipReason string
	setupErr   error
)

func TestMain(m *testing.M) {
	if err := localnode.Preflight(); err != nil {
		skipReason = err.Error()
		fmt.Printf("node tier skipped: %s\n", skipReason)
		os.Exit(m.Run())
	}
	if _, err := localnode.AssetsDir(); errors.Is(err, localnode.ErrNoAssets) {
		skipReason = err.Error()
		fmt.Printf("node tier skipped: %s\n", skipReason)
		os.Exit(m.Run())
	}
	start := time.Now()
	theSuite, setupErr = startSuite()
	if setupErr == nil {
		fmt.Printf("node tier: node Ready, images imported, chart installed, partner up in %s\n", time.Since(start).Round(time.Millisecond))
	}
	code := m.Run()
	// go test prints a passing package's output only with -v; the figures
	// go to stdout here so that `make test` logs carry them either way.
	for _, f := range figures {
		fmt.Println("node tier figure:", f)
	}
	if theSuite != nil {
		if err := theSuite.teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "node tier teardown:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

func needSuite(t *testing.T) *suite {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if setupErr != nil {
		t.Fatalf("node tier setup: %v", setupErr)
	}
	return theSuite
}

func startSuite() (s *suite, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// A fixed directory, so that a run killed before its teardown is
	// cleaned up by the next one (localnode.Start tears down what the state
	// file in it names).
	s = &suite{tmp: "/tmp/oauth-injector-node-test"}
	if err := localnode.Teardown(filepath.Join(s.tmp, "n")); err != nil {
		return nil, fmt.Errorf("cleaning up an earlier run: %w", err)
	}
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.tmp, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.teardown()
		}
	}()
	images := filepath.Join(s.tmp, "images")
	if err := buildImages(ctx, filepath.Join(s.tmp, "bin"), images); err != nil {
		return s, err
	}
	archives, _ := filepath.Glob(filepath.Join(images, "*.tar"))
	cni, err := cniBinDir()
	if err != nil {
		return s, err
	}
	if s.node, err = localnode.Start(ctx, localnode.NodeOptions{Dir: filepath.Join(s.tmp, "n"), CNIBinDir: cni, Images: archives}); err != nil {
		return s, err
	}
	if s.cs, err = kubernetes.NewForConfig(s.node.Config); err != nil {
		return s, err
	}
	if s.client, err = client.New(s.node.Config, client.Options{}); err != nil {
		return s, err
	}
	if err := v1alpha1.AddToScheme(s.client.Scheme()); err != nil {
		return s, err
	}
	helmBin, err := localnode.HelmBinary()
	if err != nil {
		return s, err
	}
	s.helm = &framework.Helm{Bin: helmBin, Kubeconfig: s.node.Kubeconfig, HomeDir: filepath.Join(s.tmp, "helm")}
	if err := s.installChart(ctx); err != nil {
		return s, err
	}
	s.partner, err = startPartner(ctx, s)
	return s, err
}

// buildImages runs what `make images` runs, into a directory of the test's.
func buildImages(ctx context.Context, bin, out string) error {
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", repoRoot, "images", "BIN="+bin, "VERSION="+imageTag, "REGISTRY="+registry)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make images: %w\n%s", err, buf.String())
	}
	// make images writes into BIN/images.
	return os.Rename(filepath.Join(bin, "images"), out)
}

// cniBinDir is CNI_BIN_DIR (exported by the Makefile) or what
// hack/tools.sh env says.
func cniBinDir() (string, error) {
	if d := os.Getenv("CNI_BIN_DIR"); d != "" {
		return d, nil
	}
	out, err := exec.Command(filepath.Join(repoRoot, "hack", "tools.sh"), "env").Output()
	if err != nil {
		return "", fmt.Errorf("hack/tools.sh env: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "CNI_BIN_DIR="); ok {
			return v, nil
		}
	}
	return "", errors.New("hack/tools.sh env printed no CNI_BIN_DIR")
}

// installChart installs the chart as a user would, with the locally built
// images (pullPolicy Never: nothing may come from a registry) and the API
// server's bridge address for the webhook's in-cluster client.
func (s *suite) installChart(ctx context.Context) error {
	out, err := s.helm.Run(ctx, "install", releaseName, filepath.Join(repoRoot, "charts", "oauth-injector"),
		"--namespace", releaseNS, "--create-namespace", "--wait", "--timeout", "5m",
		"--set", "image.registry="+registry, "--set", "image.tag="+imageTag,
		"--set", "webhook.image.pullPolicy=Never", "--set", "sidecar.image.pullPolicy=Never",
		"--set", "webhook.extraEnv[0].name=KUBERNETES_SERVICE_HOST", "--set", "webhook.extraEnv[0].value="+s.node.APIServerHost,
		"--set", "webhook.extraEnv[1].name=KUBERNETES_SERVICE_PORT", "--set-string", "webhook.extraEnv[1].value="+s.node.APIServerPort,
	)
	if err != nil {
		return fmt.Errorf("helm install: %w\n%s\n%s", err, out, s.describeNamespace(releaseNS))
	}
	// --wait covers the Deployment; admission also needs the caBundle the
	// webhook patches in once its certificates exist.
	err = localnode.Eventually(ctx, 2*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		mwc, err := s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, fullName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, w := range mwc.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return false, fmt.Errorf("webhook %s has no caBundle yet", w.Name)
			}
		}
		d, err := s.cs.AppsV1().Deployments(releaseNS).Get(ctx, fullName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 2, fmt.Errorf("webhook Deployment ready %d/2", d.Status.ReadyReplicas)
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, s.describeNamespace(releaseNS))
	}
	return nil
}

func (s *suite) teardown() error {
	var errs []error
	if s.node != nil {
		errs = append(errs, s.node.Stop())
	}
	if os.Getenv("NODE_KEEP") == "" && s.tmp != "" {
		errs = append(errs, os.RemoveAll(s.tmp))
	} else if s.tmp != "" {
		fmt.Fprintln(os.Stderr, "node tier: kept", s.tmp)
	}
	return errors.Join(errs...)
}

// describeNamespace summarises pods and their container states, for
// failure messages.
func (s *suite) describeNamespace(ns string) string {
	if s.cs == nil {
		return ""
	}
	pods, err := s.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s/%s phase=%s\n", ns, p.Name, p.Status.Phase)
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			fmt.Fprintf(&b, "  %s\n", describeStatus(cs))
		}
	}
	return b.String()
}

func describeStatus(cs corev1.ContainerStatus) string {
	st := "unknown"
	switch {
	case cs.State.Running != nil:
		st = "running since " + cs.State.Running.StartedAt.UTC().Format(time.RFC3339)
	case cs.State.Waiting != nil:
		st = "waiting: " + cs.State.Waiting.Reason + " " + cs.State.Waiting.Message
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		st = fmt.Sprintf("terminated: exit %d %s at %s", t.ExitCode, t.Reason, t.FinishedAt.UTC().Format(time.RFC3339))
	}
	started := cs.Started != nil && *cs.Started
	return fmt.Sprintf("%-15s ready=%-5v started=%-5v restarts=%d %s", cs.Name, cs.Ready, started, cs.RestartCount, st)
}

func (s *suite) namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	ns, err := s.cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitDefaultServiceAccount(context.Background(), ns.Name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("namespace %s:\n%s", ns.Name, s.describeNamespace(ns.Name))
		}
		_ = s.cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := localnode.Eventually(context.Background(), timeout, 250*time.Millisecond, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

func nodeName() string { return localnode.NodeName }

func localnodeEventually(ctx context.Context, timeout time.Duration, cond func(ctx context.Context) (bool, error)) error {
	return localnode.Eventually(ctx, timeout, 500*time.Millisecond, cond)
}

// waitDefaultServiceAccount waits for the serviceaccount controller: with
// the ServiceAccount admission plugin on, as on any real cluster, a pod in
// a namespace without its default ServiceAccount is refused.
func (s *suite) waitDefaultServiceAccount(ctx context.Context, ns string) error {
	return localnodeEventually(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := s.cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
}
