package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/certs"
)

// Fixed names other components rely on.
const (
	// WebhookPath is where the pod-mutating webhook is served; the chart's
	// MutatingWebhookConfiguration points here.
	WebhookPath = "/mutate-v1-pod"
	// LeaderElectionID names the Lease that elects the reconciling replica.
	LeaderElectionID = "oauth-injector-controller.oauth.injector.dev"
	// ControllerName is the reconciler's name and the Events' reporting
	// controller.
	ControllerName = "oauth-injector"
)

// NewScheme returns a scheme with the built-in types and OAuthClientBinding.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// ManagerOptions are the manager binary's settings (cmd/webhook's flags).
type ManagerOptions struct {
	WebhookPort            int
	Certs                  certs.Options
	LeaderElect            bool
	MetricsBindAddress     string
	HealthProbeBindAddress string
	Reconciler             Options
	// NewWebhookHandler builds the admission handler from a reader of
	// bindings (the manager's cached client). Nil serves no webhook path,
	// which only tests of the reconciler want.
	NewWebhookHandler func(client.Reader) admission.Handler
}

// NewManager builds the manager: the webhook server on every replica once
// its certificate is in place, the binding reconciler on the leader only,
// certificates per opts.Certs, metrics, and healthz/readyz.
func NewManager(ctx context.Context, cfg *rest.Config, o ManagerOptions) (manager.Manager, error) {
	if o.Certs.Namespace == "" && o.LeaderElect {
		return nil, errors.New("--namespace: required with --leader-elect (the Lease lives there)")
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  NewScheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.Certs.Namespace,
		// The process exits right after the manager stops, so handing the
		// Lease over at once shortens failover.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         CacheOptions(),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}

	ready, err := certs.Setup(ctx, mgr, o.Certs)
	if err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("certs", certs.ReadyzCheck(ready)); err != nil {
		return nil, fmt.Errorf("adding readyz check: %w", err)
	}

	if o.NewWebhookHandler != nil {
		srv := webhook.NewServer(webhook.Options{Port: o.WebhookPort, CertDir: o.Certs.CertDir})
		srv.Register(WebhookPath, &admission.Webhook{Handler: o.NewWebhookHandler(mgr.GetClient())})
		// Gated: the server loads its certificate when it starts.
		if err := mgr.Add(certs.Gate(ready, srv)); err != nil {
			return nil, fmt.Errorf("adding webhook server: %w", err)
		}
		if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
			return nil, fmt.Errorf("adding readyz check: %w", err)
		}
		// Every replica answers admission requests but only the leader
		// runs the reconciler, whose watch would otherwise be what starts
		// the binding informer; start it with the cache so the first
		// admission request does not wait for a list.
		if _, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.OAuthClientBinding{}); err != nil {
			return nil, fmt.Errorf("binding informer: %w", err)
		}
	}

	ro := o.Reconciler
	if ro.WebhookReady == nil {
		ro.WebhookReady = func() bool {
			select {
			case <-ready:
				return true
			default:
				return false
			}
		}
	}
	if err := SetupWithManager(ctx, mgr, ro); err != nil {
		return nil, err
	}
	return mgr, nil
}

// CacheOptions keep only what the controller reads of a pod (metadata and
// phase): the pod informer covers every pod in the cluster, and specs and
// statuses are most of their size.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Transform: stripPod},
		},
	}
}

func stripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	p.ManagedFields = nil
	p.Spec = corev1.PodSpec{}
	p.Status = corev1.PodStatus{Phase: p.Status.Phase}
	return p, nil
}

// SetupWithManager registers the binding reconciler: bindings and pods are
// watched through the cache; Secrets are read uncached on every reconcile
// and re-checked every o.ResyncPeriod, so the RBAC needs only `get` on
// Secrets and no Secret informer holds every Secret of the cluster in
// memory.
func SetupWithManager(ctx context.Context, mgr manager.Manager, o Options) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, podBindingIndex, indexPodBindings); err != nil {
		return fmt.Errorf("indexing pods by binding: %w", err)
	}
	r := NewBindingReconciler(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder(ControllerName), o)
	err := builder.ControllerManagedBy(mgr).
		Named(ControllerName).
		// Status writes do not bump the generation; reacting to them would
		// only re-run an identical reconcile.
		For(&v1alpha1.OAuthClientBinding{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Pod{},
			handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
				return bindingRequests(o)
			}),
			builder.WithPredicates(annotatedPod{})).
		Complete(r)
	if err != nil {
		return fmt.Errorf("building binding controller: %w", err)
	}
	return nil
}

// annotatedPod passes pod events for pods that name a binding (before or
// after an update), which are the only ones that change a count.
type annotatedPod struct{ predicate.Funcs }

func named(o client.Object) bool {
	if o == nil {
		return false
	}
	_, ok := o.GetAnnotations()[v1alpha1.AnnotationBindings]
	return ok
}

func (annotatedPod) Create(e event.CreateEvent) bool   { return named(e.Object) }
func (annotatedPod) Delete(e event.DeleteEvent) bool   { return named(e.Object) }
func (annotatedPod) Generic(e event.GenericEvent) bool { return named(e.Object) }
func (annotatedPod) Update(e event.UpdateEvent) bool {
	return named(e.ObjectOld) || named(e.ObjectNew)
}
