package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

type podSpec struct {
	name        string
	annotations map[string]string
	owner       *metav1.OwnerReference
}

func makePod(ns string, p podSpec) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.name, Annotations: p.annotations},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "app", Image: "app:1"}},
		},
	}
	if p.owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*p.owner}
	}
	return pod
}

func injected(bindings, gens string) map[string]string {
	return map[string]string{
		v1alpha1.AnnotationBindings:    bindings,
		v1alpha1.AnnotationStatus:      v1alpha1.StatusInjected,
		v1alpha1.AnnotationGenerations: gens,
	}
}

func TestPodCounting(t *testing.T) {
	cfg := requireEnv(t)
	c := directClient(t, cfg)
	ns := testNamespace(t, c)
	startReconciler(t, cfg, ns, Options{ResyncPeriod: testResync})
	ctx := context.Background()

	create(t, c, credsSecret(ns), secret(ns, "pk", map[string][]byte{"private.pem": pkcs8PEM(t, newKey(t))}))
	b := taapBinding(ns, "tmobile")
	create(t, c, b)
	// Bump to generation 2 so generation-1 pods are outdated.
	b.Spec.ListenPort = 15005
	if err := c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, ns, "tmobile", v1alpha1.ReasonValid)

	for _, p := range []podSpec{
		{name: "current", annotations: injected("tmobile", "tmobile=2")},
		{name: "current-two-bindings", annotations: injected("other,tmobile", "other=1,tmobile=2")},
		{name: "outdated", annotations: injected("tmobile", "tmobile=1")},
		{name: "missed", annotations: map[string]string{v1alpha1.AnnotationBindings: "tmobile"}},
		{name: "unrelated", annotations: injected("other", "other=1")},
		{name: "plain"},
	} {
		create(t, c, makePod(ns, p))
	}

	eventually(t, "pod counts", func() error {
		var got v1alpha1.OAuthClientBinding
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tmobile"}, &got); err != nil {
			return err
		}
		s := got.Status
		if s.InjectedPods != 3 || s.OutdatedPods != 1 || s.MissedPods != 1 {
			return fmt.Errorf("injected=%d outdated=%d missed=%d, want 3/1/1", s.InjectedPods, s.OutdatedPods, s.MissedPods)
		}
		return nil
	})
	eventually(t, "MissedInjection event on the pod", func() error {
		evs, err := listEvents(ctx, c, ns, "Pod", "missed", EventReasonMissedInjection)
		if err != nil {
			return err
		}
		if len(evs) != 1 {
			return fmt.Errorf("%d events, want 1", len(evs))
		}
		if evs[0].Type != corev1.EventTypeWarning || !strings.Contains(evs[0].Note, "no controller") {
			return fmt.Errorf("event = %+v, want a Warning saying the pod has no controller", evs[0])
		}
		return nil
	})
	// Once per pod: several resyncs later there is still one, not a series.
	consistently(t, "one MissedInjection event", 4, func() error {
		evs, err := listEvents(ctx, c, ns, "Pod", "missed", EventReasonMissedInjection)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].Series != nil {
			return fmt.Errorf("%d events, want exactly one without a series", len(evs))
		}
		return nil
	})
	// Counts follow pod deletion (pod events are watched).
	if err := c.Delete(ctx, makePod(ns, podSpec{name: "outdated"})); err != nil {
		t.Fatal(err)
	}
	eventually(t, "counts after deleting the outdated pod", func() error {
		var got v1alpha1.OAuthClientBinding
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tmobile"}, &got); err != nil {
			return err
		}
		if s := got.Status; s.InjectedPods != 2 || s.OutdatedPods != 0 || s.MissedPods != 1 {
			return fmt.Errorf("injected=%d outdated=%d missed=%d, want 2/0/1", s.InjectedPods, s.OutdatedPods, s.MissedPods)
		}
		return nil
	})
}

func TestRecreateMissedPods(t *testing.T) {
	cfg := requireEnv(t)
	c := directClient(t, cfg)
	ns := testNamespace(t, c)
	startReconciler(t, cfg, ns, Options{ResyncPeriod: testResync, RecreateMissedPods: true})
	ctx := context.Background()

	// A ReplicaSet with no replicas: only an owner to point at (no
	// controller-manager runs here, so nothing recreates the pod).
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
	create(t, c, credsSecret(ns), secret(ns, "pk", map[string][]byte{"private.pem": pkcs8PEM(t, newKey(t))}), rs)
	missed := map[string]string{v1alpha1.AnnotationBindings: "tmobile"}
	owner := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}
	create(t, c,
		makePod(ns, podSpec{name: "owned", annotations: missed, owner: owner}),
		makePod(ns, podSpec{name: "bare", annotations: missed}),
		makePod(ns, podSpec{name: "owned-injected", annotations: injected("tmobile", "tmobile=1"), owner: owner}),
	)
	create(t, c, taapBinding(ns, "tmobile"))

	eventually(t, "owned missed pod deleted", func() error {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "owned"}, &corev1.Pod{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errNotYet
	})
	eventually(t, "missedPods counts only the bare pod", func() error {
		var got v1alpha1.OAuthClientBinding
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tmobile"}, &got); err != nil {
			return err
		}
		if got.Status.MissedPods != 1 || got.Status.InjectedPods != 1 {
			return fmt.Errorf("missed=%d injected=%d, want 1/1", got.Status.MissedPods, got.Status.InjectedPods)
		}
		return nil
	})
	consistently(t, "bare and injected pods survive", 3, func() error {
		for _, n := range []string{"bare", "owned-injected"} {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &corev1.Pod{}); err != nil {
				return fmt.Errorf("pod %s: %w", n, err)
			}
		}
		return nil
	})
	evs, err := listEvents(ctx, c, ns, "Pod", "bare", EventReasonMissedInjection)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.Contains(evs[0].Note, "recreate it yourself") {
		t.Errorf("bare pod events = %+v, want one saying to recreate it yourself", evs)
	}
}
