package webhook

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/injectorcli"
)

var updateGolden = flag.Bool("update", os.Getenv("UPDATE_GOLDEN") == "1", "rewrite testdata/golden")

var testOpts = Options{Image: "ghcr.io/oauth-injector/injector:test", ImagePullPolicy: corev1.PullIfNotPresent}

func testPod(annotation string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-", Namespace: "shop"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "checkout",
			Containers: []corev1.Container{
				{Name: "app", Image: "shop:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}},
				{Name: "helper", Image: "helper:1"},
			},
			InitContainers: []corev1.Container{{Name: "migrate", Image: "migrate:1"}},
		},
	}
	if annotation != "" {
		p.Annotations = map[string]string{v1alpha1.AnnotationBindings: annotation}
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func binding(name string, port int32, mutate ...func(*v1alpha1.OAuthClientBinding)) v1alpha1.OAuthClientBinding {
	b := v1alpha1.OAuthClientBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Generation: 3},
		Spec: v1alpha1.OAuthClientBindingSpec{
			ListenPort:    port,
			Upstream:      v1alpha1.Upstream{URL: "https://api." + name + ".example"},
			TokenEndpoint: &v1alpha1.TokenEndpoint{URL: "https://auth." + name + ".example/token", Method: "POST"},
			Grant:         v1alpha1.Grant{Type: v1alpha1.GrantClientCredentials},
			ClientAuth:    &v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretBasic, SecretRef: &v1alpha1.ClientSecretRef{Name: v1alpha1.SecretName(name + "-client")}},
		},
	}
	for _, m := range mutate {
		m(&b)
	}
	return b
}

func TestMutateDenials(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		bindings []v1alpha1.OAuthClientBinding
		reason   string
		want     string
	}{
		{
			name: "missing binding", pod: testPod("tmobile,x"), bindings: []v1alpha1.OAuthClientBinding{binding("tmobile", 15001)},
			reason: ReasonBindingNotFound,
			want:   `binding "x" named in annotation oauth.injector.dev/bindings was not found in namespace "shop"; create it or fix the annotation`,
		},
		{
			name: "port clash between bindings", pod: testPod("a,b"), bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001), binding("b", 15001)},
			reason: ReasonPortClash, want: `binding "b" listenPort 15001 clashes with binding "a"; change spec.listenPort of binding "b"`,
		},
		{
			name: "port clash with app container", pod: testPod("a"), bindings: []v1alpha1.OAuthClientBinding{binding("a", 8080)},
			reason: ReasonPortClash, want: `binding "a" listenPort 8080 clashes with port 8080 of container "app"; change spec.listenPort of binding "a"`,
		},
		{
			name: "port clash with a regular init container",
			pod: testPod("a", func(p *corev1.Pod) {
				p.Spec.InitContainers[0].Ports = []corev1.ContainerPort{{ContainerPort: 15001}}
			}),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonPortClash, want: `clashes with port 15001 of container "migrate"`,
		},
		{
			name: "binding on the admin port", pod: testPod("a"), bindings: []v1alpha1.OAuthClientBinding{binding("a", 15020)},
			reason: ReasonPortClash, want: `binding "a" listenPort 15020 clashes with the sidecar's admin port`,
		},
		{
			name: "app container on the admin port",
			pod: testPod("a", func(p *corev1.Pod) {
				p.Spec.Containers[1].Ports = []corev1.ContainerPort{{ContainerPort: 15020}}
			}),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonPortClash, want: `container "helper" uses port 15020, which the oauth-injector sidecar needs`,
		},
		{
			name: "service account not allowed",
			pod:  testPod("x", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "" }),
			bindings: []v1alpha1.OAuthClientBinding{binding("x", 15001, func(b *v1alpha1.OAuthClientBinding) {
				b.Spec.AllowedServiceAccounts = []string{"checkout"}
			})},
			reason: ReasonServiceAccount, want: `service account "default" may not use binding "x"; allowedServiceAccounts is [checkout]`,
		},
		{
			name: "binding from another namespace",
			pod:  testPod("x"),
			bindings: []v1alpha1.OAuthClientBinding{binding("x", 15001, func(b *v1alpha1.OAuthClientBinding) {
				b.Namespace = "other"
			})},
			reason: ReasonWrongNamespace, want: `binding "x" is in namespace "other" but the pod is in "shop"`,
		},
		{
			name: "host network", pod: testPod("a", func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonHostNetwork, want: "pod uses hostNetwork",
		},
		{
			name: "shared process namespace", pod: testPod("a", func(p *corev1.Pod) { p.Spec.ShareProcessNamespace = ptr(true) }),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonShareProcessNamespace, want: "pod sets shareProcessNamespace: true, so its app containers could read the oauth-injector sidecar's credential files through /proc/<pid>/root",
		},
		{
			name: "host PID namespace", pod: testPod("a", func(p *corev1.Pod) { p.Spec.HostPID = true }),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonHostPID, want: "pod uses hostPID, so its app containers",
		},
		{
			name: "host PID wins over a shared process namespace", pod: testPod("a", func(p *corev1.Pod) {
				p.Spec.HostPID, p.Spec.ShareProcessNamespace = true, ptr(true)
			}),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonHostPID, want: "remove hostPID or the oauth.injector.dev/bindings annotation",
		},
		{
			name: "app volume named like the token mask",
			pod: testPod("a", func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: serviceAccountMaskVolume}}
			}),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonAlreadyHasSidecar, want: `already has a volume named "` + serviceAccountMaskVolume + `"`,
		},
		{name: "empty annotation", pod: testPod(" "), reason: ReasonBadAnnotation, want: "annotation oauth.injector.dev/bindings is empty"},
		{name: "empty entry", pod: testPod("a,,b"), reason: ReasonBadAnnotation, want: `has an empty entry`},
		{name: "garbled name", pod: testPod("tmobile;rm -rf"), reason: ReasonBadAnnotation, want: `names "tmobile;rm -rf", which is not a valid binding name`},
		{name: "uppercase name", pod: testPod("TMobile"), reason: ReasonBadAnnotation, want: `not a valid binding name`},
		{name: "duplicate name", pod: testPod("a, a"), reason: ReasonBadAnnotation, want: `names binding "a" twice`},
		{
			name: "too many bindings", pod: testPod(manyNames(MaxBindings + 1)),
			reason: ReasonTooManyBindings, want: "names 17 bindings; at most 16",
		},
		{
			name:     "container already named oauth-injector",
			pod:      testPod("a", func(p *corev1.Pod) { p.Spec.Containers[1].Name = v1alpha1.SidecarContainerName }),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
			reason:   ReasonAlreadyHasSidecar, want: `already has a container named "oauth-injector"`,
		},
		{
			name: "spec that does not render",
			pod:  testPod("a"),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001, func(b *v1alpha1.OAuthClientBinding) {
				b.Spec.Grant.Type = "Implicit"
			})},
			reason: ReasonInvalidBinding, want: `binding "a" does not render into a valid sidecar configuration (fix the OAuthClientBinding spec): config: bindings[0].grant.type: the implicit grant is browser-only`,
		},
		{
			name: "TAAP maxBodyBytes not positive",
			pod:  testPod("a"),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001, func(b *v1alpha1.OAuthClientBinding) {
				b.Spec.PrivateKey = &v1alpha1.PrivateKey{SecretRef: v1alpha1.PrivateKeySecretRef{Name: "k"}}
				q := resource.MustParse("-1")
				b.Spec.ProofOfPossession = &v1alpha1.ProofOfPossession{Type: v1alpha1.PoPTAAP, TAAP: &v1alpha1.TAAP{MaxBodyBytes: &q}}
			})},
			reason: ReasonInvalidBinding, want: `proofOfPossession.taap.maxBodyBytes: must be a positive whole number of bytes`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			got, err := Mutate(tc.pod, tc.bindings, testOpts)
			var d *Denial
			if !errors.As(err, &d) {
				t.Fatalf("want a *Denial, got pod=%v err=%v", got != nil, err)
			}
			if d.Reason != tc.reason {
				t.Errorf("reason = %s, want %s", d.Reason, tc.reason)
			}
			if !strings.Contains(d.Message, tc.want) {
				t.Errorf("message = %q\nwant it to contain %q", d.Message, tc.want)
			}
			if !equality.Semantic.DeepEqual(before, tc.pod) {
				t.Errorf("Mutate modified its input pod")
			}
		})
	}
}

func TestMutateLeavesPodsAlone(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
	}{
		{name: "no annotation", pod: testPod("")},
		{name: "already injected", pod: testPod("missing-binding", func(p *corev1.Pod) {
			p.Annotations[v1alpha1.AnnotationStatus] = v1alpha1.StatusInjected
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Mutate(tc.pod, nil, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			if got == tc.pod {
				t.Fatal("Mutate must return a copy")
			}
			if !equality.Semantic.DeepEqual(got, tc.pod) {
				t.Fatalf("pod changed:\n%s", diffYAML(t, tc.pod, got))
			}
		})
	}
}

func TestMutateIsIdempotent(t *testing.T) {
	bs := []v1alpha1.OAuthClientBinding{binding("tmobile", 15001)}
	once, err := Mutate(testPod("tmobile"), bs, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := Mutate(once, bs, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(once, twice) {
		t.Fatalf("second mutation changed the pod:\n%s", diffYAML(t, once, twice))
	}
}

func TestMutateTwoBindings(t *testing.T) {
	bs := []v1alpha1.OAuthClientBinding{
		binding("open-gateway", 15002, func(b *v1alpha1.OAuthClientBinding) { b.Generation = 1 }),
		binding("tmobile", 15001),
		binding("unused", 15003), // present in the namespace, not requested
	}
	pod := testPod("tmobile, open-gateway", func(p *corev1.Pod) {
		// An app-defined value is replaced with the port we listen on.
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "OAUTH_INJECTOR_TMOBILE_URL", Value: "stale"}, {Name: "KEEP", Value: "1"}}
	})
	got, err := Mutate(pod, bs, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Spec.InitContainers[0].Name; n != v1alpha1.SidecarContainerName {
		t.Fatalf("first init container is %q, want the sidecar", n)
	}
	if got.Spec.InitContainers[1].Name != "migrate" || len(got.Spec.InitContainers) != 2 {
		t.Errorf("regular init containers not preserved after the sidecar: %v", got.Spec.InitContainers)
	}
	if g := got.Annotations[v1alpha1.AnnotationGenerations]; g != "tmobile=3,open-gateway=1" {
		t.Errorf("generations = %q", g)
	}
	if s := got.Annotations[v1alpha1.AnnotationStatus]; s != v1alpha1.StatusInjected {
		t.Errorf("status = %q", s)
	}
	wantEnv := map[string]string{
		"OAUTH_INJECTOR_TMOBILE_URL":      "http://127.0.0.1:15001",
		"OAUTH_INJECTOR_OPEN_GATEWAY_URL": "http://127.0.0.1:15002",
		"KEEP":                            "1",
	}
	for _, c := range got.Spec.Containers {
		env := map[string]string{}
		for _, e := range c.Env {
			if _, dup := env[e.Name]; dup {
				t.Errorf("container %s: env %s defined twice", c.Name, e.Name)
			}
			env[e.Name] = e.Value
		}
		for k, v := range wantEnv {
			if k == "KEEP" && c.Name != "app" {
				continue
			}
			if env[k] != v {
				t.Errorf("container %s: %s=%q, want %q", c.Name, k, env[k], v)
			}
		}
	}
	for _, c := range got.Spec.InitContainers[1:] {
		if len(c.Env) != 0 {
			t.Errorf("regular init container %s got env %v; only app containers should", c.Name, c.Env)
		}
	}
	cfg := sidecarConfig(t, got)
	if len(cfg.Bindings) != 2 || cfg.Bindings[0].Name != "tmobile" || cfg.Bindings[1].Name != "open-gateway" {
		t.Errorf("config bindings = %+v, want tmobile then open-gateway", cfg.Bindings)
	}
}

func TestSecretVolumesOnlyInSidecar(t *testing.T) {
	bs := []v1alpha1.OAuthClientBinding{binding("tmobile", 15001, func(b *v1alpha1.OAuthClientBinding) {
		b.Spec.PrivateKey = &v1alpha1.PrivateKey{SecretRef: v1alpha1.PrivateKeySecretRef{Name: "tmobile-client", Key: "key.pem"}}
		b.Spec.ProofOfPossession = &v1alpha1.ProofOfPossession{Type: v1alpha1.PoPTAAP}
	})}
	got, err := Mutate(testPod("tmobile"), bs, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	injected := map[string]bool{}
	secretVols := 0
	for _, v := range got.Spec.Volumes {
		injected[v.Name] = true
		if v.Secret != nil {
			secretVols++
			if len(v.Secret.Items) != 3 {
				t.Errorf("volume %s projects %d keys, want the 3 the config uses (one Secret, one volume)", v.Name, len(v.Secret.Items))
			}
		}
	}
	if secretVols != 1 {
		t.Errorf("want one volume for the one Secret, got %d Secret volumes in %v", secretVols, injected)
	}
	for _, c := range append(got.Spec.Containers, got.Spec.InitContainers...) {
		for _, m := range c.VolumeMounts {
			if injected[m.Name] && c.Name != v1alpha1.SidecarContainerName {
				t.Errorf("container %s mounts credential volume %s", c.Name, m.Name)
			}
			if injected[m.Name] && !m.ReadOnly {
				t.Errorf("mount %s is writable", m.Name)
			}
		}
	}
	for _, e := range got.Spec.InitContainers[0].Env {
		if e.ValueFrom != nil && (e.ValueFrom.ResourceFieldRef == nil || e.Name != MemoryLimitEnv) {
			t.Errorf("sidecar env %s reads from %v; secrets must be files", e.Name, e.ValueFrom)
		}
	}
}

func TestSidecarHardeningAndOptions(t *testing.T) {
	bs := []v1alpha1.OAuthClientBinding{binding("tmobile", 15001)}
	got, err := Mutate(testPod("tmobile"), bs, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	sc := got.Spec.InitContainers[0]
	s := sc.SecurityContext
	switch {
	case sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways:
		t.Error("sidecar is not a native sidecar (restartPolicy Always)")
	case s == nil || !*s.RunAsNonRoot || *s.RunAsUser != 65532 || !*s.ReadOnlyRootFilesystem || *s.AllowPrivilegeEscalation:
		t.Errorf("weak security context: %+v", s)
	case len(s.Capabilities.Drop) != 1 || s.Capabilities.Drop[0] != "ALL":
		t.Errorf("capabilities = %+v", s.Capabilities)
	case s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccomp = %v", s.SeccompProfile)
	case sc.Resources.Requests.Cpu().String() != "10m" || sc.Resources.Requests.Memory().String() != "32Mi" || sc.Resources.Limits.Memory().String() != "64Mi":
		t.Errorf("default resources = %+v", sc.Resources)
	}
	custom := testOpts
	custom.LogLevel = "debug"
	custom.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")}}
	got, err = Mutate(testPod("tmobile"), bs, custom)
	if err != nil {
		t.Fatal(err)
	}
	sc = got.Spec.InitContainers[0]
	if sc.Resources.Requests.Memory().String() != "48Mi" || len(sc.Resources.Limits) != 0 {
		t.Errorf("Options.Resources not applied: %+v", sc.Resources)
	}
	if env(sc, "OAUTH_INJECTOR_LOG_LEVEL") != "debug" {
		t.Errorf("log level env not set")
	}
}

// TestConfigEnvMatchesSidecar pins the env var names both binaries use.
func TestConfigEnvMatchesSidecar(t *testing.T) {
	if ConfigEnv != injectorcli.ConfigEnv {
		t.Fatalf("webhook writes %s but the sidecar reads %s", ConfigEnv, injectorcli.ConfigEnv)
	}
	if MemoryLimitEnv != injectorcli.MemoryLimitEnv {
		t.Fatalf("webhook writes %s but the sidecar reads %s", MemoryLimitEnv, injectorcli.MemoryLimitEnv)
	}
}

// TestSidecarKnowsItsMemoryLimit: the sidecar sizes GOMEMLIMIT and its body
// buffers from its own container's memory limit, which the kubelet resolves
// through the downward API (so a LimitRange or custom resources are seen).
func TestSidecarKnowsItsMemoryLimit(t *testing.T) {
	got, err := Mutate(testPod("tmobile"), []v1alpha1.OAuthClientBinding{binding("tmobile", 15001)}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	sc := got.Spec.InitContainers[0]
	var ref *corev1.ResourceFieldSelector
	for _, e := range sc.Env {
		if e.Name == MemoryLimitEnv && e.ValueFrom != nil {
			ref = e.ValueFrom.ResourceFieldRef
		}
	}
	if ref == nil {
		t.Fatalf("no %s from the downward API on the sidecar: %v", MemoryLimitEnv, sc.Env)
	}
	if ref.ContainerName != sc.Name || ref.Resource != "limits.memory" || ref.Divisor.String() != "1" {
		t.Errorf("resourceFieldRef = %+v, want the sidecar's limits.memory in bytes", ref)
	}
}

// TestRenderRequestSettings: the binding's request limits and opt-ins reach
// the sidecar config, and grant-dependent defaults are applied.
func TestRenderRequestSettings(t *testing.T) {
	tapkey := func(b *v1alpha1.OAuthClientBinding) {
		b.Spec.PrivateKey = &v1alpha1.PrivateKey{SecretRef: v1alpha1.PrivateKeySecretRef{Name: "idp-key"}}
		b.Spec.Grant = v1alpha1.Grant{Type: v1alpha1.GrantTokenExchange, Scopes: []string{"read:user"}, TokenExchange: &v1alpha1.TokenExchangeGrant{
			GrantType: config.TokenExchangeTapkey, Provider: "idp.example",
			SubjectToken: v1alpha1.SubjectToken{Mint: &v1alpha1.MintSubject{Issuer: "https://idp.example", Audience: "tapkey"}},
		}}
	}
	cases := []struct {
		name  string
		edit  func(*v1alpha1.OAuthClientBinding)
		check func(b config.Binding) string
	}{
		{"defaults", nil, func(b config.Binding) string {
			if b.AllowInsecureHTTP || b.Upstream.AllowTrace || b.Upstream.ResponseHeaderTimeout.Duration != config.DefaultResponseHeaderTimeout {
				return "unexpected non-defaults"
			}
			return ""
		}},
		{"opt-ins and timeout", func(b *v1alpha1.OAuthClientBinding) {
			b.Spec.AllowInsecureHTTP = true
			b.Spec.Upstream = v1alpha1.Upstream{URL: "http://api.partner.example", AllowTrace: true, ResponseHeaderTimeout: &metav1.Duration{Duration: 2 * time.Minute}}
		}, func(b config.Binding) string {
			if !b.AllowInsecureHTTP || !b.Upstream.AllowTrace || b.Upstream.ResponseHeaderTimeout.Duration != 2*time.Minute {
				return "settings not rendered"
			}
			return ""
		}},
		{"tapkey defaults", tapkey, func(b config.Binding) string {
			te := b.Grant.TokenExchange
			if te.Audience != "tapkey_api" || te.RequestedTokenType != "access_token" || te.SubjectTokenType != "jwt" {
				return "Tapkey defaults missing"
			}
			return ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*v1alpha1.OAuthClientBinding)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			got, err := Mutate(testPod("p"), []v1alpha1.OAuthClientBinding{binding("p", 15001, edits...)}, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			b := sidecarConfig(t, got).Bindings[0]
			if msg := tc.check(b); msg != "" {
				t.Fatalf("%s: %+v", msg, b)
			}
		})
	}
}

func TestEnvVarName(t *testing.T) {
	for in, want := range map[string]string{
		"tmobile":         "OAUTH_INJECTOR_TMOBILE_URL",
		"open-gateway":    "OAUTH_INJECTOR_OPEN_GATEWAY_URL",
		"a1-b2-c3":        "OAUTH_INJECTOR_A1_B2_C3_URL",
		"x--y":            "OAUTH_INJECTOR_X__Y_URL",
		"0leading-digits": "OAUTH_INJECTOR_0LEADING_DIGITS_URL",
	} {
		if got := EnvVarName(in); got != want {
			t.Errorf("EnvVarName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVolumeNamesAreUniqueLabels(t *testing.T) {
	long := strings.Repeat("s", 200) + ".example.com"
	pairs := [][2]string{{"a-b", "c"}, {"a", "b-c"}, {"tmobile", long}, {"tmobile", long + "x"}, {"x", serviceAccountDir}}
	seen := map[string]bool{}
	for _, p := range pairs {
		n := volumeName(p[0], p[1])
		if len(n) > 63 || !labelRE.MatchString(n) {
			t.Errorf("volumeName(%q, %q) = %q is not a DNS label", p[0], p[1], n)
		}
		if seen[n] {
			t.Errorf("volumeName collision: %q", n)
		}
		seen[n] = true
	}
}

// goldenCases render real example bindings; the output is reviewed in
// testdata/golden and regenerated with UPDATE_GOLDEN=1.
var goldenCases = []struct {
	name     string
	examples []string
	pod      func(*corev1.Pod)
}{
	{name: "taap", examples: []string{"taap.yaml"}},
	{name: "two-bindings", examples: []string{"taap.yaml", "token-exchange-rfc8693.yaml"}},
	{name: "mtls-and-oauth1", examples: []string{"mtls.yaml", "oauth1.yaml"}},
	{name: "shared-cache", examples: []string{"shared-cache.yaml"}},
	{name: "operations", examples: []string{"operations.yaml"}},
	{name: "egress-proxy", examples: []string{"egress-proxy.yaml"}},
}

func TestGolden(t *testing.T) {
	a := newCRDAdmitter(t)
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			var bs []v1alpha1.OAuthClientBinding
			var names []string
			for _, f := range gc.examples {
				ex := loadExample(t, a, filepath.Join("..", "..", "examples", "bindings", f))
				for _, b := range ex.bindings {
					b.Namespace, b.Generation = "shop", 2
					bs = append(bs, b)
					names = append(names, b.Name)
				}
			}
			pod := testPod(strings.Join(names, ","))
			if gc.pod != nil {
				gc.pod(pod)
			}
			got, err := Mutate(pod, bs, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			podYAML, err := yaml.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			cfgJSON, err := config.Marshal(sidecarConfig(t, got))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, gc.name+".yaml", podYAML)
			golden(t, gc.name+".config.json", append(cfgJSON, '\n'))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from golden (UPDATE_GOLDEN=1 regenerates it after review):\n%s", p, lineDiff(string(want), string(got)))
	}
}

// sidecarConfig parses the injected config the way the sidecar does.
func sidecarConfig(t *testing.T, pod *corev1.Pod) *config.Config {
	t.Helper()
	raw := env(pod.Spec.InitContainers[0], ConfigEnv)
	if raw == "" {
		t.Fatalf("no %s on the sidecar", ConfigEnv)
	}
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("sidecar rejects the injected config: %v", err)
	}
	return cfg
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func diffYAML(t *testing.T, a, b any) string {
	t.Helper()
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	return lineDiff(string(ya), string(yb))
}

// lineDiff is a minimal diff: the first differing line with context.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n- " + w + "\n+ " + g
		}
	}
	return "(no line differs)"
}

func manyNames(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = "b" + itoa(i)
	}
	return strings.Join(names, ",")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
