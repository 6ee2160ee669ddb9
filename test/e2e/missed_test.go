package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/controller"
)

// TestMissedPodReported: with failurePolicy Ignore and the webhook down, an
// annotated pod is admitted without the sidecar. Once the webhook (and its
// controller) is back, the binding reports missedPods 1 and an Event names
// the pod.
func TestMissedPodReported(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	ns := s.namespace(t, "missed")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	s.waitReady(t, ns, "tmobile", metav1.ConditionTrue, v1alpha1.ReasonValid)

	if err := s.installChart(ctx, "Ignore"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.webhook == nil {
			if err := s.startWebhook(context.Background()); err != nil {
				t.Errorf("restarting webhook: %v", err)
			}
		}
		if err := s.installChart(context.Background(), "Fail"); err != nil {
			t.Errorf("restoring failurePolicy Fail: %v", err)
		}
	})
	s.stopWebhook(t)

	p := annotatedPod(ns, "missed", "tmobile")
	if err := s.client.Create(ctx, p); err != nil {
		t.Fatalf("with failurePolicy Ignore the pod must be admitted while the webhook is down: %v", err)
	}
	if countSidecars(p) != 0 || p.Annotations[v1alpha1.AnnotationStatus] != "" {
		t.Fatal("the pod was mutated although the webhook was stopped; the test proves nothing")
	}

	if err := s.startWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "binding reports the missed pod", func(ctx context.Context) (bool, error) {
		var b v1alpha1.OAuthClientBinding
		if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tmobile"}, &b); err != nil {
			return false, err
		}
		return b.Status.MissedPods == 1, fmt.Errorf("missedPods=%d injectedPods=%d", b.Status.MissedPods, b.Status.InjectedPods)
	})
	eventually(t, 30*time.Second, "a MissedInjection Event names the pod", func(ctx context.Context) (bool, error) {
		var evs eventsv1.EventList
		if err := s.client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Reason == controller.EventReasonMissedInjection && e.Regarding.Kind == "Pod" && e.Regarding.Name == "missed" {
				return true, nil
			}
			seen = append(seen, e.Reason+"/"+e.Regarding.Kind+"/"+e.Regarding.Name)
		}
		return false, fmt.Errorf("events so far: %v", seen)
	})
}
