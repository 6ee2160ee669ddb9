package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

func TestParseSecretAccess(t *testing.T) {
	tests := []struct {
		mode       string
		namespaces []string
		wantErr    string
		allowed    []string
		denied     []string
		str        string
	}{
		{mode: "", allowed: []string{"shop", "kube-system"}, str: "*"},
		{mode: SecretAccessCluster, allowed: []string{"shop", "kube-system"}, str: "*"},
		{mode: SecretAccessNamespaces, namespaces: []string{"shop", "billing"}, allowed: []string{"shop", "billing"}, denied: []string{"kube-system", "shop2", ""}, str: "billing, shop"},
		{mode: SecretAccessNamespaces, denied: []string{"shop"}, str: "(none)"}, // reads no Secrets at all
		{mode: SecretAccessCluster, namespaces: []string{"shop"}, wantErr: "--secret-namespaces: only valid with --secret-access=namespaces"},
		{mode: "namespace", wantErr: `--secret-access: "namespace" is not one of cluster, namespaces`},
		{mode: SecretAccessNamespaces, namespaces: []string{"shop", "Bad_NS"}, wantErr: `--secret-namespaces: "Bad_NS" is not a valid namespace name`},
		{mode: SecretAccessNamespaces, namespaces: []string{" "}, wantErr: `--secret-namespaces: " " is not a valid namespace name`},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+strings.Join(tt.namespaces, ","), func(t *testing.T) {
			a, err := ParseSecretAccess(tt.mode, tt.namespaces)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ns := range tt.allowed {
				if !a.Allows(ns) {
					t.Errorf("Allows(%q) = false, want true", ns)
				}
			}
			for _, ns := range tt.denied {
				if a.Allows(ns) {
					t.Errorf("Allows(%q) = true, want false", ns)
				}
			}
			if a.String() != tt.str {
				t.Errorf("String() = %q, want %q", a.String(), tt.str)
			}
		})
	}
}

// rbacReader emulates the chart's RBAC for Secret reads: a Get of a Secret
// outside granted is Forbidden, as the API server answers it. It counts the
// Secret reads so a test can check that none was attempted.
type rbacReader struct {
	client.WithWatch
	granted    func(namespace string) bool
	secretGets int
}

func newRBACReader(base client.WithWatch, granted func(string) bool) *rbacReader {
	r := &rbacReader{granted: granted}
	r.WithWatch = interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok {
				r.secretGets++
				if !r.granted(key.Namespace) {
					return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, key.Name,
						errors.New(`User "system:serviceaccount:oi:oi" cannot get resource "secrets" in API group "" in the namespace "`+key.Namespace+`"`))
				}
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	return r
}

// TestReconcileSecretAccess runs Reconcile against a fake API whose RBAC
// grants Secret reads per namespace, as the chart's secretAccess modes do.
// A binding whose Secrets the controller may not or does not read gets a
// condition saying so and a normal resync, never an error (which would
// requeue it with backoff forever).
func TestReconcileSecretAccess(t *testing.T) {
	onlyShop := func(ns string) bool { return ns == "shop" }
	all := func(string) bool { return true }
	noSecrets := func(b *v1alpha1.OAuthClientBinding) {
		b.Spec.PrivateKey, b.Spec.ProofOfPossession = nil, nil
		b.Spec.ClientAuth = &v1alpha1.ClientAuth{Method: v1alpha1.ClientAuthNone}
		b.Spec.Grant = v1alpha1.Grant{Type: v1alpha1.GrantTokenExchange, TokenExchange: &v1alpha1.TokenExchangeGrant{
			SubjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
			SubjectToken:     v1alpha1.SubjectToken{ServiceAccountToken: &v1alpha1.ServiceAccountTokenSubject{Audience: "partner"}},
		}}
	}
	tests := []struct {
		name       string
		mode       string
		namespaces []string
		granted    func(string) bool
		ns         string
		spec       func(*v1alpha1.OAuthClientBinding)
		status     metav1.ConditionStatus
		reason     string
		message    []string
		noReads    bool
	}{
		{name: "cluster mode", mode: SecretAccessCluster, granted: all, ns: "shop", status: metav1.ConditionTrue, reason: v1alpha1.ReasonValid},
		{
			name: "cluster mode, RBAC forbids", mode: SecretAccessCluster, granted: onlyShop, ns: "other",
			status: metav1.ConditionUnknown, reason: v1alpha1.ReasonSecretAccessDenied,
			message: []string{`may not read secret "creds"`, "spec.clientAuth.secretRef", `namespace "other"`, "secretAccess"},
		},
		{name: "namespaces mode, listed", mode: SecretAccessNamespaces, namespaces: []string{"shop"}, granted: onlyShop, ns: "shop", status: metav1.ConditionTrue, reason: v1alpha1.ReasonValid},
		{
			name: "namespaces mode, not listed", mode: SecretAccessNamespaces, namespaces: []string{"shop", "billing"}, granted: onlyShop, ns: "other",
			status: metav1.ConditionUnknown, reason: v1alpha1.ReasonNamespaceNotWatched, noReads: true,
			message: []string{`namespace "other"`, "secretAccess.namespaces", "billing, shop"},
		},
		{
			// The Role is missing (namespace listed, chart not upgraded).
			name: "namespaces mode, listed but no Role", mode: SecretAccessNamespaces, namespaces: []string{"other"}, granted: onlyShop, ns: "other",
			status: metav1.ConditionUnknown, reason: v1alpha1.ReasonSecretAccessDenied, message: []string{`may not read secret "creds"`},
		},
		{
			name: "namespaces mode, not listed, no Secrets referenced", mode: SecretAccessNamespaces, namespaces: []string{"shop"}, granted: onlyShop, ns: "other",
			spec: noSecrets, status: metav1.ConditionTrue, reason: v1alpha1.ReasonValid, noReads: true,
		},
		{
			name: "namespaces mode, not listed, invalid spec", mode: SecretAccessNamespaces, namespaces: []string{"shop"}, granted: onlyShop, ns: "other",
			spec:   func(b *v1alpha1.OAuthClientBinding) { b.Spec.Grant.Type = "Implicit" },
			status: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidSpec, noReads: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := taapBinding(tt.ns, "tmobile")
			b.Generation = 1
			if tt.spec != nil {
				tt.spec(b)
			}
			base := fake.NewClientBuilder().WithScheme(NewScheme()).
				WithObjects(b, credsSecret(tt.ns), secret(tt.ns, "pk", map[string][]byte{"private.pem": pkcs8PEM(t, newKey(t))})).
				WithStatusSubresource(&v1alpha1.OAuthClientBinding{}).
				WithIndex(&corev1.Pod{}, podBindingIndex, indexPodBindings).
				Build()
			api := newRBACReader(base, tt.granted)
			access, err := ParseSecretAccess(tt.mode, tt.namespaces)
			if err != nil {
				t.Fatal(err)
			}
			rec := events.NewFakeRecorder(10)
			r := NewBindingReconciler(base, api, rec, Options{ResyncPeriod: time.Minute, SecretAccess: access})
			res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
			if err != nil {
				t.Fatalf("Reconcile returned %v; a Secret it may not read must be a condition, not a retried error", err)
			}
			if res.RequeueAfter != time.Minute {
				t.Errorf("RequeueAfter = %v, want the resync period", res.RequeueAfter)
			}
			var got v1alpha1.OAuthClientBinding
			if err := base.Get(ctx, client.ObjectKeyFromObject(b), &got); err != nil {
				t.Fatal(err)
			}
			cond := readyCondition(&got)
			if cond == nil {
				t.Fatal("no Ready condition written")
			}
			if cond.Status != tt.status || cond.Reason != tt.reason {
				t.Errorf("Ready = %s/%s (%q), want %s/%s", cond.Status, cond.Reason, cond.Message, tt.status, tt.reason)
			}
			for _, w := range tt.message {
				if !strings.Contains(cond.Message, w) {
					t.Errorf("message %q does not contain %q", cond.Message, w)
				}
			}
			if tt.noReads && api.secretGets != 0 {
				t.Errorf("%d Secret reads; the controller must not try namespaces it does not watch", api.secretGets)
			}
			if tt.status != metav1.ConditionTrue {
				select {
				case e := <-rec.Events:
					if !strings.Contains(e, "Warning "+tt.reason) {
						t.Errorf("event %q, want a Warning %s", e, tt.reason)
					}
				default:
					t.Errorf("no Warning %s event", tt.reason)
				}
			}
		})
	}
}
