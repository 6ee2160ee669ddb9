package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

func fakeReader(t *testing.T, funcs *interceptor.Funcs, objs ...client.Object) client.Reader {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}

func admissionRequest(t *testing.T, namespace string, pod *corev1.Pod) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

func TestHandler(t *testing.T) {
	tm := binding("tmobile", 15001)
	// A binding with the same name in another namespace must never be used.
	foreign := binding("foreign", 15009, func(b *v1alpha1.OAuthClientBinding) { b.Namespace = "other" })
	// Deployment-created pods arrive without a name or namespace.
	fromDeployment := func(p *corev1.Pod) { p.Namespace = ""; p.GenerateName = "shop-7d9f-" }
	tests := []struct {
		name      string
		namespace string
		pod       *corev1.Pod
		funcs     *interceptor.Funcs
		allowed   bool
		patched   bool
		code      int32
		message   string
		result    string // the histogram's result label
	}{
		{name: "unannotated pod is allowed untouched", namespace: "shop", pod: testPod(""), allowed: true, result: resultSkipped},
		{name: "already injected is allowed untouched", namespace: "shop", pod: testPod("tmobile", func(p *corev1.Pod) {
			p.Annotations[v1alpha1.AnnotationStatus] = v1alpha1.StatusInjected
		}), allowed: true, result: resultSkipped},
		{name: "annotated pod is patched", namespace: "shop", pod: testPod("tmobile"), allowed: true, patched: true, result: resultPatched},
		{name: "namespace comes from the request", namespace: "shop", pod: testPod("tmobile", fromDeployment), allowed: true, patched: true, result: resultPatched},
		{name: "missing binding is denied", namespace: "shop", pod: testPod("tmobile,nope", fromDeployment), code: http.StatusForbidden,
			message: `binding "nope" named in annotation oauth.injector.dev/bindings was not found in namespace "shop"`, result: resultDenied},
		{name: "bindings of other namespaces are invisible", namespace: "shop", pod: testPod("foreign"), code: http.StatusForbidden,
			message: `binding "foreign" named in annotation oauth.injector.dev/bindings was not found in namespace "shop"`, result: resultDenied},
		{name: "garbled annotation is denied", namespace: "shop", pod: testPod("a,,b"), code: http.StatusForbidden, message: "empty entry", result: resultDenied},
		{
			name: "API errors are errors, not denials", namespace: "shop", pod: testPod("tmobile"), code: http.StatusInternalServerError,
			funcs: &interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return errors.New("etcd is on fire")
			}},
			message: `read binding "tmobile" in namespace "shop": etcd is on fire`, result: resultError,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(fakeReader(t, tc.funcs, &tm, &foreign), testOpts)
			req := admissionRequest(t, tc.namespace, tc.pod)
			before := observations(t, tc.result)
			resp := h.Handle(context.Background(), req)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (result %+v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if tc.code != 0 && (resp.Result == nil || resp.Result.Code != tc.code) {
				t.Errorf("result = %+v, want code %d", resp.Result, tc.code)
			}
			if tc.message != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tc.message)) {
				t.Errorf("result = %+v, want message containing %q", resp.Result, tc.message)
			}
			if got := len(resp.Patches) > 0; got != tc.patched {
				t.Fatalf("patched = %v, want %v", got, tc.patched)
			}
			if got := observations(t, tc.result); got != before+1 {
				t.Errorf("%s observations went from %d to %d, want one more", tc.result, before, got)
			}
			if !tc.patched {
				return
			}
			// Apply the patch as the API server would and check the result
			// is exactly what Mutate produces.
			patchJSON, err := json.Marshal(resp.Patches)
			if err != nil {
				t.Fatal(err)
			}
			p, err := jsonpatch.DecodePatch(patchJSON)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := p.Apply(req.Object.Raw)
			if err != nil {
				t.Fatalf("patch does not apply: %v", err)
			}
			var got corev1.Pod
			if err := json.Unmarshal(patched, &got); err != nil {
				t.Fatal(err)
			}
			if got.Namespace != tc.pod.Namespace {
				t.Errorf("patch changed the namespace to %q", got.Namespace)
			}
			want := tc.pod.DeepCopy()
			want.Namespace = tc.namespace
			wantPod, err := Mutate(want, []v1alpha1.OAuthClientBinding{tm}, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			wantPod.Namespace = tc.pod.Namespace
			if a, b := mustJSON(t, wantPod), mustJSON(t, &got); a != b {
				t.Errorf("patched pod differs from Mutate's:\n%s", lineDiff(a, b))
			}
		})
	}
}

// observations is the histogram's sample count for one result label.
func observations(t *testing.T, result string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := admissionDuration.WithLabelValues(result).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkMutate measures one injection of two bindings (a TAAP binding
// with three Secrets and a token-exchange binding), the webhook's hot path.
func BenchmarkMutate(b *testing.B) {
	a := newCRDAdmitter(b)
	var bs []v1alpha1.OAuthClientBinding
	for _, f := range []string{"taap.yaml", "token-exchange-rfc8693.yaml"} {
		bs = append(bs, loadExample(b, a, "../../examples/bindings/"+f).bindings...)
	}
	pod := testPod("tmobile,federated")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Mutate(pod, bs, testOpts); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHistogramRegisteredOnControllerRuntimeRegistry(t *testing.T) {
	admissionDuration.WithLabelValues(resultSkipped) // make sure a series exists
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "oauth_injector_webhook_admission_duration_seconds" {
			return
		}
	}
	t.Fatal("oauth_injector_webhook_admission_duration_seconds is not on controller-runtime's metrics.Registry")
}
