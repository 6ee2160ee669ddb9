package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/taapsim"
	"github.com/oauth-injector/oauth-injector/internal/webhook"
	"github.com/oauth-injector/oauth-injector/test/e2e/framework"
)

// materialize does the kubelet's part for the sidecar: every Secret volume
// mounted into it is written (only the projected keys) under root, at the
// mount path with webhook.MountRoot replaced by root.
func (s *suite) materialize(t *testing.T, p *corev1.Pod, sc *corev1.Container, root string) {
	t.Helper()
	vols := map[string]*corev1.SecretVolumeSource{}
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil {
			vols[v.Name] = v.Secret
		}
	}
	written := 0
	for _, m := range sc.VolumeMounts {
		src, ok := vols[m.Name]
		if !ok {
			continue
		}
		var sec corev1.Secret
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: p.Namespace, Name: src.SecretName}, &sec); err != nil {
			t.Fatalf("volume %s: %v", m.Name, err)
		}
		dir := filepath.Join(root, strings.TrimPrefix(m.MountPath, webhook.MountRoot))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		items := src.Items
		if len(items) == 0 {
			for k := range sec.Data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			data, ok := sec.Data[it.Key]
			if !ok {
				t.Fatalf("Secret %s has no key %q that volume %s projects", sec.Name, it.Key, m.Name)
			}
			if err := os.WriteFile(filepath.Join(dir, it.Path), data, 0o400); err != nil {
				t.Fatal(err)
			}
			written++
		}
	}
	if written == 0 {
		t.Fatal("the sidecar mounts no Secret files")
	}
}

// rewriteConfig points the rendered config's file paths at root and its
// admin listener at a loopback port, leaving everything else as rendered.
func rewriteConfig(t *testing.T, raw, root string, adminPort int) string {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("sidecar config: %v", err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case string:
			if strings.HasPrefix(x, webhook.MountRoot+"/") {
				return root + strings.TrimPrefix(x, webhook.MountRoot)
			}
		}
		return v
	}
	walk(cfg)
	admin, _ := cfg["admin"].(map[string]any)
	if admin == nil {
		t.Fatal("rendered config has no admin section")
	}
	if admin["listen"] != fmt.Sprintf(":%d", v1alpha1.AdminPort) {
		t.Errorf("admin.listen = %v, want :%d", admin["listen"], v1alpha1.AdminPort)
	}
	admin["listen"] = fmt.Sprintf("127.0.0.1:%d", adminPort)
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestSidecarContractEndToEnd runs the webhook→sidecar contract for real:
// a TAAP binding is admitted through the API server, the mutated pod's
// sidecar container (its env, args and mounted Secret keys) is run as the
// built injector binary against the TAAP simulator, and a plain-HTTP call
// from "the app" comes back verified: PoP, bearer access token and ID token.
func TestSidecarContractEndToEnd(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	key, _ := fixtureKey(t)
	sim, err := taapsim.New(taapsim.Options{PublicKey: &key.PublicKey, ClientID: fixtureClientID, ClientSecret: fixtureClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(sim.Handler())
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	ns := s.namespace(t, "sidecar")
	s.createFixtureSecrets(t, ns)
	s.create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taap-ca"}, Data: map[string][]byte{"ca.crt": caPEM}})
	listenPort, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	adminPort, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	spec := taapSpec(listenPort, srv.URL, srv.URL+taapsim.TokenPath)
	spec = mergePatched(t, spec, `{"upstream":{"caSecretRef":{"name":"taap-ca"}},"tokenEndpoint":{"caSecretRef":{"name":"taap-ca"}}}`)
	s.create(t, bindingObject(ns, "tmobile", spec))
	s.waitReady(t, ns, "tmobile", metav1.ConditionTrue, v1alpha1.ReasonValid)

	p := annotatedPod(ns, "app", "tmobile")
	s.create(t, p)
	sc := sidecarOf(p)
	if sc == nil {
		t.Fatal("pod was not injected")
	}
	root := t.TempDir()
	s.materialize(t, p, sc, root)

	var env []string
	for _, e := range sc.Env {
		if e.ValueFrom != nil {
			t.Fatalf("sidecar env %s uses valueFrom; the contract passes the config by value", e.Name)
		}
		v := e.Value
		if e.Name == "OAUTH_INJECTOR_CONFIG" {
			v = rewriteConfig(t, v, root, adminPort)
		}
		env = append(env, e.Name+"="+v)
	}
	proc, err := framework.StartProcess("injector", s.injectorBin, sc.Args, env, filepath.Join(t.TempDir(), "injector.log"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = proc.Stop(5 * time.Second)
		}
	}()
	// The startup probe passes once the sidecar holds a token: the token
	// endpoint has already checked the client credentials and the PoP.
	startup := fmt.Sprintf("http://127.0.0.1:%d%s", adminPort, sc.StartupProbe.HTTPGet.Path)
	eventually(t, 60*time.Second, "sidecar startup probe", func(ctx context.Context) (bool, error) {
		if exited, werr := proc.Exited(); exited {
			return false, fmt.Errorf("injector exited: %v\n%s", werr, tail(proc.LogPath, 20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, startup, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("%s: HTTP %d", startup, resp.StatusCode)
	})

	// The app uses the URL the webhook put into its env.
	var appURL string
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == webhook.EnvVarName("tmobile") {
			appURL = e.Value
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, appURL+"/v1/devices?msisdn=1555", strings.NewReader(`{"check":"sim-swap"}`))
	req.Header.Set("Content-Type", "application/json")
	// What the app sends as credentials must never reach the partner.
	req.Header.Set("Authorization", "Bearer app-must-not-leak")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("calling the sidecar: %v\n%s", err, tail(proc.LogPath, 20))
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sidecar answered %d: %s\n%s", resp.StatusCode, body, tail(proc.LogPath, 20))
	}
	var echo struct {
		Verified struct {
			PoP, AccessToken, IDToken, BodySigned bool
			EHTS                                  string
		} `json:"verified"`
		Method, URI, Body string
	}
	if err := json.Unmarshal(body, &echo); err != nil {
		t.Fatalf("simulator response %s: %v", body, err)
	}
	v := echo.Verified
	if !v.PoP || !v.AccessToken || !v.IDToken || !v.BodySigned {
		t.Errorf("simulator verified pop=%v accessToken=%v idToken=%v bodySigned=%v", v.PoP, v.AccessToken, v.IDToken, v.BodySigned)
	}
	if echo.Method != http.MethodPost || echo.URI != "/v1/devices?msisdn=1555" || echo.Body != `{"check":"sim-swap"}` {
		t.Errorf("upstream saw %s %s %q", echo.Method, echo.URI, echo.Body)
	}
	if n := sim.TokenRequests(); n < 1 {
		t.Errorf("token endpoint was called %d times", n)
	}
	t.Logf("TAAP round trip verified; ehts=%s, token requests=%d", v.EHTS, sim.TokenRequests())

	stopped = true
	if err := proc.Stop(10 * time.Second); err != nil {
		t.Errorf("injector did not shut down cleanly on SIGTERM: %v\n%s", err, tail(proc.LogPath, 20))
	}
	// Stop tolerates death by signal; the sidecar must instead drain and
	// exit 0 so the kubelet does not record a failure.
	if _, werr := proc.Exited(); werr != nil {
		t.Errorf("injector exit after SIGTERM: %v, want status 0", werr)
	}
}
