package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// applyExample applies examples/bindings/taap.yaml into ns as a user would,
// with only the partner's address and CA pointed at the node's partner.
func (s *suite) applyExample(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	for _, o := range exampleObjects() {
		switch o.Kind {
		case "Secret":
			sec := o.Secret.DeepCopy()
			sec.Namespace = ns
			if sec.Name == "taapsim-ca" {
				sec.StringData = map[string]string{"ca.crt": string(s.partner.caPEM)}
			}
			if _, err := s.cs.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "OAuthClientBinding":
			u := &unstructured.Unstructured{Object: o.Raw}
			u.SetNamespace(ns)
			_ = unstructured.SetNestedField(u.Object, partnerURL, "spec", "upstream", "url")
			_ = unstructured.SetNestedField(u.Object, partnerURL+"/oauth2/v6/tokens", "spec", "tokenEndpoint", "url")
			if err := s.client.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, time.Minute, "binding tmobile Ready", func(ctx context.Context) (bool, error) {
		var b v1alpha1.OAuthClientBinding
		if err := s.client.Get(ctx, clientKey(ns, "tmobile"), &b); err != nil {
			return false, err
		}
		for _, c := range b.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady {
				return c.Status == metav1.ConditionTrue, fmt.Errorf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
			}
		}
		return false, fmt.Errorf("no Ready condition")
	})
}

// appPod is an annotated pod running the demo app against binding tmobile.
func appPod(ns, name string, args ...string) *corev1.Pod {
	grace := int64(10)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{v1alpha1.AnnotationBindings: "tmobile"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: image("demoapp"), ImagePullPolicy: corev1.PullNever,
				Args: append([]string{"-binding", "tmobile"}, args...),
			}},
		},
	}
}

func (s *suite) createPod(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := s.cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Annotations[v1alpha1.AnnotationStatus] != v1alpha1.StatusInjected {
		t.Fatalf("pod %s was not injected by the webhook Deployment: annotations %v", p.Name, out.Annotations)
	}
	return out
}

func (s *suite) pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return s.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func (s *suite) waitRunning(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	eventually(t, 3*time.Minute, "pod "+name+" running with app and sidecar ready", func(ctx context.Context) (bool, error) {
		var err error
		if p, err = s.pod(ctx, ns, name); err != nil {
			return false, err
		}
		app, side := containerStatus(p, "app"), containerStatus(p, v1alpha1.SidecarContainerName)
		if app == nil || side == nil {
			return false, fmt.Errorf("phase %s, no container statuses yet", p.Status.Phase)
		}
		return app.State.Running != nil && side.Ready, fmt.Errorf("%s; %s", describeStatus(*side), describeStatus(*app))
	})
	return p
}

// appCall is one line of the demo app's log.
type appCall struct {
	Event        string          `json:"event"`
	N            int             `json:"n"`
	Status       int             `json:"status"`
	Error        string          `json:"error"`
	SidecarError string          `json:"sidecar_error"`
	PartnerError string          `json:"partner_error"`
	AfterSIGTERM bool            `json:"after_sigterm"`
	Time         time.Time       `json:"time"`
	Verified     *verifiedByPeer `json:"verified"`
}

type verifiedByPeer struct {
	PoP         bool   `json:"pop"`
	AccessToken bool   `json:"accessToken"`
	IDToken     bool   `json:"idToken"`
	BodySigned  bool   `json:"bodySigned"`
	Key         string `json:"key"`
}

func (c appCall) ok() bool {
	return c.Event == "call" && c.Status == 200 && c.Verified != nil && c.Verified.PoP && c.Verified.AccessToken && c.Verified.IDToken
}

func (s *suite) logs(ctx context.Context, ns, pod, container string) (string, error) {
	b, err := s.cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	return string(b), err
}

func (s *suite) appLog(ctx context.Context, ns, pod string) ([]appCall, error) {
	raw, err := s.logs(ctx, ns, pod, "app")
	if err != nil {
		return nil, err
	}
	var out []appCall
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		var c appCall
		if json.Unmarshal(sc.Bytes(), &c) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// runningApp applies the example binding in a new namespace and runs the
// demo app pod "app" there with args, waiting until both containers run.
func (s *suite) runningApp(t *testing.T, prefix string, args ...string) (string, *corev1.Pod) {
	t.Helper()
	ns := s.namespace(t, prefix)
	s.applyExample(t, ns)
	s.createPod(t, appPod(ns, "app", args...))
	return ns, s.waitRunning(t, ns, "app")
}
