package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/oauth-injector/oauth-injector/internal/certs"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// TestManagerSelfCerts runs the whole manager as cmd/webhook builds it, in
// self-certificate mode: the rotator must fill the Secret, patch the CA into
// the MutatingWebhookConfiguration, the process must copy the pair into the
// cert dir, and the webhook server must then serve /mutate-v1-pod with a
// certificate for localhost signed by that CA, with readyz passing.
func TestManagerSelfCerts(t *testing.T) {
	cfg := requireEnv(t)
	c := directClient(t, cfg)
	ns := testNamespace(t, c)
	ctx := context.Background()

	whName := "oauth-injector-" + ns
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: whName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.oauth.injector.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://localhost:1/mutate-v1-pod")},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			// Matches no namespace: other tests share this API server.
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"never": "match"}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
	create(t, c, mwc)
	t.Cleanup(func() { _ = c.Delete(context.Background(), mwc) })

	port, healthPort := testutil.FreePort(t), testutil.FreePort(t)
	certDir := filepath.Join(t.TempDir(), "certs")
	mctx, cancel := context.WithCancel(ctx)
	mgr, err := NewManager(mctx, cfg, ManagerOptions{
		WebhookPort: port,
		Certs: certs.Options{
			Mode: certs.ModeSelf, CertDir: certDir, Namespace: ns, SecretName: "webhook-cert",
			WebhookConfigName: whName, DNSName: "localhost",
		},
		LeaderElect:            true,
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "127.0.0.1:" + strconv.Itoa(healthPort),
		Reconciler:             Options{ResyncPeriod: testResync},
		NewWebhookHandler: func(client.Reader) admission.Handler {
			return admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
				return admission.Allowed("test handler")
			})
		},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort)
	eventually(t, "readyz passes", func() error {
		resp, err := http.Get(readyz)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	})

	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "webhook-cert"}, &sec); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{certs.CAFile, certs.CertFile, certs.KeyFile, "ca.key"} {
		if len(sec.Data[k]) == 0 {
			t.Fatalf("secret lacks %s", k)
		}
	}
	// caBundle patched with the Secret's CA.
	eventually(t, "caBundle patched", func() error {
		var got admissionregistrationv1.MutatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: whName}, &got); err != nil {
			return err
		}
		if !bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, sec.Data[certs.CAFile]) {
			return fmt.Errorf("caBundle is %d bytes, not the Secret's ca.crt", len(got.Webhooks[0].ClientConfig.CABundle))
		}
		return nil
	})
	// The pair on disk is the Secret's.
	for _, k := range []string{certs.CertFile, certs.KeyFile} {
		got, err := os.ReadFile(filepath.Join(certDir, k))
		if err != nil || !bytes.Equal(got, sec.Data[k]) {
			t.Errorf("%s on disk differs from the Secret (err %v)", k, err)
		}
	}
	// The webhook answers over TLS verified against the CA, for localhost.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(sec.Data[certs.CAFile]) {
		t.Fatal("ca.crt holds no certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "42",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns,
			Operation: admissionv1.Create,
			Object:    runtimeRaw(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}),
		},
	}
	body, _ := json.Marshal(review)
	resp, err := hc.Post(fmt.Sprintf("https://localhost:%d/mutate-v1-pod", port), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("calling the webhook with the CA from the Secret: %v", err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || !out.Response.Allowed || out.Response.UID != "42" {
		t.Fatalf("response = %+v, want allowed for uid 42", out.Response)
	}

	// This replica holds the leader Lease.
	eventually(t, "leader lease", func() error {
		var l coordinationv1.Lease
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: LeaderElectionID}, &l)
	})
}

func runtimeRaw(t *testing.T, o any) runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}
