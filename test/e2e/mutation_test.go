package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/webhook"
)

// checkInjected asserts the contract of an injected pod: one native sidecar
// with the rendered config, Secret volumes mounted only into it, and the
// URL env var in every app container.
func checkInjected(t *testing.T, p *corev1.Pod, bindings map[string]int) {
	t.Helper()
	if n := countSidecars(p); n != 1 {
		t.Fatalf("pod %s has %d %q containers, want 1", p.Name, n, v1alpha1.SidecarContainerName)
	}
	if p.Annotations[v1alpha1.AnnotationStatus] != v1alpha1.StatusInjected {
		t.Errorf("pod %s lacks %s=%s", p.Name, v1alpha1.AnnotationStatus, v1alpha1.StatusInjected)
	}
	if !strings.Contains(p.Annotations[v1alpha1.AnnotationGenerations], "=") {
		t.Errorf("pod %s: %s = %q", p.Name, v1alpha1.AnnotationGenerations, p.Annotations[v1alpha1.AnnotationGenerations])
	}
	sc := sidecarOf(p)
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("sidecar is not a native sidecar (restartPolicy Always)")
	}
	if strings.Join(sc.Args, " ") != "run" {
		t.Errorf("sidecar args = %v, want [run]", sc.Args)
	}
	var cfgJSON string
	for _, e := range sc.Env {
		if e.Name == "OAUTH_INJECTOR_CONFIG" {
			cfgJSON = e.Value
		}
	}
	cfg, err := config.Parse([]byte(cfgJSON))
	if err != nil {
		t.Fatalf("sidecar config does not parse: %v", err)
	}
	for name, port := range bindings {
		b, ok := cfg.Binding(name)
		if !ok || b.ListenPort != port {
			t.Errorf("config binding %q missing or on the wrong port (%+v)", name, b)
		}
	}
	if strings.Contains(cfgJSON, fixtureClientSecret) || strings.Contains(cfgJSON, "PRIVATE KEY") {
		t.Error("the sidecar config holds a secret value; it must hold only file paths")
	}
	if len(sc.Ports) != 1 || sc.Ports[0].ContainerPort != v1alpha1.AdminPort || sc.Ports[0].Name != "admin" {
		t.Errorf("sidecar ports = %+v, want admin %d", sc.Ports, v1alpha1.AdminPort)
	}
	for _, probe := range []struct {
		name string
		p    *corev1.Probe
		path string
	}{{"startup", sc.StartupProbe, "/startup"}, {"readiness", sc.ReadinessProbe, "/readyz"}, {"liveness", sc.LivenessProbe, "/livez"}} {
		if probe.p == nil || probe.p.HTTPGet == nil || probe.p.HTTPGet.Path != probe.path {
			t.Errorf("%s probe = %+v, want GET %s", probe.name, probe.p, probe.path)
		}
	}
	if sec := sc.SecurityContext; sec == nil || sec.ReadOnlyRootFilesystem == nil || !*sec.ReadOnlyRootFilesystem || sec.RunAsNonRoot == nil || !*sec.RunAsNonRoot {
		t.Errorf("sidecar securityContext not hardened: %+v", sec)
	}
	secretVols := map[string]bool{}
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil {
			secretVols[v.Name] = true
		}
	}
	if len(secretVols) == 0 {
		t.Error("no Secret volumes were added")
	}
	for _, m := range sc.VolumeMounts {
		if secretVols[m.Name] && (!m.ReadOnly || !strings.HasPrefix(m.MountPath, webhook.MountRoot+"/")) {
			t.Errorf("sidecar mount %s at %s: want read-only under %s", m.Name, m.MountPath, webhook.MountRoot)
		}
	}
	// The pod's API token is masked in the sidecar by an empty read-only
	// memory volume, which the API server accepted as valid.
	masked := false
	for _, m := range sc.VolumeMounts {
		if m.MountPath != webhook.ServiceAccountTokenDir {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory && m.ReadOnly {
				masked = true
			}
		}
	}
	if !masked {
		t.Errorf("sidecar does not mask %s with a read-only memory emptyDir", webhook.ServiceAccountTokenDir)
	}
	for _, c := range p.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if secretVols[m.Name] {
				t.Errorf("app container %s mounts credential volume %s; only the sidecar may", c.Name, m.Name)
			}
		}
		for name, port := range bindings {
			want := fmt.Sprintf("http://127.0.0.1:%d", port)
			found := false
			for _, e := range c.Env {
				if e.Name == webhook.EnvVarName(name) && e.Value == want {
					found = true
				}
			}
			if !found {
				t.Errorf("container %s lacks %s=%s", c.Name, webhook.EnvVarName(name), want)
			}
		}
	}
}

// TestDeploymentPodsMutated: the real ReplicaSet controller creates the
// pods of an annotated Deployment, and admission injects each of them.
func TestDeploymentPodsMutated(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "deploy")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	labels := map[string]string{"app": "checkout"}
	tmpl := annotatedPod(ns, "", "tmobile")
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: tmpl.Annotations},
				Spec:       tmpl.Spec,
			},
		},
	}
	s.create(t, dep)
	var pods corev1.PodList
	eventually(t, 60*time.Second, "the ReplicaSet controller creates 2 pods", func(ctx context.Context) (bool, error) {
		if err := s.client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			return false, err
		}
		return len(pods.Items) == 2, fmt.Errorf("%d pods", len(pods.Items))
	})
	for i := range pods.Items {
		p := &pods.Items[i]
		if len(p.OwnerReferences) == 0 || p.OwnerReferences[0].Kind != "ReplicaSet" {
			t.Errorf("pod %s was not created by a ReplicaSet: %+v", p.Name, p.OwnerReferences)
		}
		checkInjected(t, p, map[string]int{"tmobile": 15001})
	}
	eventually(t, 60*time.Second, "binding status counts 2 injected pods", func(ctx context.Context) (bool, error) {
		var b v1alpha1.OAuthClientBinding
		if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tmobile"}, &b); err != nil {
			return false, err
		}
		return b.Status.InjectedPods == 2 && b.Status.MissedPods == 0, fmt.Errorf("injectedPods=%d missedPods=%d", b.Status.InjectedPods, b.Status.MissedPods)
	})
}

// TestDirectPodMutated covers a pod created directly, with two bindings.
func TestDirectPodMutated(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "direct")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	s.createBinding(t, ns, "open-gateway", 15002, "")
	p := annotatedPod(ns, "direct", "tmobile,open-gateway")
	s.create(t, p)
	checkInjected(t, p, map[string]int{"tmobile": 15001, "open-gateway": 15002})
}

// TestSecondAdmissionIsNoop re-submits an already mutated pod (as a
// reinvocation or a re-create from a dump would): the webhook is called,
// sees the status annotation and changes nothing.
func TestSecondAdmissionIsNoop(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "twice")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	first := annotatedPod(ns, "first", "tmobile")
	s.create(t, first)
	checkInjected(t, first, map[string]int{"tmobile": 15001})

	again := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "again", Annotations: first.Annotations, Labels: first.Labels},
		Spec:       *first.Spec.DeepCopy(),
	}
	before := s.scrapeAdmission(t)
	if err := s.client.Create(context.Background(), again, client.DryRunAll); err != nil {
		t.Fatalf("re-creating the mutated pod: %v", err)
	}
	after := s.scrapeAdmission(t)
	// At least one: reinvocation may legitimately call it again.
	if got := after["skipped"].count - before["skipped"].count; got < 1 {
		t.Errorf("webhook recorded %d skipped admissions for the re-submitted pod; it was not called", got)
	}
	if got := after["patched"].count - before["patched"].count; got != 0 {
		t.Errorf("webhook patched an already injected pod (%d patches)", got)
	}
	checkInjected(t, again, map[string]int{"tmobile": 15001})
	if len(again.Spec.InitContainers) != len(first.Spec.InitContainers) || len(again.Spec.Volumes) != len(first.Spec.Volumes) ||
		len(again.Spec.Containers[0].Env) != len(first.Spec.Containers[0].Env) {
		t.Errorf("second admission changed the pod: initContainers %d->%d, volumes %d->%d, env %d->%d",
			len(first.Spec.InitContainers), len(again.Spec.InitContainers), len(first.Spec.Volumes), len(again.Spec.Volumes),
			len(first.Spec.Containers[0].Env), len(again.Spec.Containers[0].Env))
	}
}

// TestUnannotatedPodUntouched: a pod without the annotation is not changed
// and, thanks to the chart's matchConditions, never reaches the webhook.
func TestUnannotatedPodUntouched(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "plain")
	before := total(s.scrapeAdmission(t))
	p := annotatedPod(ns, "plain", "")
	s.create(t, p)
	if len(p.Spec.InitContainers) != 0 || len(p.Spec.Volumes) != 0 || len(p.Spec.Containers[0].Env) != 0 || p.Annotations[v1alpha1.AnnotationStatus] != "" {
		t.Errorf("unannotated pod was changed: %+v", p.Spec)
	}
	if after := total(s.scrapeAdmission(t)); after != before {
		t.Errorf("webhook handled %d requests for an unannotated pod; matchConditions should keep it out", after-before)
	}
}

// TestDenials: each refusal reaches the user through the API server with a
// message that says what to fix.
func TestDenials(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "deny")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	s.createBinding(t, ns, "tmobile-too", 15001, "")
	s.createBinding(t, ns, "clash", 8080, "")
	s.createBinding(t, ns, "restricted", 15003, `{"allowedServiceAccounts":["checkout"]}`)
	for _, tc := range []struct {
		name, bindings, serviceAccount string
		want                           []string
		pod                            func(*corev1.Pod)
	}{
		{"missing binding", "absent", "", []string{`binding "absent"`, "was not found in namespace", ns}, nil},
		{"port clash with app container", "clash", "", []string{`binding "clash" listenPort 8080 clashes with port 8080 of container "app"`}, nil},
		{"port clash between bindings", "tmobile,tmobile-too", "", []string{`binding "tmobile-too" listenPort 15001 clashes with binding "tmobile"`}, nil},
		{"service account not allowed", "restricted", "default", []string{`service account "default" may not use binding "restricted"`, "checkout"}, nil},
		{"shared process namespace", "tmobile", "", []string{"shareProcessNamespace: true", "/proc/<pid>/root"}, func(p *corev1.Pod) { p.Spec.ShareProcessNamespace = ptr.To(true) }},
		{"host PID", "tmobile", "", []string{"pod uses hostPID", "/proc/<pid>/root"}, func(p *corev1.Pod) { p.Spec.HostPID = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := annotatedPod(ns, "denied", tc.bindings)
			p.Spec.ServiceAccountName = tc.serviceAccount
			if tc.pod != nil {
				tc.pod(p)
			}
			err := s.client.Create(context.Background(), p)
			if err == nil {
				t.Fatalf("pod asking for %q was admitted", tc.bindings)
			}
			if !apierrors.IsForbidden(err) && !apierrors.IsBadRequest(err) && !apierrors.IsInvalid(err) {
				t.Errorf("error is %v (reason %s), want an admission denial", err, apierrors.ReasonForError(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("denial %q does not contain %q", err.Error(), w)
				}
			}
		})
	}
	// The service account that is allowed gets through.
	ok := annotatedPod(ns, "allowed", "restricted")
	ok.Spec.ServiceAccountName = "checkout"
	s.create(t, ok)
	checkInjected(t, ok, map[string]int{"restricted": 15003})
}
