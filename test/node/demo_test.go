package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// TestNodeDemo is part 2 of `make demo` on a real node, and a test: the
// chart's webhook Deployment (2 replicas, PDB, self-managed certificates)
// injects the sidecar into an annotated demo Deployment, whose app calls
// the TAAP simulator pod through it; the demo prints the app's log of what
// the partner verified and the pod's container statuses.
func TestNodeDemo(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	say := func(format string, args ...any) { t.Logf("==> "+format, args...) }
	say("node %s Ready: containerd + runc, kubelet/kube-scheduler/kube-apiserver v1.37.2 built from source, images built without Docker", nodeName())
	wh, err := s.cs.AppsV1().Deployments(releaseNS).Get(ctx, fullName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb, err := s.cs.PolicyV1().PodDisruptionBudgets(releaseNS).Get(ctx, fullName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("chart PDB: %v", err)
	}
	mwc, err := s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, fullName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	say("helm chart installed: webhook Deployment %d/%d ready (image %s), PDB minAvailable %s, caBundle patched (%d bytes)",
		wh.Status.ReadyReplicas, *wh.Spec.Replicas, wh.Spec.Template.Spec.Containers[0].Image, pdb.Spec.MinAvailable, len(mwc.Webhooks[0].ClientConfig.CABundle))
	say("partner: TAAP simulator pod %s/%s at %s", partnerNS, partnerPod, partnerURL)

	ns := s.namespace(t, "oauth-injector-demo")
	s.applyExample(t, ns)
	say("applied examples/bindings/taap.yaml in namespace %s (partner URL and CA pointed at the simulator); binding Ready", ns)

	one := int32(1)
	labels := map[string]string{"app": "demo"}
	pod := appPod(ns, "", "-interval", "1s")
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: pod.Annotations},
				Spec:       pod.Spec,
			},
		},
	}
	if _, err := s.cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	say("created Deployment demo with annotation %s: tmobile", v1alpha1.AnnotationBindings)

	var p *corev1.Pod
	eventually(t, 3*time.Minute, "demo pod running", func(ctx context.Context) (bool, error) {
		pods, err := s.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=demo"})
		if err != nil || len(pods.Items) == 0 {
			return false, fmt.Errorf("no demo pod yet (%v)", err)
		}
		p = &pods.Items[0]
		app, side := containerStatus(p, "app"), containerStatus(p, v1alpha1.SidecarContainerName)
		return app != nil && side != nil && app.State.Running != nil && side.Ready, fmt.Errorf("pod %s phase %s", p.Name, p.Status.Phase)
	})
	if p.Annotations[v1alpha1.AnnotationStatus] != v1alpha1.StatusInjected {
		t.Fatalf("demo pod not injected: %v", p.Annotations)
	}
	var calls []appCall
	eventually(t, time.Minute, "three verified calls", func(ctx context.Context) (bool, error) {
		var err error
		calls, err = s.appLog(ctx, ns, p.Name)
		n := 0
		for _, c := range calls {
			if c.Event == "call" && !c.ok() {
				return false, fmt.Errorf("call failed: %+v", c)
			}
			if c.ok() {
				n++
			}
		}
		return n >= 3, err
	})
	raw, _ := s.logs(ctx, ns, p.Name, "app")
	say("app container log (what the partner verified on each call):")
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		t.Logf("    %s", l)
	}
	p, _ = s.pod(ctx, ns, p.Name)
	say("pod %s container statuses:", p.Name)
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		t.Logf("    %s", describeStatus(cs))
	}
	first := calls[1]
	say("pod created %s, first verified call %s: %s later",
		p.CreationTimestamp.UTC().Format(time.RFC3339), first.Time.UTC().Format("15:04:05.000"), first.Time.Sub(p.CreationTimestamp.Time).Round(10*time.Millisecond))
}
