package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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
