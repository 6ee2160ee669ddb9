package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	podwebhook "github.com/oauth-injector/oauth-injector/internal/webhook"
)

// Event reasons besides the condition reasons.
const (
	// EventReasonMissedInjection is recorded once per pod that names a
	// binding but was admitted without the sidecar.
	EventReasonMissedInjection = "MissedInjection"
	// EventReasonReady is the Normal event for a binding becoming Ready.
	EventReasonReady = "Ready"
)

// Options tunes the binding reconciler.
type Options struct {
	// RecreateMissedPods deletes missed pods that a controller owns, so
	// they come back through the webhook. Bare pods are never deleted.
	RecreateMissedPods bool
	// ResyncPeriod re-checks Secrets, which are not watched. Default 1m.
	ResyncPeriod time.Duration
	// RecreateBackoff is the least time between two deletions of pods of
	// the same owner. If the API server keeps skipping the webhook (it is
	// unreachable from there) every replacement is missed again; this turns
	// what would be a tight delete loop into one pod per owner per period.
	// Default 5m.
	RecreateBackoff time.Duration
	// WebhookReady, when set, must report true before any pod is deleted:
	// recreating a pod while this replica cannot serve admission requests
	// would just miss again.
	WebhookReady func() bool
	// SecretAccess limits the namespaces whose Secrets are read; the zero
	// value reads them everywhere.
	SecretAccess SecretAccess
}

// BindingReconciler reconciles one OAuthClientBinding.
type BindingReconciler struct {
	client   client.Client
	secrets  client.Reader
	recorder events.EventRecorder
	opts     Options
	now      func() time.Time

	// warned remembers pods that already got their MissedInjection Event
	// (bounded: the worst case after eviction is a second Event).
	warned *lru.Cache[types.UID, struct{}]

	mu sync.Mutex
	// lastRecreate is owner UID → time of the last deletion of one of its
	// missed pods.
	lastRecreate map[types.UID]time.Time
}

// NewBindingReconciler returns a reconciler that reads bindings and pods
// through c (cached), Secrets and fresh bindings through apiReader
// (uncached, so the manager never starts a Secret informer), and records
// Events with rec.
func NewBindingReconciler(c client.Client, apiReader client.Reader, rec events.EventRecorder, opts Options) *BindingReconciler {
	if opts.ResyncPeriod <= 0 {
		opts.ResyncPeriod = time.Minute
	}
	if opts.RecreateBackoff <= 0 {
		opts.RecreateBackoff = 5 * time.Minute
	}
	warned, _ := lru.New[types.UID, struct{}](10000) // only errors on size <= 0
	return &BindingReconciler{
		client:       c,
		secrets:      apiReader,
		recorder:     rec,
		opts:         opts,
		now:          time.Now,
		warned:       warned,
		lastRecreate: map[types.UID]time.Time{},
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *BindingReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logf.FromContext(ctx)
	var b v1alpha1.OAuthClientBinding
	if err := r.client.Get(ctx, req.NamespacedName, &b); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}

	cond, err := r.readiness(ctx, &b)
	if err != nil {
		return reconcile.Result{}, err
	}
	counts, err := r.handlePods(ctx, &b)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writeStatus(ctx, &b, cond, counts); err != nil {
		if errors.Is(err, errStaleGeneration) {
			log.V(1).Info("binding changed while reconciling; the watch requeues it")
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.requeueAfter(cond)}, nil
}

// missingRecheck is how soon a binding whose Secret or key is missing is
// checked again. `kubectl apply -f` of one file creates the binding and its
// Secrets in file order, often binding first; Secrets are not watched, so
// without this the binding would report SecretNotFound for a whole resync.
const missingRecheck = 5 * time.Second

func (r *BindingReconciler) requeueAfter(cond metav1.Condition) time.Duration {
	if (cond.Reason == v1alpha1.ReasonSecretNotFound || cond.Reason == v1alpha1.ReasonKeyMissing) && missingRecheck < r.opts.ResyncPeriod {
		return missingRecheck
	}
	return r.opts.ResyncPeriod
}

// readiness computes the Ready condition.
func (r *BindingReconciler) readiness(ctx context.Context, b *v1alpha1.OAuthClientBinding) (metav1.Condition, error) {
	cond := metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		ObservedGeneration: b.Generation,
	}
	// The webhook would deny every pod naming a binding that does not
	// render into a valid sidecar config; say so on the binding first.
	if err := podwebhook.ValidateBinding(b); err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, err.Error()
		return cond, nil
	}
	reqs, err := requirements(&b.Spec)
	if err != nil {
		var se *specError
		if !errors.As(err, &se) {
			return cond, err
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, se.msg
		return cond, nil
	}
	if len(reqs) > 0 && !r.opts.SecretAccess.Allows(b.Namespace) {
		// Not an error: retrying cannot help until the chart's
		// secretAccess.namespaces changes, which restarts the controller.
		cond.Status, cond.Reason = metav1.ConditionUnknown, v1alpha1.ReasonNamespaceNotWatched
		cond.Message = fmt.Sprintf("the controller does not read Secrets in namespace %q (secretAccess.mode=%s lists: %s), so the %d referenced secret keys are not checked; pods are still injected and the kubelet refuses to start one whose Secret or key is missing. Add the namespace to secretAccess.namespaces to have them checked",
			b.Namespace, SecretAccessNamespaces, r.opts.SecretAccess, countKeys(reqs))
		return cond, nil
	}
	problem, err := checkSecrets(ctx, r.secrets, b.Namespace, reqs)
	if err != nil {
		return cond, err
	}
	if problem != nil {
		cond.Status, cond.Reason, cond.Message = problem.status(), problem.reason, problem.message
		return cond, nil
	}
	cond.Status, cond.Reason = metav1.ConditionTrue, v1alpha1.ReasonValid
	cond.Message = fmt.Sprintf("all %d referenced secret keys are present and usable", countKeys(reqs))
	return cond, nil
}

func countKeys(reqs []secretRequirement) int {
	n := 0
	for _, r := range reqs {
		n += len(r.keys)
	}
	return n
}

type podCounts struct {
	injected, outdated, missed int32
}

// handlePods counts the pods naming the binding and deals with missed ones.
func (r *BindingReconciler) handlePods(ctx context.Context, b *v1alpha1.OAuthClientBinding) (podCounts, error) {
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(b.Namespace), client.MatchingFields{podBindingIndex: b.Name}); err != nil {
		return podCounts{}, fmt.Errorf("listing pods naming binding %s: %w", b.Name, err)
	}
	var c podCounts
	for i := range pods.Items {
		p := &pods.Items[i]
		if !p.DeletionTimestamp.IsZero() || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			// Going or gone: neither running an old config nor in need
			// of a sidecar.
			continue
		}
		switch classifyPod(p.Annotations, b.Name, b.Generation) {
		case podInjected:
			c.injected++
		case podOutdated:
			c.injected++
			c.outdated++
		case podMissed:
			c.missed++
			if err := r.handleMissed(ctx, b, p); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

func (r *BindingReconciler) handleMissed(ctx context.Context, b *v1alpha1.OAuthClientBinding, p *corev1.Pod) error {
	log := logf.FromContext(ctx).WithValues("pod", client.ObjectKeyFromObject(p))
	owner := metav1.GetControllerOf(p)
	recreate := r.opts.RecreateMissedPods && owner != nil
	if _, seen := r.warned.Get(p.UID); !seen {
		r.warned.Add(p.UID, struct{}{})
		note := fmt.Sprintf("pod asks for bindings %q (annotation %s) but was admitted without the oauth-injector sidecar, probably while the webhook was unavailable; ",
			p.Annotations[v1alpha1.AnnotationBindings], v1alpha1.AnnotationBindings)
		switch {
		case recreate:
			note += fmt.Sprintf("it will be deleted so its %s %s recreates it with the sidecar", owner.Kind, owner.Name)
		case owner != nil:
			note += fmt.Sprintf("delete it so its %s %s recreates it (or enable recreateMissedPods)", owner.Kind, owner.Name)
		default:
			note += "it has no controller, so recreate it yourself"
		}
		r.recorder.Eventf(p, b, corev1.EventTypeWarning, EventReasonMissedInjection, "Admit", note)
	}
	if !recreate {
		return nil
	}
	if r.opts.WebhookReady != nil && !r.opts.WebhookReady() {
		log.Info("not recreating missed pod: this replica's webhook is not ready")
		return nil
	}
	if !r.mayRecreate(owner.UID) {
		log.V(1).Info("not recreating missed pod yet: another pod of the same owner was recreated recently", "owner", owner.Name)
		return nil
	}
	uid := p.UID
	err := r.client.Delete(ctx, p, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting missed pod %s: %w", p.Name, err)
	}
	log.Info("deleted missed pod so its controller recreates it", "owner", owner.Kind+"/"+owner.Name, "binding", b.Name)
	return nil
}

// mayRecreate reports whether a pod of owner may be deleted now and, if so,
// records the deletion.
func (r *BindingReconciler) mayRecreate(owner types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for k, t := range r.lastRecreate {
		if now.Sub(t) >= r.opts.RecreateBackoff {
			delete(r.lastRecreate, k)
		}
	}
	if _, recent := r.lastRecreate[owner]; recent {
		return false
	}
	r.lastRecreate[owner] = now
	return true
}

var errStaleGeneration = errors.New("binding generation changed during reconcile")

// writeStatus writes the status through the status subresource, retrying
// on conflicts against a fresh read, and records an Event when the Ready
// condition changes status or reason. The Event is recorded after the write
// succeeded, so a retry never doubles it and a restart does not repeat it
// (the previous state is read from the object, not from memory).
func (r *BindingReconciler) writeStatus(ctx context.Context, b *v1alpha1.OAuthClientBinding, cond metav1.Condition, c podCounts) error {
	var prev *metav1.Condition
	var current v1alpha1.OAuthClientBinding
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current = v1alpha1.OAuthClientBinding{}
		if err := r.secrets.Get(ctx, client.ObjectKeyFromObject(b), &current); err != nil {
			return err
		}
		if current.Generation != b.Generation {
			return errStaleGeneration
		}
		prev = meta.FindStatusCondition(current.Status.Conditions, v1alpha1.ConditionReady).DeepCopy()
		old := current.Status.DeepCopy()
		st := &current.Status
		st.ObservedGeneration = b.Generation
		meta.SetStatusCondition(&st.Conditions, cond)
		st.InjectedPods, st.OutdatedPods, st.MissedPods = c.injected, c.outdated, c.missed
		if equality.Semantic.DeepEqual(old, st) {
			changed = false
			return nil
		}
		changed = true
		return r.client.Status().Update(ctx, &current)
	})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		if errors.Is(err, errStaleGeneration) {
			return err
		}
		return fmt.Errorf("updating status of binding %s: %w", b.Name, err)
	}
	if changed && (prev == nil || prev.Status != cond.Status || prev.Reason != cond.Reason) {
		if cond.Status == metav1.ConditionTrue {
			r.recorder.Eventf(&current, nil, corev1.EventTypeNormal, EventReasonReady, "Validate", "%s", cond.Message)
		} else {
			r.recorder.Eventf(&current, nil, corev1.EventTypeWarning, cond.Reason, "Validate", "%s", cond.Message)
		}
	}
	return nil
}

// podBindingIndex indexes pods by the binding names in their annotation.
const podBindingIndex = "oauth.injector.dev/binding-names"

func indexPodBindings(o client.Object) []string {
	v, ok := o.GetAnnotations()[v1alpha1.AnnotationBindings]
	if !ok {
		return nil
	}
	return bindingNames(v)
}

// bindingRequests maps a pod to the bindings named in its annotation.
func bindingRequests(o client.Object) []reconcile.Request {
	names := indexPodBindings(o)
	reqs := make([]reconcile.Request, 0, len(names))
	for _, n := range names {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: n}})
	}
	return reqs
}
