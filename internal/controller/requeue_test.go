package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// `kubectl apply -f examples/bindings/taap.yaml` creates the binding before
// its Secrets. Secrets are not watched, so a binding that found them missing
// is checked again soon, not after a whole resync period.
func TestRequeueSoonWhileSecretsAreMissing(t *testing.T) {
	tests := []struct {
		name    string
		objects func(t *testing.T, ns string) []client.Object
		reason  string
		want    time.Duration
	}{
		{name: "no Secrets yet", objects: func(*testing.T, string) []client.Object { return nil },
			reason: v1alpha1.ReasonSecretNotFound, want: missingRecheck},
		{name: "key missing", objects: func(t *testing.T, ns string) []client.Object {
			return []client.Object{credsSecret(ns), secret(ns, "pk", map[string][]byte{"other.pem": []byte("x")})}
		}, reason: v1alpha1.ReasonKeyMissing, want: missingRecheck},
		{name: "all there", objects: func(t *testing.T, ns string) []client.Object {
			return []client.Object{credsSecret(ns), secret(ns, "pk", map[string][]byte{"private.pem": pkcs8PEM(t, newKey(t))})}
		}, reason: v1alpha1.ReasonValid, want: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := taapBinding("shop", "tmobile")
			b.Generation = 1
			c := fake.NewClientBuilder().WithScheme(NewScheme()).
				WithObjects(append(tt.objects(t, "shop"), b)...).
				WithStatusSubresource(&v1alpha1.OAuthClientBinding{}).
				WithIndex(&corev1.Pod{}, podBindingIndex, indexPodBindings).
				Build()
			r := NewBindingReconciler(c, c, events.NewFakeRecorder(10), Options{ResyncPeriod: time.Minute})
			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
			if err != nil {
				t.Fatal(err)
			}
			var got v1alpha1.OAuthClientBinding
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(b), &got); err != nil {
				t.Fatal(err)
			}
			if cond := readyCondition(&got); cond == nil || cond.Reason != tt.reason {
				t.Fatalf("Ready condition %+v, want reason %s", cond, tt.reason)
			}
			if res.RequeueAfter != tt.want {
				t.Errorf("RequeueAfter = %v, want %v", res.RequeueAfter, tt.want)
			}
		})
	}
}
