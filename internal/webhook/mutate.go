package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// MaxBindings bounds how many bindings one pod may ask for: each is a
// listener, a token cache and a few volumes in one small sidecar.
const MaxBindings = 16

// sidecarUID is the sidecar's non-root user (distroless "nonroot").
const sidecarUID = 65532

// Options configure the injected sidecar.
type Options struct {
	// Image is the sidecar image, for example ghcr.io/oauth-injector/injector:v0.1.0.
	Image string
	// ImagePullPolicy defaults to the kubelet's default for the tag.
	ImagePullPolicy corev1.PullPolicy
	// Resources replaces the default requests (cpu 10m, memory 32Mi) and
	// limit (memory 64Mi) when it sets any request or limit.
	Resources corev1.ResourceRequirements
	// LogLevel is passed to the sidecar as OAUTH_INJECTOR_LOG_LEVEL.
	LogLevel string
	// ProxyEnv is set on sidecars with a proxy.fromEnvironment binding.
	ProxyEnv ProxyEnv
}

// Denial reasons, stable for metrics and tests.
const (
	ReasonBadAnnotation     = "BadAnnotation"
	ReasonTooManyBindings   = "TooManyBindings"
	ReasonBindingNotFound   = "BindingNotFound"
	ReasonWrongNamespace    = "WrongNamespace"
	ReasonServiceAccount    = "ServiceAccountNotAllowed"
	ReasonPortClash         = "PortClash"
	ReasonInvalidBinding    = "InvalidBinding"
	ReasonAlreadyHasSidecar = "SidecarNameClash"
	ReasonHostNetwork       = "HostNetwork"
)

// Denial is a refusal whose Message tells the user what to fix. The
// admission handler turns it into a denied response.
type Denial struct {
	Reason  string
	Message string
}

func (d *Denial) Error() string { return d.Message }

func deny(reason, format string, args ...any) *Denial {
	return &Denial{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// RequestedBindings parses the bindings annotation. ok is false when the pod
// does not ask for injection; a malformed value is a *Denial.
func RequestedBindings(pod *corev1.Pod) (names []string, ok bool, err error) {
	raw, ok := pod.Annotations[v1alpha1.AnnotationBindings]
	if !ok {
		return nil, false, nil
	}
	if strings.TrimSpace(raw) == "" {
		return nil, true, deny(ReasonBadAnnotation, "annotation %s is empty; list the OAuthClientBinding names to inject, comma-separated (for example \"tmobile,opengateway\"), or remove the annotation", v1alpha1.AnnotationBindings)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(raw, ",") {
		n := strings.TrimSpace(part)
		switch {
		case n == "":
			return nil, true, deny(ReasonBadAnnotation, "annotation %s=%q has an empty entry; separate binding names with single commas", v1alpha1.AnnotationBindings, raw)
		case len(n) > 63 || !labelRE.MatchString(n):
			return nil, true, deny(ReasonBadAnnotation, "annotation %s names %q, which is not a valid binding name (lowercase letters, digits and '-', at most 63 characters); fix the annotation", v1alpha1.AnnotationBindings, n)
		case seen[n]:
			return nil, true, deny(ReasonBadAnnotation, "annotation %s names binding %q twice; remove the duplicate", v1alpha1.AnnotationBindings, n)
		}
		seen[n] = true
		names = append(names, n)
	}
	if len(names) > MaxBindings {
		return nil, true, deny(ReasonTooManyBindings, "annotation %s names %d bindings; at most %d are supported per pod", v1alpha1.AnnotationBindings, len(names), MaxBindings)
	}
	return names, true, nil
}

// Mutate returns a copy of pod with the oauth-injector sidecar added for the
// bindings its annotation names, or a *Denial. It is pure: bindings are the
// OAuthClientBindings read from the pod's namespace (extra ones are
// ignored). A pod already marked injected, or one without the annotation, is
// returned unchanged.
func Mutate(pod *corev1.Pod, bindings []v1alpha1.OAuthClientBinding, opts Options) (*corev1.Pod, error) {
	if pod == nil {
		return nil, errors.New("webhook: nil pod")
	}
	out := pod.DeepCopy()
	if out.Annotations[v1alpha1.AnnotationStatus] == v1alpha1.StatusInjected {
		return out, nil
	}
	names, ok, err := RequestedBindings(out)
	if err != nil || !ok {
		return out, err
	}
	if out.Spec.HostNetwork {
		// On the host network the credential-adding listeners would sit on
		// the node's loopback, usable by every process on the node.
		return nil, deny(ReasonHostNetwork, "pod uses hostNetwork, where the sidecar's credential proxy on 127.0.0.1 would be reachable by every process on the node; remove hostNetwork or the %s annotation", v1alpha1.AnnotationBindings)
	}
	if err := checkProcessIsolation(out); err != nil {
		return nil, err
	}
	selected, err := selectBindings(out, names, bindings)
	if err != nil {
		return nil, err
	}
	if err := checkPorts(out, selected); err != nil {
		return nil, err
	}
	for _, c := range append(append([]corev1.Container(nil), out.Spec.InitContainers...), out.Spec.Containers...) {
		if c.Name == v1alpha1.SidecarContainerName {
			return nil, deny(ReasonAlreadyHasSidecar, "the pod already has a container named %q but no %s annotation; rename that container", v1alpha1.SidecarContainerName, v1alpha1.AnnotationStatus)
		}
	}
	cfg, vols, mounts, err := RenderConfig(out, selected)
	if err != nil {
		return nil, err
	}
	maskVol, maskMount := serviceAccountMask()
	vols, mounts = append(vols, maskVol), append(mounts, maskMount)
	existing := map[string]bool{}
	for _, v := range out.Spec.Volumes {
		existing[v.Name] = true
	}
	for _, v := range vols {
		if existing[v.Name] {
			return nil, deny(ReasonAlreadyHasSidecar, "the pod already has a volume named %q, which the injector needs; rename that volume", v.Name)
		}
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("webhook: marshal sidecar config: %w", err)
	}
	sc := sidecar(string(cfgJSON), mounts, opts)
	sc.Env = append(sc.Env, opts.ProxyEnv.vars(cfg)...)
	out.Spec.InitContainers = append([]corev1.Container{sc}, out.Spec.InitContainers...)
	out.Spec.Volumes = append(out.Spec.Volumes, vols...)
	for i := range out.Spec.Containers {
		for _, b := range selected {
			setEnv(&out.Spec.Containers[i], EnvVarName(b.Name), fmt.Sprintf("http://127.0.0.1:%d", b.Spec.ListenPort))
		}
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[v1alpha1.AnnotationStatus] = v1alpha1.StatusInjected
	gens := make([]string, len(selected))
	for i, b := range selected {
		gens[i] = b.Name + "=" + strconv.FormatInt(b.Generation, 10)
	}
	out.Annotations[v1alpha1.AnnotationGenerations] = strings.Join(gens, ",")
	return out, nil
}

// EnvVarName is the app-facing variable holding a binding's local URL.
func EnvVarName(binding string) string {
	return "OAUTH_INJECTOR_" + strings.ToUpper(strings.ReplaceAll(binding, "-", "_")) + "_URL"
}

func selectBindings(pod *corev1.Pod, names []string, bindings []v1alpha1.OAuthClientBinding) ([]v1alpha1.OAuthClientBinding, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	selected := make([]v1alpha1.OAuthClientBinding, 0, len(names))
	for _, n := range names {
		var found *v1alpha1.OAuthClientBinding
		for i := range bindings {
			if bindings[i].Name != n {
				continue
			}
			if bindings[i].Namespace != "" && pod.Namespace != "" && bindings[i].Namespace != pod.Namespace {
				// The handler only reads the pod's namespace; this guards
				// against a caller that does not, since a binding grants
				// access to its namespace's Secrets.
				return nil, deny(ReasonWrongNamespace, "binding %q is in namespace %q but the pod is in %q; a pod may only use bindings in its own namespace", n, bindings[i].Namespace, pod.Namespace)
			}
			found = &bindings[i]
			break
		}
		if found == nil {
			return nil, deny(ReasonBindingNotFound, "binding %q named in annotation %s was not found in namespace %q; create it or fix the annotation", n, v1alpha1.AnnotationBindings, pod.Namespace)
		}
		if allowed := found.Spec.AllowedServiceAccounts; len(allowed) > 0 && !contains(allowed, sa) {
			return nil, deny(ReasonServiceAccount, "service account %q may not use binding %q; allowedServiceAccounts is [%s]", sa, n, strings.Join(allowed, ", "))
		}
		selected = append(selected, *found)
	}
	return selected, nil
}

// checkPorts refuses a binding port that another binding, an app container
// or the admin listener already uses: all containers share the pod's network
// namespace, so the sidecar would fail to bind at runtime.
func checkPorts(pod *corev1.Pod, bindings []v1alpha1.OAuthClientBinding) error {
	owner := map[int32]string{v1alpha1.AdminPort: "the sidecar's admin port"}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.ContainerPort == v1alpha1.AdminPort {
					return deny(ReasonPortClash, "container %q uses port %d, which the oauth-injector sidecar needs for its probes and metrics; change the container port", c.Name, p.ContainerPort)
				}
				owner[p.ContainerPort] = fmt.Sprintf("port %d of container %q", p.ContainerPort, c.Name)
			}
		}
	}
	for _, b := range bindings {
		if other, ok := owner[b.Spec.ListenPort]; ok {
			return deny(ReasonPortClash, "binding %q listenPort %d clashes with %s; change spec.listenPort of binding %q", b.Name, b.Spec.ListenPort, other, b.Name)
		}
		owner[b.Spec.ListenPort] = fmt.Sprintf("binding %q", b.Name)
	}
	return nil
}

func sidecar(cfgJSON string, mounts []corev1.VolumeMount, opts Options) corev1.Container {
	env := []corev1.EnvVar{
		{Name: ConfigEnv, Value: cfgJSON},
		// The limit, not a copy of it: a LimitRange or a later edit of the
		// pod's resources is what the kubelet enforces.
		{Name: MemoryLimitEnv, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
			ContainerName: v1alpha1.SidecarContainerName,
			Resource:      "limits.memory",
			Divisor:       resource.MustParse("1"),
		}}},
	}
	if opts.LogLevel != "" {
		env = append(env, corev1.EnvVar{Name: "OAUTH_INJECTOR_LOG_LEVEL", Value: opts.LogLevel})
	}
	admin := intstr.FromString("admin")
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: admin}},
			PeriodSeconds:    period,
			FailureThreshold: failures,
			TimeoutSeconds:   1,
		}
	}
	return corev1.Container{
		Name:            v1alpha1.SidecarContainerName,
		Image:           opts.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Args:            []string{"run"},
		Env:             env,
		Ports:           []corev1.ContainerPort{{Name: "admin", ContainerPort: v1alpha1.AdminPort, Protocol: corev1.ProtocolTCP}},
		// The app must not start before every binding holds a token, and
		// CIBA-free bindings normally get one within a second; allow five
		// minutes for a slow partner before the kubelet restarts us.
		StartupProbe:   probe("/startup", 1, 300),
		ReadinessProbe: probe("/readyz", 5, 3),
		LivenessProbe:  probe("/livez", 10, 3),
		Resources:      resources(opts.Resources),
		VolumeMounts:   mounts,
		RestartPolicy:  ptr(corev1.ContainerRestartPolicyAlways),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr(true),
			RunAsUser:                ptr(int64(sidecarUID)),
			RunAsGroup:               ptr(int64(sidecarUID)),
			ReadOnlyRootFilesystem:   ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			Privileged:               ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// ConfigEnv carries the rendered config; it holds file paths, never secrets.
const ConfigEnv = "OAUTH_INJECTOR_CONFIG"

// MemoryLimitEnv carries the sidecar's memory limit in bytes (downward API),
// from which it sizes GOMEMLIMIT and its request body buffers.
const MemoryLimitEnv = "OAUTH_INJECTOR_MEMORY_LIMIT"

func resources(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	if len(r.Requests) > 0 || len(r.Limits) > 0 {
		return *r.DeepCopy()
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("32Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
}

// setEnv sets name=value, replacing an existing definition so the app
// always sees the port the sidecar actually listens on.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
