package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/taapsim"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// These tests drive the built binary, not the packages: they prove the CLI
// wiring, the env-var config path and the exit codes a kubelet sees.
var injectorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "injector-e2e-")
	if err != nil {
		panic(err)
	}
	injectorBin = filepath.Join(dir, "injector")
	if out, err := exec.Command("go", "build", "-o", injectorBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	dir    string
	key    *rsa.PrivateKey
	sim    *taapsim.Server
	simURL string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	write("client_id", "e2e-client\n")
	write("client_secret", "e2e secret:+/%\n")
	sim, err := taapsim.New(taapsim.Options{PublicKey: &key.PublicKey, ClientID: "e2e-client", ClientSecret: "e2e secret:+/%"})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := taapsim.SelfSignedTLS(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(sim.Handler())
	srv.TLS = tlsCfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &env{dir: dir, key: key, sim: sim, simURL: srv.URL}
}

func (e *env) config(t *testing.T) (cfg string, dataPort, adminPort int) {
	dataPort, adminPort = testutil.FreePort(t), testutil.FreePort(t)
	cfg = fmt.Sprintf(`{
  "version": "v1",
  "admin": {"listen": "127.0.0.1:%[3]d"},
  "bindings": [{
    "name": "tmobile", "listenPort": %[2]d,
    "upstream": {"url": %[1]q, "caFile": "%[4]s/ca.pem"},
    "tokenEndpoint": {"url": "%[1]s/oauth2/v6/tokens", "caFile": "%[4]s/ca.pem"},
    "grant": {"type": "client_credentials"},
    "clientAuth": {"method": "client_secret_basic", "clientIDFile": "%[4]s/client_id", "clientSecretFile": "%[4]s/client_secret"},
    "privateKey": {"file": "%[4]s/key.pem"},
    "pop": {"type": "taap"}
  }]
}`, e.simURL, dataPort, adminPort, e.dir)
	return cfg, dataPort, adminPort
}

func waitReady(t *testing.T, url string, cmd *exec.Cmd, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sidecar not ready at %s; logs:\n%s", url, logs)
}

// TestRunFromEnvServesVerifiedCalls runs the binary the way the webhook
// configures it (config JSON in OAUTH_INJECTOR_CONFIG), sends a GET and a
// POST, then stops it with SIGTERM and expects exit status 0.
func TestRunFromEnvServesVerifiedCalls(t *testing.T) {
	e := newEnv(t)
	cfg, port, admin := e.config(t)
	var logs bytes.Buffer
	cmd := exec.Command(injectorBin, "run")
	cmd.Env = append(os.Environ(), "OAUTH_INJECTOR_CONFIG="+cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/startup", admin), cmd, &logs)

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, c := range []struct{ method, path, body, ehts string }{
		{"GET", "/v1/echo?msisdn=%2B1425&x=a+b", "", "uri;http-method"},
		{"POST", "/v1/echo", `{"a":1}`, "uri;http-method;body"},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer app-must-not-pass")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var echo struct {
			Verified struct {
				PoP, AccessToken, IDToken bool
				EHTS                      string
			}
		}
		_ = json.Unmarshal(b, &echo)
		if resp.StatusCode != 200 || !echo.Verified.PoP || !echo.Verified.AccessToken || !echo.Verified.IDToken || echo.Verified.EHTS != c.ehts {
			t.Fatalf("%s: %d %s", c.method, resp.StatusCode, b)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
	}
	for _, secret := range []string{"e2e secret", "PRIVATE KEY"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"sidecar stopped"`) {
		t.Fatalf("logs are not zap JSON or lack the stop line:\n%s", logs.String())
	}
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(injectorBin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestPopSubcommand(t *testing.T) {
	e := newEnv(t)
	body := filepath.Join(e.dir, "body.json")
	if err := os.WriteFile(body, []byte(`{"x":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLI(t, "pop", "--key", filepath.Join(e.dir, "key.pem"), "--method", "post",
		"--uri", "/v1/orders?id=a%20b", "--body-file", body, "--header", "Content-Type: application/json",
		"--sign", "Content-Type,uri,http-method,body")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	v := pop.Validator{Key: &e.key.PublicKey}
	h := http.Header{"Content-Type": {"application/json"}}
	c, err := v.Validate(strings.TrimSpace(out), pop.Request{Method: "POST", URI: "/v1/orders?id=a b", Header: h, Body: []byte(`{"x":1}`)})
	if err != nil {
		t.Fatalf("minted token does not validate: %v", err)
	}
	if got := strings.Join(c.EHTS, ";"); got != "Content-Type;uri;http-method;body" {
		t.Fatalf("ehts = %q", got)
	}
}

func TestTokenSubcommandRedacts(t *testing.T) {
	e := newEnv(t)
	cfg, _, _ := e.config(t)
	path := filepath.Join(e.dir, "cfg.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLI(t, "token", "--config", path, "--binding", "tmobile")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %s", out)
	}
	for _, k := range []string{"access_token", "id_token"} {
		s, _ := res[k].(string)
		if !strings.HasPrefix(s, "sha256:") || strings.Contains(s, "eyJ") {
			t.Fatalf("%s not redacted to a fingerprint: %q", k, s)
		}
	}
	if res["token_type"] != "bearer" || e.sim.TokenRequests() != 1 {
		t.Fatalf("unexpected result %v after %d token requests", res, e.sim.TokenRequests())
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"version":"v1","bindings":[{"name":"x","listenPort":15001,"upstream":{"url":"https://a"},"grant":{"type":"client_credentials"},"tokenEndpoint":{"url":"https://a/t"},"clientAuth":{"method":"client_secret_basic","clientIDFile":"/i","clientSecretFile":"/s"},"pop":{"type":"taap","lifetime":"300s"}}]}`), 0o600)
	garbageKey := filepath.Join(dir, "garbage.pem")
	_ = os.WriteFile(garbageKey, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"run without config", []string{"run"}, 2, "--config FILE or OAUTH_INJECTOR_CONFIG is required"},
		{"invalid config names fields", []string{"run", "--config", bad}, 1, "bindings[0].pop.lifetime: must be <= 2m0s"},
		{"missing config file", []string{"run", "--config", filepath.Join(dir, "nope.json")}, 1, "no such file"},
		{"pop needs method", []string{"pop", "--key", garbageKey, "--uri", "/"}, 2, "--method is required"},
		{"pop wrong key type", []string{"pop", "--key", garbageKey, "--method", "GET", "--uri", "/"}, 1, `found PEM block "CERTIFICATE"`},
		{"pop unsigned header", []string{"pop", "--key", garbageKey, "--method", "GET", "--uri", "/", "--sign", "uri,X-Missing"}, 2, `names header "X-Missing"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d containing %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	if out, _, code := runCLI(t, "version"); code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("version: exit %d %q", code, out)
	}
}
