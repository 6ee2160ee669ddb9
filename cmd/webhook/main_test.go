package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/controller"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--cert-mode=bogus", "--sidecar-image=x"}, "--cert-mode"},
		{[]string{"--cert-mode=self"}, "--sidecar-image"},
		{[]string{"--sidecar-image=x", "--sidecar-memory-limit=lots"}, "--sidecar-memory-limit"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--sidecar-image=x", "--secret-access=all"}, `--secret-access: "all" is not one of cluster, namespaces`},
		{[]string{"--sidecar-image=x", "--secret-namespaces=shop"}, "--secret-namespaces: only valid with --secret-access=namespaces"},
		{[]string{"--sidecar-image=x", "--secret-access=namespaces", "--secret-namespaces=shop,,billing"}, `--secret-namespaces: "" is not a valid namespace name`},
		{[]string{"--sidecar-image=x", "--sidecar-https-proxy=http://user:pw@proxy.corp:3128"}, "--sidecar-https-proxy: must not embed credentials"},
		{[]string{"--sidecar-image=x", "--sidecar-http-proxy=socks5://proxy.corp:1080"}, `--sidecar-http-proxy: must be http://host[:port], got scheme "socks5"`},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
	if err := run(context.Background(), []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestResources(t *testing.T) {
	r, err := resources("", "", "")
	if err != nil || r.Requests != nil || r.Limits != nil {
		t.Errorf("no flags: %+v, %v; want empty (webhook defaults)", r, err)
	}
	r, err = resources("20m", "", "128Mi")
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests.Cpu().String() != "20m" || r.Limits.Memory().String() != "128Mi" || !r.Requests.Memory().IsZero() {
		t.Errorf("resources = %+v", r)
	}
}

// TestRunDevMode runs the binary's run() as the e2e tests and `make demo`
// do (a local process, self certificates for localhost) against a real API
// server, and sends it an AdmissionReview for an annotated pod: the answer
// must be a patch that adds the sidecar.
func TestRunDevMode(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir := filepath.Join(home, ".cache/oauth-injector/tools/k8s-1.37.2-etcd-v3.6.16-v2")
			if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
				assets = dir
			}
		}
	}
	switch {
	case assets == "" && os.Getenv("CI") != "":
		t.Fatal("KUBEBUILDER_ASSETS is unset and CI is set: the control-plane binaries are required (run hack/tools.sh)")
	case assets == "":
		t.Skip("KUBEBUILDER_ASSETS unset: no kube-apiserver to test against")
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "webhook", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := client.New(cfg, client.Options{Scheme: controller.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustCreate := func(o client.Object) {
		t.Helper()
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "oi-system"}})
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}})
	port, healthPort := testutil.FreePort(t), testutil.FreePort(t)
	mustCreate(&admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "rel-oauth-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.oauth.injector.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(fmt.Sprintf("https://localhost:%d/mutate-v1-pod", port))},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"never": "match"}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	})
	mustCreate(&v1alpha1.OAuthClientBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "partner"},
		Spec: v1alpha1.OAuthClientBindingSpec{
			ListenPort:    15001,
			Upstream:      v1alpha1.Upstream{URL: "https://api.partner.example"},
			TokenEndpoint: &v1alpha1.TokenEndpoint{URL: "https://auth.partner.example/token"},
			Grant:         v1alpha1.Grant{Type: "ClientCredentials"},
			ClientAuth:    &v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretBasic, SecretRef: &v1alpha1.ClientSecretRef{Name: "creds"}},
		},
	})

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(rctx, []string{
			"--kubeconfig=" + kubeconfig,
			fmt.Sprintf("--webhook-port=%d", port),
			"--cert-dir=" + filepath.Join(dir, "certs"),
			"--cert-mode=self",
			"--cert-secret-name=rel-oauth-injector-certs",
			"--webhook-config-name=rel-oauth-injector",
			"--service-dns-name=localhost",
			"--namespace=oi-system",
			"--leader-elect=true",
			"--metrics-bind-address=0",
			fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", healthPort),
			"--sidecar-image=ghcr.io/oauth-injector/injector:test",
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: "oi-system", Name: "rel-oauth-injector-certs"}, &sec); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(sec.Data["ca.crt"]) {
		t.Fatal("no CA in the cert secret")
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web", Annotations: map[string]string{v1alpha1.AnnotationBindings: "partner"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	raw, _ := json.Marshal(pod)
	review, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "7", Namespace: "app", Operation: admissionv1.Create,
			Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Object:   runtime.RawExtension{Raw: raw},
		},
	})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := hc.Post(fmt.Sprintf("https://localhost:%d/mutate-v1-pod", port), "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || !out.Response.Allowed {
		t.Fatalf("response = %+v, want allowed with a patch", out.Response)
	}
	if !strings.Contains(string(out.Response.Patch), v1alpha1.SidecarContainerName) ||
		!strings.Contains(string(out.Response.Patch), "ghcr.io/oauth-injector/injector:test") {
		t.Errorf("patch does not add the sidecar with --sidecar-image: %s", out.Response.Patch)
	}
}
