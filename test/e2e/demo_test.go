package e2e

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/taapsim"
	"github.com/oauth-injector/oauth-injector/internal/webhook"
	"github.com/oauth-injector/oauth-injector/test/e2e/framework"
)

// TestDemoTAAPExample is the Kubernetes half of `make demo`, and a test in
// its own right: it applies examples/bindings/taap.yaml as a user would
// (only the partner's address and CA are pointed at a local TAAP
// simulator), creates an annotated pod, runs the injected sidecar the way
// the kubelet would and calls the partner through it. With -v it narrates.
func TestDemoTAAPExample(t *testing.T) {
	s := needSuite(t)
	say := func(format string, args ...any) { t.Logf("==> "+format, args...) }
	say("control plane up (etcd, kube-apiserver, kube-controller-manager built from source); chart installed as release %q, webhook running as a local process", releaseName)

	raw, err := os.ReadFile("../../examples/bindings/taap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var secrets []*corev1.Secret
	var binding *unstructured.Unstructured
	for _, doc := range strings.Split(string(raw), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("examples/bindings/taap.yaml: %v", err)
		}
		switch obj["kind"] {
		case "Secret":
			var sec corev1.Secret
			if err := yaml.Unmarshal([]byte(doc), &sec); err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, &sec)
		case "OAuthClientBinding":
			binding = &unstructured.Unstructured{Object: obj}
		}
	}
	if binding == nil || len(secrets) < 2 {
		t.Fatalf("examples/bindings/taap.yaml lacks the binding or its Secrets")
	}
	byName := map[string]*corev1.Secret{}
	for _, sec := range secrets {
		byName[sec.Name] = sec
	}

	// The simulator stands in for T-Mobile: it trusts the example's public
	// key and client credentials, as a partner would after registration.
	keySecret, clientSecret := byName["tmobile-key"], byName["tmobile-client"]
	if keySecret == nil || clientSecret == nil {
		t.Fatal("example Secrets tmobile-key / tmobile-client missing")
	}
	signer, err := pop.ParsePrivateKey([]byte(keySecret.StringData["private.pem"]), nil)
	if err != nil {
		t.Fatalf("example key: %v", err)
	}
	sim, err := taapsim.New(taapsim.Options{
		PublicKey:    &signer.(*rsa.PrivateKey).PublicKey,
		ClientID:     clientSecret.StringData["client_id"],
		ClientSecret: clientSecret.StringData["client_secret"],
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(sim.Handler())
	defer srv.Close()
	say("TAAP simulator (stand-in for T-Mobile) at %s", srv.URL)
	ca := byName["taapsim-ca"]
	if ca == nil {
		t.Fatal("example Secret taapsim-ca missing")
	}
	ca.StringData = map[string]string{"ca.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))}

	listenPort, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	adminPort, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(unstructured.SetNestedField(binding.Object, srv.URL, "spec", "upstream", "url"))
	must(unstructured.SetNestedField(binding.Object, srv.URL+taapsim.TokenPath, "spec", "tokenEndpoint", "url"))
	must(unstructured.SetNestedField(binding.Object, int64(listenPort), "spec", "listenPort"))

	ns := s.namespace(t, "demo")
	for _, sec := range secrets {
		sec.Namespace = ns
		s.create(t, sec)
	}
	binding.SetNamespace(ns)
	s.create(t, binding)
	say("applied examples/bindings/taap.yaml to namespace %s: Secrets %s and OAuthClientBinding %s", ns, strings.Join(keys(byName), ", "), binding.GetName())
	b := s.waitReady(t, ns, binding.GetName(), metav1.ConditionTrue, v1alpha1.ReasonValid)
	say("binding %s is Ready (reason %s, observedGeneration %d)", b.Name, v1alpha1.ReasonValid, b.Status.ObservedGeneration)

	p := annotatedPod(ns, "checkout", binding.GetName())
	s.create(t, p)
	sc := sidecarOf(p)
	if sc == nil {
		t.Fatal("pod was not injected")
	}
	shown := sc.DeepCopy()
	for i := range shown.Env {
		if shown.Env[i].Name == webhook.ConfigEnv {
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, []byte(shown.Env[i].Value), "", "  ")
			shown.Env[i].Value = pretty.String()
		}
	}
	y, _ := yaml.Marshal(shown)
	say("created pod %s/%s with annotation %s=%s; the webhook injected this native sidecar (initContainer, restartPolicy Always):\n%s",
		ns, p.Name, v1alpha1.AnnotationBindings, binding.GetName(), y)
	for _, e := range p.Spec.Containers[0].Env {
		if strings.HasPrefix(e.Name, "OAUTH_INJECTOR_") {
			say("app container env: %s=%s", e.Name, e.Value)
		}
	}

	root := t.TempDir()
	s.materialize(t, p, sc, root)
	var env []string
	for _, e := range sc.Env {
		v := e.Value
		switch {
		case e.Name == webhook.MemoryLimitEnv && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil:
			// Resolved as the kubelet does: the container's limit in
			// units of the divisor.
			ref := e.ValueFrom.ResourceFieldRef
			lim := sc.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(ref.Resource, "limits."))]
			v = strconv.FormatInt(lim.Value()/ref.Divisor.Value(), 10)
		case e.ValueFrom != nil:
			t.Fatalf("sidecar env %s uses valueFrom; the contract passes the config by value", e.Name)
		}
		if e.Name == webhook.ConfigEnv {
			v = rewriteConfig(t, v, root, adminPort)
		}
		env = append(env, e.Name+"="+v)
	}
	say("running the sidecar as the kubelet would: %v with the container's env, Secret volumes written to %s", sc.Args, root)
	proc, err := framework.StartProcess("injector", s.injectorBin, sc.Args, env, filepath.Join(t.TempDir(), "injector.log"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = proc.Stop(10 * time.Second)
		}
	}()
	startup := fmt.Sprintf("http://127.0.0.1:%d%s", adminPort, sc.StartupProbe.HTTPGet.Path)
	eventually(t, 60*time.Second, "sidecar startup probe", func(ctx context.Context) (bool, error) {
		if exited, werr := proc.Exited(); exited {
			return false, fmt.Errorf("injector exited: %v\n%s", werr, tail(proc.LogPath, 20))
		}
		resp, err := http.Get(startup)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("HTTP %d", resp.StatusCode)
	})
	say("startup probe passed: the sidecar holds an access token and an ID token (the token call carried a PoP)")

	// The app uses the URL the webhook put into its env.
	var appURL string
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == webhook.EnvVarName(binding.GetName()) {
			appURL = e.Value
		}
	}
	if appURL != fmt.Sprintf("http://127.0.0.1:%d", listenPort) {
		t.Fatalf("app env %s = %q, want the binding's listen port %d", webhook.EnvVarName(binding.GetName()), appURL, listenPort)
	}
	req, _ := http.NewRequest(http.MethodPost, appURL+"/v1/devices/sim-swap?msisdn=+14255550100", strings.NewReader(`{"maxAge":240}`))
	req.Header.Set("Content-Type", "application/json")
	// What the app sends as credentials must never reach the partner.
	req.Header.Set("Authorization", "Bearer app-must-not-leak")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var echo struct {
		Verified struct {
			PoP, AccessToken, IDToken, BodySigned bool
			EHTS, JTI                             string
		} `json:"verified"`
		Method, URI, Body string
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &echo) != nil {
		t.Fatalf("call through the sidecar: %d %s\n%s", resp.StatusCode, body, tail(proc.LogPath, 20))
	}
	v := echo.Verified
	if !v.PoP || !v.AccessToken || !v.IDToken || !v.BodySigned {
		t.Fatalf("partner verified %+v", v)
	}
	if echo.Method != http.MethodPost || echo.URI != "/v1/devices/sim-swap?msisdn=+14255550100" || echo.Body != `{"maxAge":240}` {
		t.Fatalf("partner saw %s %s %q", echo.Method, echo.URI, echo.Body)
	}
	say("app -> POST %s/v1/devices/sim-swap: the partner answered 200 and verified a PoP over %q (jti %s), the Bearer access token and the X-Auth-Originator ID token; it saw %s %s with body %s",
		appURL, v.EHTS, v.JTI, echo.Method, echo.URI, echo.Body)

	stopped = true
	if err := proc.Stop(10 * time.Second); err != nil {
		t.Fatalf("injector did not shut down cleanly on SIGTERM: %v\n%s", err, tail(proc.LogPath, 20))
	}
	// Stop tolerates death by signal; the sidecar must drain and exit 0 so
	// the kubelet does not record a failure.
	if _, werr := proc.Exited(); werr != nil {
		t.Fatalf("injector exit after SIGTERM: %v, want status 0", werr)
	}
	say("SIGTERM: the sidecar drained and exited 0")
}

func keys(m map[string]*corev1.Secret) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
