// Command webhook is oauth-injector's manager binary: the pod-mutating
// admission webhook (every replica), the OAuthClientBinding controller (the
// leader) and the webhook's certificates. The wiring lives in
// internal/controller; this file only parses flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/oauth-injector/oauth-injector/internal/certs"
	"github.com/oauth-injector/oauth-injector/internal/controller"
	"github.com/oauth-injector/oauth-injector/internal/webhook"
)

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

// run parses args and runs the manager until ctx ends.
func run(ctx context.Context, args []string) error {
	var (
		o          controller.ManagerOptions
		certMode   string
		sidecar    webhook.Options
		pullPolicy string
		logLevel   string
	)
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	config.RegisterFlags(fs) // --kubeconfig, read by ctrl.GetConfig
	fs.IntVar(&o.WebhookPort, "webhook-port", 9443, "port of the admission webhook server")
	fs.StringVar(&o.Certs.CertDir, "cert-dir", filepath.Join(os.TempDir(), "oauth-injector", "serving-certs"), "directory holding tls.crt and tls.key (written by this process in --cert-mode=self when writable)")
	fs.StringVar(&certMode, "cert-mode", string(certs.ModeSelf), "who provides the serving certificate: self (CA Secret + caBundle patching), cert-manager or files (read --cert-dir only)")
	fs.StringVar(&o.Certs.WebhookConfigName, "webhook-config-name", "oauth-injector", "MutatingWebhookConfiguration whose caBundle --cert-mode=self maintains")
	fs.StringVar(&o.Certs.SecretName, "cert-secret-name", "oauth-injector-webhook-cert", "Secret in --namespace holding the CA and serving certificate (--cert-mode=self)")
	fs.StringVar(&o.Certs.DNSName, "service-dns-name", "", "DNS name in the serving certificate: <service>.<namespace>.svc, or localhost in dev mode")
	fs.StringVar(&o.Certs.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the certificate Secret and the leader-election Lease (default $POD_NAMESPACE)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect one replica to run the binding controller; the webhook is served by all")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "metrics listen address; 0 disables")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "healthz/readyz listen address; 0 disables")
	fs.BoolVar(&o.Reconciler.RecreateMissedPods, "recreate-missed-pods", false, "delete pods admitted without the sidecar when a controller owns them, so they are recreated through the webhook")
	fs.DurationVar(&o.Reconciler.ResyncPeriod, "resync-period", time.Minute, "how often each binding's Secrets are re-checked")
	secretAccess := fs.String("secret-access", controller.SecretAccessCluster, "where the controller reads the Secrets bindings reference: cluster (every namespace) or namespaces (only --secret-namespaces; bindings elsewhere report NamespaceNotWatched)")
	secretNamespaces := fs.String("secret-namespaces", "", "comma-separated namespaces whose Secrets the controller reads with --secret-access=namespaces")
	fs.StringVar(&sidecar.Image, "sidecar-image", "", "image of the injected oauth-injector sidecar (required)")
	fs.StringVar(&pullPolicy, "sidecar-image-pull-policy", "", "imagePullPolicy of the injected sidecar (default: the kubelet's default for the tag)")
	fs.StringVar(&logLevel, "sidecar-log-level", "info", "log level written into the sidecar's config")
	cpu := fs.String("sidecar-cpu-request", "", "CPU request of the injected sidecar (default: the webhook's, 10m)")
	mem := fs.String("sidecar-memory-request", "", "memory request of the injected sidecar (default: the webhook's, 32Mi)")
	memLimit := fs.String("sidecar-memory-limit", "", "memory limit of the injected sidecar (default: the webhook's, 64Mi)")
	fs.StringVar(&sidecar.ProxyEnv.HTTPSProxy, "sidecar-https-proxy", "", "HTTPS_PROXY (http://host:port, no credentials) for sidecars with a binding whose proxy says fromEnvironment")
	fs.StringVar(&sidecar.ProxyEnv.HTTPProxy, "sidecar-http-proxy", "", "HTTP_PROXY (http://host:port, no credentials) for sidecars with a binding whose proxy says fromEnvironment")
	fs.StringVar(&sidecar.ProxyEnv.NoProxy, "sidecar-no-proxy", "", "NO_PROXY for sidecars with a binding whose proxy says fromEnvironment")
	zo := zap.Options{}
	zo.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))

	mode, err := certs.ParseMode(certMode)
	if err != nil {
		return err
	}
	o.Certs.Mode = mode
	var nsList []string
	if *secretNamespaces != "" {
		nsList = strings.Split(*secretNamespaces, ",")
	}
	if o.Reconciler.SecretAccess, err = controller.ParseSecretAccess(*secretAccess, nsList); err != nil {
		return err
	}
	ctrl.Log.Info("secret access", "mode", *secretAccess, "namespaces", o.Reconciler.SecretAccess.String())
	if sidecar.Image == "" {
		return fmt.Errorf("--sidecar-image: required")
	}
	if err := sidecar.ProxyEnv.Validate(); err != nil {
		return err
	}
	sidecar.ImagePullPolicy = corev1.PullPolicy(pullPolicy)
	sidecar.LogLevel = logLevel
	sidecar.Resources, err = resources(*cpu, *mem, *memLimit)
	if err != nil {
		return err
	}
	o.NewWebhookHandler = func(c client.Reader) admission.Handler { return webhook.NewHandler(c, sidecar) }

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	mgr, err := controller.NewManager(ctx, cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// resources builds the sidecar's requirements from the flags that are set;
// an empty result keeps internal/webhook's defaults.
func resources(cpu, mem, memLimit string) (corev1.ResourceRequirements, error) {
	var r corev1.ResourceRequirements
	for _, f := range []struct {
		flag, value string
		list        *corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"sidecar-cpu-request", cpu, &r.Requests, corev1.ResourceCPU},
		{"sidecar-memory-request", mem, &r.Requests, corev1.ResourceMemory},
		{"sidecar-memory-limit", memLimit, &r.Limits, corev1.ResourceMemory},
	} {
		if f.value == "" {
			continue
		}
		q, err := resource.ParseQuantity(f.value)
		if err != nil {
			return r, fmt.Errorf("--%s: %q: %w", f.flag, f.value, err)
		}
		if *f.list == nil {
			*f.list = corev1.ResourceList{}
		}
		(*f.list)[f.name] = q
	}
	return r, nil
}
