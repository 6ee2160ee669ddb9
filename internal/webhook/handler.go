package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// Admission outcomes, the "result" label of the latency histogram.
const (
	resultSkipped = "skipped" // no annotation, already injected, or not a create
	resultPatched = "patched"
	resultDenied  = "denied"
	resultError   = "error"
)

var admissionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "oauth_injector_webhook_admission_duration_seconds",
	Help:    "Time to handle one pod admission request, by result (skipped, patched, denied, error).",
	Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
}, []string{"result"})

func init() {
	metrics.Registry.MustRegister(admissionDuration)
}

type handler struct {
	reader  client.Reader
	opts    Options
	decoder admission.Decoder
	now     func() time.Time
}

// NewHandler returns the pod-mutating admission handler. It reads the
// bindings named in the pod's annotation from the admission request's
// namespace with c (a cached client needs an informer for
// OAuthClientBindings) and applies Mutate.
func NewHandler(c client.Reader, opts Options) admission.Handler {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s) // cannot fail for a fresh scheme
	return &handler{reader: c, opts: opts, decoder: admission.NewDecoder(s), now: time.Now}
}

func (h *handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := h.now()
	resp, result := h.handle(ctx, req)
	admissionDuration.WithLabelValues(result).Observe(h.now().Sub(start).Seconds())
	return resp
}

func (h *handler) handle(ctx context.Context, req admission.Request) (admission.Response, string) {
	if req.Kind.Kind != "" && (req.Kind.Group != "" || req.Kind.Kind != "Pod") {
		return admission.Allowed("not a pod"), resultSkipped
	}
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err)), resultError
	}
	// Pods created by a controller have no name yet and may omit the
	// namespace; the request's namespace is authoritative.
	origNamespace := pod.Namespace
	if req.Namespace != "" {
		pod.Namespace = req.Namespace
	}
	if pod.Annotations[v1alpha1.AnnotationStatus] == v1alpha1.StatusInjected {
		return admission.Allowed("already injected"), resultSkipped
	}
	names, ok, err := RequestedBindings(pod)
	if !ok {
		return admission.Allowed("no bindings requested"), resultSkipped
	}
	if err != nil {
		return denied(err), resultDenied
	}
	bindings := make([]v1alpha1.OAuthClientBinding, 0, len(names))
	for _, n := range names {
		var b v1alpha1.OAuthClientBinding
		err := h.reader.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: n}, &b)
		if apierrors.IsNotFound(err) {
			continue // Mutate reports it with what to fix
		}
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("read binding %q in namespace %q: %w", n, pod.Namespace, err)), resultError
		}
		bindings = append(bindings, b)
	}
	mutated, err := Mutate(pod, bindings, h.opts)
	if err != nil {
		var d *Denial
		if errors.As(err, &d) {
			return denied(d), resultDenied
		}
		return admission.Errored(http.StatusInternalServerError, err), resultError
	}
	// Only the injection belongs in the patch, not the namespace we filled in.
	mutated.Namespace = origNamespace
	raw, err := json.Marshal(mutated)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("marshal mutated pod: %w", err)), resultError
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw), resultPatched
}

func denied(err error) admission.Response {
	return admission.Denied(err.Error())
}
