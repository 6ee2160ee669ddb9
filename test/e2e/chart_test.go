package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/test/e2e/framework"
)

// repoRoot is the module root; go test runs in the package directory.
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}()

var chartDir = filepath.Join(repoRoot, "charts", "oauth-injector")

// needHelm returns the helm binary, skipping under the same rule as the
// control plane: only when neither KUBEBUILDER_ASSETS nor CI is set.
func needHelm(t *testing.T) string {
	t.Helper()
	bin, err := framework.HelmBinary()
	if err != nil {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" && os.Getenv("CI") == "" {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	return bin
}

// TestChartCRDsMatchConfig fails when charts/oauth-injector/crds drifts from
// the controller-gen output in config/crd (run `make generate`).
func TestChartCRDsMatchConfig(t *testing.T) {
	src, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "*.yaml"))
	if err != nil || len(src) == 0 {
		t.Fatalf("no CRDs in config/crd (err=%v)", err)
	}
	dst, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	want := map[string]bool{}
	for _, s := range src {
		want[filepath.Base(s)] = true
		a, _ := os.ReadFile(s)
		b, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(s)))
		if err != nil {
			t.Errorf("%s is missing from the chart: run `make generate`", filepath.Base(s))
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("charts/oauth-injector/crds/%s differs from config/crd: run `make generate`", filepath.Base(s))
		}
	}
	for _, d := range dst {
		if !want[filepath.Base(d)] {
			t.Errorf("charts/oauth-injector/crds/%s has no source in config/crd: delete it", filepath.Base(d))
		}
	}
}

func TestChartLint(t *testing.T) {
	helm := needHelm(t)
	for _, args := range [][]string{
		nil,
		{"--set", "certs.mode=certManager"},
		{"--set", "certs.mode=certManager", "--set", "certs.certManager.issuerRef.name=corp-ca", "--set", "certs.certManager.issuerRef.kind=ClusterIssuer"},
		{"--set", "webhook.devURL=https://localhost:9443/mutate-v1-pod", "--set", "replicas=0"},
		{"--set", "recreateMissedPods=true", "--set", "failurePolicy=Fail"},
		{"--set", "secretAccess.mode=namespaces", "--set", "secretAccess.namespaces={shop,billing}"},
	} {
		out, err := exec.Command(helm, append([]string{"lint", "--strict", chartDir}, args...)...).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("[WARNING]")) || bytes.Contains(out, []byte("[ERROR]")) {
			t.Errorf("helm lint --strict %v: %v\n%s", args, err, out)
		}
	}
}

// TestChartSchemaRejects checks the strict values schema refuses what the
// API server or the webhook would otherwise only fail on later.
func TestChartSchemaRejects(t *testing.T) {
	helm := needHelm(t)
	for _, tc := range []struct {
		set, want string
	}{
		{"timeoutSeconds=6", "maximum"},
		{"timeoutSeconds=0", "minimum"},
		{"failurePolicy=Maybe", "Ignore"},
		{"certs.mode=vault", "self"},
		{"typoValue=1", "additional properties 'typoValue' not allowed"},
		{"webhook.devURL=http://localhost:9443/mutate-v1-pod", "devURL"},
		{"replicas=-1", "minimum"},
		{"webhook.image.pullPolicy=Sometimes", "pullPolicy"},
		{"secretAccess.mode=some", "value must be one of 'cluster', 'namespaces'"},
		{"secretAccess.namespaces={Shop_1}", "'Shop_1' does not match pattern"},
		{"secretAccess.namespaces={a,a}", "/secretAccess/namespaces': items at 0 and 1 are equal"},
		// A list in cluster mode would be silently ignored.
		{"secretAccess.namespaces={shop}", "secretAccess.namespaces is only used with secretAccess.mode=namespaces"},
		// Credentials in a proxy URL would be in every injected pod spec.
		{"sidecar.proxyEnv.httpsProxy=http://user:pw@proxy.corp:3128", "/sidecar/proxyEnv/httpsProxy': 'http://user:pw@proxy.corp:3128' does not match pattern"},
		{"sidecar.proxyEnv.httpProxy=https://proxy.corp", "/sidecar/proxyEnv/httpProxy': 'https://proxy.corp' does not match pattern"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			out, err := exec.Command(helm, "template", "r", chartDir, "--kube-version", "1.37.2", "--set", tc.set).CombinedOutput()
			if err == nil {
				t.Fatalf("--set %s rendered; the schema should refuse it", tc.set)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("--set %s: error does not mention %q:\n%s", tc.set, tc.want, out)
			}
		})
	}
}

// rendered is the chart's output split into documents.
type rendered struct {
	raw  string
	objs []*unstructured.Unstructured
}

func renderChart(t *testing.T, helm string, set ...string) rendered {
	t.Helper()
	args := []string{"template", "rel", chartDir, "--namespace", "oi-system", "--kube-version", "1.37.2"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helm, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("helm template %v: %v\n%s", set, err, ee.Stderr)
		}
		t.Fatalf("helm template %v: %v", set, err)
	}
	r := rendered{raw: string(out)}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, context.Canceled) || err.Error() == "EOF" {
				break
			}
			t.Fatalf("decoding helm output: %v", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		r.objs = append(r.objs, u)
	}
	return r
}

func (r rendered) find(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s %s is not a valid %T: %v", u.GetKind(), u.GetName(), v, err)
	}
	return &v
}

func one[T any](t *testing.T, r rendered, kind string) *T {
	t.Helper()
	objs := r.find(kind)
	if len(objs) != 1 {
		t.Fatalf("rendered %d %s objects, want 1", len(objs), kind)
	}
	return convert[T](t, objs[0])
}

func TestChartRenderDefaults(t *testing.T) {
	helm := needHelm(t)
	r := renderChart(t, helm)

	mwc := one[admissionv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration")
	if mwc.Name != "rel-oauth-injector" {
		t.Errorf("webhook configuration name = %q; cmd/webhook is told rel-oauth-injector", mwc.Name)
	}
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(mwc.Webhooks))
	}
	wh := mwc.Webhooks[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"failurePolicy", *wh.FailurePolicy, admissionv1.Ignore},
		{"sideEffects", *wh.SideEffects, admissionv1.SideEffectClassNone},
		{"timeoutSeconds", *wh.TimeoutSeconds, int32(5)},
		{"reinvocationPolicy", *wh.ReinvocationPolicy, admissionv1.IfNeededReinvocationPolicy},
		{"admissionReviewVersions", strings.Join(wh.AdmissionReviewVersions, ","), "v1"},
		{"service.name", wh.ClientConfig.Service.Name, "rel-oauth-injector"},
		{"service.path", *wh.ClientConfig.Service.Path, "/mutate-v1-pod"},
		{"service.port", *wh.ClientConfig.Service.Port, int32(443)},
		{"objectSelector", wh.ObjectSelector == nil, true},
		{"rules", len(wh.Rules) == 1 && len(wh.Rules[0].Operations) == 1 && wh.Rules[0].Operations[0] == admissionv1.Create && wh.Rules[0].Resources[0] == "pods", true},
		{"namespaceSelector", len(wh.NamespaceSelector.MatchExpressions) == 1 &&
			wh.NamespaceSelector.MatchExpressions[0].Key == "kubernetes.io/metadata.name" &&
			string(wh.NamespaceSelector.MatchExpressions[0].Operator) == "NotIn" &&
			strings.Join(wh.NamespaceSelector.MatchExpressions[0].Values, ",") == "kube-system,oi-system", true},
		{"cert-manager annotation absent", mwc.Annotations["cert-manager.io/inject-ca-from"], ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	dep := one[appsv1.Deployment](t, r, "Deployment")
	if *dep.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext not hardened: %+v", psc)
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext not hardened: %+v", sc)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{
		"--cert-mode=self", "--webhook-config-name=rel-oauth-injector", "--namespace=oi-system",
		"--service-dns-name=rel-oauth-injector.oi-system.svc", "--webhook-port=9443",
		"--sidecar-image=localhost:5000/oauth-injector/injector:0.1.0", "--recreate-missed-pods=false",
		"--cert-secret-name=rel-oauth-injector-certs", "--sidecar-image-pull-policy=IfNotPresent", "--leader-elect=true",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("webhook args %q lack %q", args, want)
		}
	}

	svc := one[corev1.Service](t, r, "Service")
	if p := svc.Spec.Ports[0]; p.Port != 443 || p.TargetPort.String() != "webhook" {
		t.Errorf("service port %d -> %s, want 443 -> webhook", p.Port, p.TargetPort.String())
	}
	if dep.Spec.Template.Spec.Containers[0].Ports[0].Name != "webhook" || dep.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort != 9443 {
		t.Errorf("webhook container port is not 9443 named webhook")
	}
	if pdbs := r.find("PodDisruptionBudget"); len(pdbs) != 1 {
		t.Errorf("%d PodDisruptionBudgets with 2 replicas, want 1", len(pdbs))
	}
	if secrets := r.find("Secret"); len(secrets) != 1 || secrets[0].GetName() != "rel-oauth-injector-certs" {
		t.Errorf("self cert mode must render the empty CA Secret the rotator updates")
	}
	if len(r.find("Certificate")) != 0 {
		t.Errorf("self cert mode rendered a cert-manager Certificate")
	}

	cr := one[rbacv1.ClusterRole](t, r, "ClusterRole")
	if verbs := verbsFor(cr.Rules, "", "pods"); strings.Join(verbs, ",") != "list,watch" {
		t.Errorf("pods verbs = %v; delete must need recreateMissedPods", verbs)
	}
	if verbs := verbsFor(cr.Rules, "", "secrets"); strings.Join(verbs, ",") != "get" {
		t.Errorf("cluster-wide secrets verbs = %v, want only get", verbs)
	}
	for _, rule := range cr.Rules {
		for _, res := range rule.Resources {
			if res == "mutatingwebhookconfigurations" {
				for _, v := range rule.Verbs {
					if (v == "update" || v == "patch") && (len(rule.ResourceNames) != 1 || rule.ResourceNames[0] != "rel-oauth-injector") {
						t.Errorf("mutatingwebhookconfigurations %s is not limited to the chart's own configuration", v)
					}
				}
			}
		}
	}
}

func verbsFor(rules []rbacv1.PolicyRule, group, resource string) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g == group && res == resource {
					out = append(out, r.Verbs...)
				}
			}
		}
	}
	return out
}

func TestChartRenderVariants(t *testing.T) {
	helm := needHelm(t)
	t.Run("devURL", func(t *testing.T) {
		r := renderChart(t, helm, "webhook.devURL=https://localhost:9443/mutate-v1-pod", "replicas=0", "failurePolicy=Fail", "timeoutSeconds=3")
		wh := one[admissionv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration").Webhooks[0]
		if wh.ClientConfig.URL == nil || *wh.ClientConfig.URL != "https://localhost:9443/mutate-v1-pod" || wh.ClientConfig.Service != nil {
			t.Errorf("clientConfig = %+v, want the dev URL and no service", wh.ClientConfig)
		}
		if *wh.FailurePolicy != admissionv1.Fail || *wh.TimeoutSeconds != 3 {
			t.Errorf("failurePolicy/timeoutSeconds values not applied: %s/%d", *wh.FailurePolicy, *wh.TimeoutSeconds)
		}
		if len(r.find("Service")) != 0 {
			t.Error("devURL mode rendered a Service")
		}
		if len(r.find("PodDisruptionBudget")) != 0 {
			t.Error("replicas=0 rendered a PodDisruptionBudget that could never be satisfied")
		}
		if d := one[appsv1.Deployment](t, r, "Deployment"); *d.Spec.Replicas != 0 {
			t.Errorf("replicas = %d, want 0", *d.Spec.Replicas)
		}
	})
	t.Run("certManager", func(t *testing.T) {
		r := renderChart(t, helm, "certs.mode=certManager")
		mwc := one[admissionv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration")
		if got := mwc.Annotations["cert-manager.io/inject-ca-from"]; got != "oi-system/rel-oauth-injector" {
			t.Errorf("inject-ca-from = %q", got)
		}
		certs := r.find("Certificate")
		issuers := r.find("Issuer")
		if len(certs) != 1 || len(issuers) != 1 {
			t.Fatalf("%d Certificates and %d Issuers, want 1 each", len(certs), len(issuers))
		}
		dns, _, _ := unstructured.NestedStringSlice(certs[0].Object, "spec", "dnsNames")
		if len(dns) == 0 || dns[0] != "rel-oauth-injector.oi-system.svc" {
			t.Errorf("certificate dnsNames = %v", dns)
		}
		dep := one[appsv1.Deployment](t, r, "Deployment")
		if !strings.Contains(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "), "--cert-mode=cert-manager") {
			t.Error("webhook not started with --cert-mode=cert-manager")
		}
		if v := dep.Spec.Template.Spec.Volumes[0]; v.Secret == nil || v.Secret.SecretName != "rel-oauth-injector-tls" {
			t.Errorf("certs volume = %+v, want the cert-manager Secret", v)
		}
		if len(r.find("Secret")) != 0 {
			t.Error("certManager mode rendered the self-mode CA Secret")
		}
	})
	t.Run("certManagerExternalIssuer", func(t *testing.T) {
		r := renderChart(t, helm, "certs.mode=certManager", "certs.certManager.issuerRef.name=corp", "certs.certManager.issuerRef.kind=ClusterIssuer")
		if len(r.find("Issuer")) != 0 {
			t.Error("an Issuer was rendered although issuerRef names an existing one")
		}
		kind, _, _ := unstructured.NestedString(r.find("Certificate")[0].Object, "spec", "issuerRef", "kind")
		if kind != "ClusterIssuer" {
			t.Errorf("issuerRef.kind = %q", kind)
		}
	})
	t.Run("recreateMissedPods", func(t *testing.T) {
		r := renderChart(t, helm, "recreateMissedPods=true")
		cr := one[rbacv1.ClusterRole](t, r, "ClusterRole")
		if verbs := verbsFor(cr.Rules, "", "pods"); strings.Join(verbs, ",") != "list,watch,delete" {
			t.Errorf("pods verbs = %v, want list,watch,delete", verbs)
		}
		dep := one[appsv1.Deployment](t, r, "Deployment")
		if !strings.Contains(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "), "--recreate-missed-pods=true") {
			t.Error("--recreate-missed-pods=true not passed")
		}
	})
	t.Run("sidecarProxyEnv", func(t *testing.T) {
		args := func(r rendered) string {
			return strings.Join(one[appsv1.Deployment](t, r, "Deployment").Spec.Template.Spec.Containers[0].Args, " ")
		}
		if a := args(renderChart(t, helm)); strings.Contains(a, "proxy") {
			t.Errorf("default values pass proxy flags: %s", a)
		}
		a := args(renderChart(t, helm, "sidecar.proxyEnv.httpsProxy=http://proxy.corp:3128", `sidecar.proxyEnv.noProxy=.svc\,.cluster.local`))
		for _, want := range []string{"--sidecar-https-proxy=http://proxy.corp:3128", "--sidecar-no-proxy=.svc,.cluster.local"} {
			if !strings.Contains(a, want) {
				t.Errorf("args %s lack %s", a, want)
			}
		}
		if strings.Contains(a, "--sidecar-http-proxy") {
			t.Errorf("args %s pass an empty --sidecar-http-proxy", a)
		}
	})
	t.Run("excludeNamespaces", func(t *testing.T) {
		r := renderChart(t, helm, "webhook.excludeNamespaces={istio-system,monitoring}")
		wh := one[admissionv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration").Webhooks[0]
		if got := strings.Join(wh.NamespaceSelector.MatchExpressions[0].Values, ","); got != "kube-system,oi-system,istio-system,monitoring" {
			t.Errorf("excluded namespaces = %s", got)
		}
	})
}

var (
	verbItem  = regexp.MustCompile(`^\s*- ([a-z]+)\s*$`)
	verbsKey  = regexp.MustCompile(`^\s*verbs:\s*$`)
	commentRe = regexp.MustCompile(`^\s*#\s*(.*)$`)
)

// explainedVerbs returns the verbs a comment block's first line names before
// its colon, e.g. "list, watch: the informer cache" or "delete (only when
// ...): why".
func explainedVerbs(head string) []string {
	end := strings.IndexAny(head, ":(")
	if end < 0 {
		return nil
	}
	return strings.FieldsFunc(head[:end], func(r rune) bool { return r == ',' || r == ' ' })
}

// TestChartRBACVerbsExplained enforces the rule that every RBAC verb the
// chart grants is preceded by a comment that names it and says why.
func TestChartRBACVerbsExplained(t *testing.T) {
	helm := needHelm(t)
	for _, set := range [][]string{nil, {"recreateMissedPods=true"}, {"certs.mode=certManager"}, {"secretAccess.mode=namespaces", "secretAccess.namespaces={shop,billing}"}} {
		r := renderChart(t, helm, set...)
		inVerbs, prevComment := false, false
		explained := map[string]bool{}
		counted := 0
		for i, l := range strings.Split(r.raw, "\n") {
			isComment := commentRe.MatchString(l)
			switch {
			case verbsKey.MatchString(l):
				inVerbs, explained = true, map[string]bool{}
			case !inVerbs:
			case isComment:
				if !prevComment {
					for _, v := range explainedVerbs(commentRe.FindStringSubmatch(l)[1]) {
						explained[v] = true
					}
				}
			case verbItem.MatchString(l):
				v := verbItem.FindStringSubmatch(l)[1]
				counted++
				if !explained[v] {
					t.Errorf("values %v: line %d grants %q without a comment naming it and saying why", set, i+1, v)
				}
			default:
				inVerbs = false
			}
			prevComment = isComment
		}
		if counted < 10 {
			t.Fatalf("values %v: found only %d verbs; the scan is broken", set, counted)
		}
	}
}

// secretReadScope lists where the chart lets the webhook's ServiceAccount
// get Secrets: "*" for a ClusterRole rule, otherwise Role namespaces.
func secretReadScope(t *testing.T, r rendered) map[string]bool {
	t.Helper()
	scope := map[string]bool{}
	for _, u := range r.find("ClusterRole") {
		if len(verbsFor(convert[rbacv1.ClusterRole](t, u).Rules, "", "secrets")) > 0 {
			scope["*"] = true
		}
	}
	for _, u := range r.find("Role") {
		if len(verbsFor(convert[rbacv1.Role](t, u).Rules, "", "secrets")) > 0 {
			scope[u.GetNamespace()] = true
		}
	}
	return scope
}

// TestChartSecretAccess checks both secretAccess modes: cluster keeps the
// ClusterRole's get on every Secret; namespaces drops it and renders one
// get-only Role and RoleBinding per listed namespace, and tells the
// controller the same list.
func TestChartSecretAccess(t *testing.T) {
	helm := needHelm(t)
	args := func(r rendered) string {
		return strings.Join(one[appsv1.Deployment](t, r, "Deployment").Spec.Template.Spec.Containers[0].Args, " ")
	}
	t.Run("cluster by default", func(t *testing.T) {
		r := renderChart(t, helm)
		if scope := secretReadScope(t, r); !scope["*"] {
			t.Errorf("secret read scope = %v, want cluster-wide by default", scope)
		}
		if a := args(r); !strings.Contains(a, "--secret-access=cluster") || strings.Contains(a, "--secret-namespaces") {
			t.Errorf("webhook args %q, want --secret-access=cluster and no namespace list", a)
		}
	})
	t.Run("namespaces", func(t *testing.T) {
		r := renderChart(t, helm, "secretAccess.mode=namespaces", "secretAccess.namespaces={shop,billing}")
		scope := secretReadScope(t, r)
		// oi-system keeps the cert Secret's own namespace-scoped rules.
		want := map[string]bool{"shop": true, "billing": true, "oi-system": true}
		if len(scope) != len(want) || !scope["shop"] || !scope["billing"] || !scope["oi-system"] {
			t.Errorf("secret read scope = %v, want exactly %v (no cluster-wide rule)", scope, want)
		}
		for _, u := range r.find("Role") {
			if u.GetNamespace() == "oi-system" {
				continue
			}
			role := convert[rbacv1.Role](t, u)
			if role.Name != "rel-oauth-injector-secrets" || len(role.Rules) != 1 || strings.Join(role.Rules[0].Verbs, ",") != "get" ||
				strings.Join(role.Rules[0].Resources, ",") != "secrets" {
				t.Errorf("Role %s/%s = %+v, want rel-oauth-injector-secrets granting only get on secrets", role.Namespace, role.Name, role.Rules)
			}
		}
		bound := map[string]bool{}
		for _, u := range r.find("RoleBinding") {
			rb := convert[rbacv1.RoleBinding](t, u)
			if rb.RoleRef.Name != "rel-oauth-injector-secrets" {
				continue
			}
			if rb.RoleRef.Kind != "Role" || len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" ||
				rb.Subjects[0].Name != "rel-oauth-injector" || rb.Subjects[0].Namespace != "oi-system" {
				t.Errorf("RoleBinding %s/%s = %+v, want the Role bound to the webhook's ServiceAccount", rb.Namespace, rb.Name, rb)
			}
			bound[rb.Namespace] = true
		}
		if len(bound) != 2 || !bound["shop"] || !bound["billing"] {
			t.Errorf("secret RoleBindings in %v, want shop and billing", bound)
		}
		if a := args(r); !strings.Contains(a, "--secret-access=namespaces --secret-namespaces=shop,billing") {
			t.Errorf("webhook args %q lack the namespace list", a)
		}
	})
	t.Run("namespaces, none listed", func(t *testing.T) {
		r := renderChart(t, helm, "secretAccess.mode=namespaces")
		if scope := secretReadScope(t, r); len(scope) != 1 || !scope["oi-system"] {
			t.Errorf("secret read scope = %v, want only the release namespace's cert Secret", scope)
		}
		if a := args(r); !strings.Contains(a, "--secret-access=namespaces --secret-namespaces=") {
			t.Errorf("webhook args %q", a)
		}
	})
}
