package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

const testResync = 300 * time.Millisecond

// taapBinding is the T-Mobile-style binding: client secret basic plus a
// TAAP PoP key, which references two Secrets.
func taapBinding(ns, name string) *v1alpha1.OAuthClientBinding {
	return &v1alpha1.OAuthClientBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.OAuthClientBindingSpec{
			ListenPort:    15001,
			Upstream:      v1alpha1.Upstream{URL: "https://api.partner.example"},
			TokenEndpoint: &v1alpha1.TokenEndpoint{URL: "https://auth.partner.example/oauth2/v6/tokens"},
			Grant:         v1alpha1.Grant{Type: "ClientCredentials"},
			ClientAuth: &v1alpha1.ClientAuth{
				Method:    v1alpha1.ClientSecretBasic,
				SecretRef: &v1alpha1.ClientSecretRef{Name: "creds"},
			},
			PrivateKey:        &v1alpha1.PrivateKey{SecretRef: v1alpha1.PrivateKeySecretRef{Name: "pk"}},
			ProofOfPossession: &v1alpha1.ProofOfPossession{Type: v1alpha1.PoPTAAP},
		},
	}
}

func secret(ns, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func credsSecret(ns string) *corev1.Secret {
	return secret(ns, "creds", map[string][]byte{"client_id": []byte("id"), "client_secret": []byte("secret")})
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// waitReady waits until the binding's Ready condition has the reason and
// matches the current generation, and returns the binding.
func waitReady(t *testing.T, c client.Client, ns, name, reason string) *v1alpha1.OAuthClientBinding {
	t.Helper()
	var b v1alpha1.OAuthClientBinding
	eventually(t, fmt.Sprintf("binding %s Ready reason %s", name, reason), func() error {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil {
			return fmt.Errorf("no Ready condition yet")
		}
		if cond.Reason != reason || b.Status.ObservedGeneration != b.Generation {
			return fmt.Errorf("Ready=%s reason=%s message=%q observedGeneration=%d generation=%d",
				cond.Status, cond.Reason, cond.Message, b.Status.ObservedGeneration, b.Generation)
		}
		return nil
	})
	return &b
}

func readyCondition(b *v1alpha1.OAuthClientBinding) *metav1.Condition {
	return meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady)
}

func TestBindingValid(t *testing.T) {
	cfg := requireEnv(t)
	c := directClient(t, cfg)
	ns := testNamespace(t, c)
	startReconciler(t, cfg, ns, Options{ResyncPeriod: testResync})

	create(t, c, credsSecret(ns), secret(ns, "pk", map[string][]byte{"private.pem": pkcs8PEM(t, newKey(t))}), taapBinding(ns, "tmobile"))
	b := waitReady(t, c, ns, "tmobile", v1alpha1.ReasonValid)
	cond := readyCondition(b)
	if cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != b.Generation {
		t.Errorf("Ready = %+v, want True at generation %d", cond, b.Generation)
	}
	if b.Status.ObservedGeneration != 1 {
		t.Errorf("observedGeneration = %d, want 1", b.Status.ObservedGeneration)
	}
	eventually(t, "Normal Ready event", func() error {
		evs, err := listEvents(context.Background(), c, ns, "OAuthClientBinding", "tmobile", EventReasonReady)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].Type != corev1.EventTypeNormal {
			return fmt.Errorf("events = %+v, want one Normal", evs)
		}
		return nil
	})

	// A spec change moves observedGeneration along.
	b.Spec.ListenPort = 15002
	if err := c.Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b = waitReady(t, c, ns, "tmobile", v1alpha1.ReasonValid)
	if b.Status.ObservedGeneration != 2 {
		t.Errorf("observedGeneration after update = %d, want 2", b.Status.ObservedGeneration)
	}
	// Still one Ready event: resyncs and same-state updates are not
	// transitions.
	consistently(t, "no repeated Ready event", 3, func() error {
		evs, err := listEvents(context.Background(), c, ns, "OAuthClientBinding", "tmobile", EventReasonReady)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].Series != nil {
			return fmt.Errorf("events = %d (series %v), want exactly one", len(evs), evs[0].Series)
		}
		return nil
	})
}

func TestSecretNotFoundThenReady(t *testing.T) {
	cfg := requireEnv(t)
	c := directClient(t, cfg)
	ns := testNamespace(t, c)
	startReconciler(t, cfg, ns, Options{ResyncPeriod: testResync})

	create(t, c, credsSecret(ns), taapBinding(ns, "tmobile"))
	b := waitReady(t, c, ns, "tmobile", v1alpha1.ReasonSecretNotFound)
	cond := readyCondition(b)
	if cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, `secret "pk"`) || !strings.Contains(cond.Message, "spec.privateKey.secretRef") {
		t.Errorf("Ready = %+v, want False naming secret pk and its field", cond)
	}
	eventually(t, "Warning SecretNotFound event", func() error {
		evs, err := listEvents(context.Background(), c, ns, "OAuthClientBinding", "tmobile", v1alpha1.ReasonSecretNotFound)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].Type != corev1.EventTypeWarning {
			return fmt.Errorf("events = %+v, want one Warning", evs)
		}
		return nil
	})

	// Secrets are not watched: the periodic re-check notices it.
	create(t, c, secret(ns, "pk", map[string][]byte{"private.pem": pkcs8PEM(t, newKey(t))}))
	b = waitReady(t, c, ns, "tmobile", v1alpha1.ReasonValid)
	if readyCondition(b).Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v, want True", readyCondition(b))
	}
}

func TestSecretProblems(t *testing.T) {
	cfg := requireEnv(t)
	c := directClient(t, cfg)
	ns := testNamespace(t, c)
	startReconciler(t, cfg, ns, Options{ResyncPeriod: testResync})

	k := newKey(t)
	enc := encryptedPKCS8PEM(t, k, "pass-phrase")
	tests := []struct {
		name       string
		creds      map[string][]byte
		key        map[string][]byte
		passKey    v1alpha1.SecretKey
		wantReason string
		wantMsg    []string
	}{
		{
			name:       "key-missing",
			creds:      map[string][]byte{"client_id": []byte("id")},
			key:        map[string][]byte{"private.pem": pkcs8PEM(t, k)},
			wantReason: v1alpha1.ReasonKeyMissing,
			wantMsg:    []string{`secret "creds-key-missing"`, `no key "client_secret"`},
		},
		{
			name:       "garbage-pem",
			creds:      map[string][]byte{"client_id": []byte("id"), "client_secret": []byte("s")},
			key:        map[string][]byte{"private.pem": []byte("-----BEGIN NONSENSE-----\nAAAA\n-----END NONSENSE-----\n")},
			wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg:    []string{`secret "pk-garbage-pem"`, `"NONSENSE"`},
		},
		{
			name:       "encrypted-no-passphrase",
			creds:      map[string][]byte{"client_id": []byte("id"), "client_secret": []byte("s")},
			key:        map[string][]byte{"private.pem": enc},
			wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg:    []string{"ENCRYPTED PRIVATE KEY", "passphraseKey"},
		},
		{
			name:       "encrypted-with-passphrase",
			creds:      map[string][]byte{"client_id": []byte("id"), "client_secret": []byte("s")},
			key:        map[string][]byte{"private.pem": enc, "passphrase": []byte("pass-phrase")},
			passKey:    "passphrase",
			wantReason: v1alpha1.ReasonValid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := taapBinding(ns, tt.name)
			b.Spec.ClientAuth.SecretRef.Name = v1alpha1.SecretName("creds-" + tt.name)
			b.Spec.PrivateKey.SecretRef.Name = v1alpha1.SecretName("pk-" + tt.name)
			b.Spec.PrivateKey.SecretRef.PassphraseKey = tt.passKey
			create(t, c, secret(ns, "creds-"+tt.name, tt.creds), secret(ns, "pk-"+tt.name, tt.key), b)
			got := waitReady(t, c, ns, tt.name, tt.wantReason)
			cond := readyCondition(got)
			for _, w := range tt.wantMsg {
				if !strings.Contains(cond.Message, w) {
					t.Errorf("message %q does not contain %q", cond.Message, w)
				}
			}
			if strings.Contains(cond.Message, "pass-phrase") || strings.Contains(cond.Message, "AAAA") {
				t.Errorf("message %q leaks secret content", cond.Message)
			}
		})
	}
}

// A name with a dot is a valid object name but not a DNS label, which the
// sidecar config (and env var naming) needs: the schema lets it through, the
// renderer does not.
func TestInvalidSpec(t *testing.T) {
	cfg := requireEnv(t)
	c := directClient(t, cfg)
	ns := testNamespace(t, c)
	startReconciler(t, cfg, ns, Options{ResyncPeriod: testResync})

	create(t, c, credsSecret(ns), secret(ns, "pk", map[string][]byte{"private.pem": pkcs8PEM(t, newKey(t))}), taapBinding(ns, "partner.v2"))
	b := waitReady(t, c, ns, "partner.v2", v1alpha1.ReasonInvalidSpec)
	if cond := readyCondition(b); cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "partner.v2") {
		t.Errorf("Ready = %+v, want False naming the binding", cond)
	}
}
