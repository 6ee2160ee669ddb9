// Package certs provides the webhook server's serving certificate in one of
// three modes and tells the caller when it is usable:
//
//   - self: github.com/open-policy-agent/cert-controller keeps a CA and a
//     serving certificate in a Secret, rotates them before they expire and
//     patches the CA into the MutatingWebhookConfiguration's caBundle. The
//     process copies the serving pair from the Secret into the cert directory
//     itself, so it works both in a pod (emptyDir) and as a local dev process
//     where no kubelet mounts anything.
//   - cert-manager and files: something else (cert-manager's Certificate plus
//     cainjector, or an operator) puts tls.crt/tls.key into the cert
//     directory and the caBundle into the webhook configuration; this package
//     only waits for the files.
//
// The returned channel gates the webhook server and the readyz check, so a
// replica never reports ready (and never gets traffic) without a certificate
// the API server trusts.
package certs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Mode selects who provides the serving certificate.
type Mode string

// The certificate modes accepted by --cert-mode.
const (
	ModeSelf        Mode = "self"
	ModeCertManager Mode = "cert-manager"
	ModeFiles       Mode = "files"
)

// File names inside the cert directory and the Secret; they are what
// controller-runtime's webhook server and kubernetes.io/tls Secrets use.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	// CAFile is the CA certificate key in the self-mode Secret (written by
	// cert-controller).
	CAFile = "ca.crt"
)

// ParseMode validates a --cert-mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeSelf, ModeCertManager, ModeFiles:
		return m, nil
	default:
		return "", fmt.Errorf("--cert-mode: %q is not one of self, cert-manager, files", s)
	}
}

// Options configures Setup.
type Options struct {
	Mode Mode
	// CertDir holds tls.crt and tls.key for the webhook server.
	CertDir string
	// Namespace and SecretName locate the self-mode Secret.
	Namespace  string
	SecretName string
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle
	// self mode keeps in sync.
	WebhookConfigName string
	// DNSName is the serving certificate's DNS name: the Service's
	// <svc>.<ns>.svc in a cluster, localhost for a local dev process.
	DNSName string
	// PollInterval is how often the cert files are (re)synced or checked;
	// defaults to 5s. A CA rotation swaps the caBundle at once, so this is
	// the longest window in which the API server may distrust the old pair.
	PollInterval time.Duration
}

func (o *Options) validate() error {
	if o.CertDir == "" {
		return errors.New("--cert-dir: must not be empty")
	}
	if o.Mode != ModeSelf {
		return nil
	}
	var missing []string
	if o.Namespace == "" {
		missing = append(missing, "--namespace")
	}
	if o.SecretName == "" {
		missing = append(missing, "--cert-secret-name")
	}
	if o.WebhookConfigName == "" {
		missing = append(missing, "--webhook-config-name")
	}
	if o.DNSName == "" {
		missing = append(missing, "--service-dns-name")
	}
	if len(missing) > 0 {
		return fmt.Errorf("--cert-mode=self needs %v", missing)
	}
	return nil
}

// Setup registers with mgr whatever mode o.Mode needs and returns a channel
// that is closed once the serving certificate is in o.CertDir (and, in self
// mode, its CA is in the webhook configuration's caBundle). In self mode it
// creates the (empty) Secret when it does not exist yet, because
// cert-controller only ever updates it.
func Setup(ctx context.Context, mgr manager.Manager, o Options) (<-chan struct{}, error) {
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Mode != ModeSelf {
		ready := make(chan struct{})
		if err := mgr.Add(&fileWaiter{dir: o.CertDir, interval: o.PollInterval, ready: ready}); err != nil {
			return nil, fmt.Errorf("adding cert file waiter: %w", err)
		}
		return ready, nil
	}

	key := types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
	if err := ensureSecret(ctx, mgr.GetAPIReader(), mgr.GetClient(), key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.CertDir, 0o700); err != nil {
		return nil, fmt.Errorf("--cert-dir %s: %w", o.CertDir, err)
	}
	ready := make(chan struct{})
	cr := &rotator.CertRotator{
		SecretKey:      key,
		CertDir:        o.CertDir,
		CAName:         "oauth-injector-ca",
		CAOrganization: "oauth-injector",
		DNSName:        o.DNSName,
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: o.WebhookConfigName, Type: rotator.Mutating}},
		FieldOwner:     "oauth-injector",
		// Every replica serves admission requests, so every replica needs
		// the certificate; concurrent writers are safe because the rotator
		// updates the Secret with its resourceVersion and retries.
		RequireLeaderElection: false,
	}
	if err := rotator.AddRotator(mgr, cr); err != nil {
		return nil, fmt.Errorf("adding cert rotator: %w", err)
	}
	if writable(o.CertDir) {
		syncer := &fileSyncer{reader: mgr.GetAPIReader(), key: key, dir: o.CertDir, interval: o.PollInterval}
		if err := mgr.Add(syncer); err != nil {
			return nil, fmt.Errorf("adding cert file syncer: %w", err)
		}
	}
	// A read-only cert dir is the Secret mounted by the kubelet, which then
	// does the syncing itself.
	return ready, nil
}

func ensureSecret(ctx context.Context, r client.Reader, w client.Writer, key types.NamespacedName) error {
	var s corev1.Secret
	err := r.Get(ctx, key, &s)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading cert secret %s: %w", key, err)
	}
	s = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace,
			Name:      key.Name,
			Labels:    map[string]string{"app.kubernetes.io/managed-by": "oauth-injector"},
		},
		Type: corev1.SecretTypeOpaque,
	}
	if err := w.Create(ctx, &s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating cert secret %s: %w", key, err)
	}
	return nil
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	_ = f.Close()
	_ = os.Remove(name)
	return true
}

// Gate wraps a runnable so it starts only after ready is closed. The webhook
// server needs it: it loads its certificate when it starts and fails if the
// files are not there yet.
func Gate(ready <-chan struct{}, r manager.Runnable) manager.Runnable {
	return &gated{ready: ready, r: r}
}

type gated struct {
	ready <-chan struct{}
	r     manager.Runnable
}

func (g *gated) Start(ctx context.Context) error {
	select {
	case <-g.ready:
	case <-ctx.Done():
		return nil
	}
	return g.r.Start(ctx)
}

// NeedLeaderElection is false: the gated runnables (the webhook server) run
// on every replica.
func (g *gated) NeedLeaderElection() bool { return false }

// ReadyzCheck fails until ready is closed.
func ReadyzCheck(ready <-chan struct{}) func(*http.Request) error {
	return func(*http.Request) error {
		select {
		case <-ready:
			return nil
		default:
			return errors.New("webhook serving certificate is not in place yet")
		}
	}
}

func certFilesPresent(dir string) bool {
	for _, n := range []string{CertFile, KeyFile} {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil || st.Size() == 0 {
			return false
		}
	}
	return true
}
