package controller

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The real-API-server tests share one envtest control plane (etcd +
// kube-apiserver built by hack/tools.sh). They skip only when
// KUBEBUILDER_ASSETS is unset, the default tools directory does not exist,
// and CI is unset; under CI a missing control plane fails them.

var (
	testCfg *rest.Config
	envErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir := filepath.Join(home, ".cache/oauth-injector/tools/k8s-1.37.2-etcd-v3.6.16-v2")
			if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
				_ = os.Setenv("KUBEBUILDER_ASSETS", dir)
			}
		}
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return m.Run()
	}
	logOut := io.Writer(io.Discard)
	if testing.Verbose() {
		logOut = os.Stderr
	}
	logf.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logOut)))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd")},
		ErrorIfCRDPathMissing: true,
	}
	testCfg, envErr = env.Start()
	if envErr != nil {
		envErr = fmt.Errorf("starting envtest from %s: %w", os.Getenv("KUBEBUILDER_ASSETS"), envErr)
		testCfg = nil
	}
	code := m.Run()
	if testCfg != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}
	return code
}

// requireEnv returns the API server's config or skips/fails the test.
func requireEnv(t *testing.T) *rest.Config {
	t.Helper()
	switch {
	case testCfg != nil:
		return testCfg
	case envErr != nil:
		t.Fatal(envErr)
	case os.Getenv("CI") != "":
		t.Fatal("KUBEBUILDER_ASSETS is unset and CI is set: the control-plane binaries are required (run hack/tools.sh)")
	default:
		t.Skip("KUBEBUILDER_ASSETS unset: no kube-apiserver to test against")
	}
	return nil
}

// testNamespace creates a namespace with the default ServiceAccount (no
// controller-manager runs here to create it, and pod admission needs it).
func testNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrl-test-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "default"}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func directClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startReconciler runs a manager with only the binding controller, its
// cache limited to ns so tests do not see each other's objects.
func startReconciler(t *testing.T, cfg *rest.Config, ns string, o Options) {
	t.Helper()
	co := CacheOptions()
	co.DefaultNamespaces = map[string]cache.Config{ns: {}}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 NewScheme(),
		Cache:                  co,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Each test starts its own manager with the same controller name.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := SetupWithManager(ctx, mgr, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// eventually polls f until it returns nil, failing the test with f's last
// error once the deadline passes. The deadline bounds a hang; it is not a
// latency assertion.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consistently checks that f keeps returning nil over a few polls.
func consistently(t *testing.T, what string, polls int, f func() error) {
	t.Helper()
	for i := 0; i < polls; i++ {
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// listEvents returns the events.k8s.io Events about object name of kind.
func listEvents(ctx context.Context, c client.Client, ns, kind, name, reason string) ([]eventsv1.Event, error) {
	var l eventsv1.EventList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []eventsv1.Event
	for _, e := range l.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out, nil
}

var errNotYet = errors.New("not yet")
