package controller

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

func TestMayRecreateBackoff(t *testing.T) {
	r := NewBindingReconciler(nil, nil, nil, Options{RecreateBackoff: time.Minute})
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		owner   types.UID
		want    bool
	}{
		{0, "rs-a", true},
		{0, "rs-a", false},                // same owner, at once
		{0, "rs-b", true},                 // other owners are independent
		{59 * time.Second, "rs-a", false}, // still inside the backoff
		{time.Second, "rs-a", true},       // backoff elapsed
		{0, "rs-b", true},                 // rs-b's entry expired too
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := r.mayRecreate(s.owner); got != s.want {
			t.Errorf("step %d (%s): mayRecreate = %v, want %v", i, s.owner, got, s.want)
		}
	}
}

func TestStripPod(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "p", Annotations: map[string]string{"a": "b"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}},
		},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
	}
	out, err := stripPod(p)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if len(got.Spec.Containers) != 0 || got.Status.PodIP != "" || got.ManagedFields != nil {
		t.Errorf("pod not stripped: %+v", got)
	}
	if got.Status.Phase != corev1.PodRunning || got.Annotations["a"] != "b" || got.Name != "p" {
		t.Errorf("stripped too much: %+v", got)
	}
	// Anything else (e.g. a tombstone) passes through.
	if out, _ := stripPod("x"); out != "x" {
		t.Errorf("non-pod changed: %v", out)
	}
}

func TestAnnotatedPodPredicate(t *testing.T) {
	named := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{v1alpha1.AnnotationBindings: "b"}}}
	plain := &corev1.Pod{}
	p := annotatedPod{}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"create named", p.Create(event.CreateEvent{Object: named}), true},
		{"create plain", p.Create(event.CreateEvent{Object: plain}), false},
		{"delete named", p.Delete(event.DeleteEvent{Object: named}), true},
		{"update annotation removed", p.Update(event.UpdateEvent{ObjectOld: named, ObjectNew: plain}), true},
		{"update annotation added", p.Update(event.UpdateEvent{ObjectOld: plain, ObjectNew: named}), true},
		{"update plain", p.Update(event.UpdateEvent{ObjectOld: plain, ObjectNew: plain}), false},
		{"generic nil", p.Generic(event.GenericEvent{}), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestBindingRequests(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Annotations: map[string]string{v1alpha1.AnnotationBindings: "a, b,a"}}}
	reqs := bindingRequests(pod)
	if len(reqs) != 2 || reqs[0].Namespace != "ns" || reqs[0].Name != "a" || reqs[1].Name != "b" {
		t.Errorf("requests = %v, want ns/a and ns/b", reqs)
	}
	if got := bindingRequests(&corev1.Pod{}); len(got) != 0 {
		t.Errorf("unannotated pod maps to %v", got)
	}
}
