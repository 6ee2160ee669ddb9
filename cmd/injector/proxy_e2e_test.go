package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// TestRunThroughProxy runs the built binary with the token endpoint and the
// partner API (the TAAP simulator) behind a proxy that alone can resolve
// their name, partner.test, and that requires credentials. Verified calls
// prove the whole path: CONNECT with Proxy-Authorization, TLS verified
// against the partner's CA inside the tunnel, the PoP and token checked by
// the simulator. Once with a fixed proxy URL and credentials files, once
// with fromEnvironment and the binary's real HTTPS_PROXY.
func TestRunThroughProxy(t *testing.T) {
	const proxyPass = "e2e-proxy-pass-7731"
	cases := []struct {
		name  string
		proxy func(proxyURL string) string // the JSON of each proxy section
		env   func(proxyURL string) []string
	}{
		{
			name: "url and credentials files",
			proxy: func(p string) string {
				return fmt.Sprintf(`{"url": %q, "usernameFile": "DIR/proxy-user", "passwordFile": "DIR/proxy-pass"}`, p)
			},
		},
		{
			name:  "fromEnvironment",
			proxy: func(string) string { return `{"fromEnvironment": true}` },
			env: func(p string) []string {
				return []string{"HTTPS_PROXY=" + testutil.ProxyURLWithUser(p, "e2e-proxy", proxyPass), "NO_PROXY=internal.example"}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for name, data := range map[string]string{"proxy-user": "e2e-proxy\n", "proxy-pass": proxyPass + "\n"} {
				if err := os.WriteFile(filepath.Join(e.dir, name), []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ca := testutil.NewCA(t, "partner CA")
			caFile := ca.WritePEM(t, e.dir, "partner-ca.pem")
			srv := httptest.NewUnstartedServer(e.sim.Handler())
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "partner.test").TLS}}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			u, _ := url.Parse(srv.URL)
			partner := "partner.test:" + u.Port()
			px := testutil.NewConnectProxy(t, testutil.ProxyOptions{Username: "e2e-proxy", Password: proxyPass,
				Resolve: map[string]string{"partner.test": "127.0.0.1"}})

			port, admin := testutil.FreePort(t), testutil.FreePort(t)
			section := strings.ReplaceAll(tc.proxy(px.URL), "DIR", e.dir)
			cfg := fmt.Sprintf(`{
  "version": "v1",
  "admin": {"listen": "127.0.0.1:%[3]d"},
  "bindings": [{
    "name": "tmobile", "listenPort": %[2]d,
    "upstream": {"url": "https://%[1]s", "caFile": %[5]q, "proxy": %[6]s},
    "tokenEndpoint": {"url": "https://%[1]s/oauth2/v6/tokens", "caFile": %[5]q, "proxy": %[6]s},
    "grant": {"type": "client_credentials"},
    "clientAuth": {"method": "client_secret_basic", "clientIDFile": "%[4]s/client_id", "clientSecretFile": "%[4]s/client_secret"},
    "privateKey": {"file": "%[4]s/key.pem"},
    "pop": {"type": "taap"}
  }]
}`, partner, port, admin, e.dir, caFile, section)
			var logs bytes.Buffer
			cmd := exec.Command(injectorBin, "run")
			cmd.Env = append(os.Environ(), "OAUTH_INJECTOR_CONFIG="+cfg, "HTTPS_PROXY=", "https_proxy=", "HTTP_PROXY=", "http_proxy=", "NO_PROXY=", "no_proxy=")
			if tc.env != nil {
				cmd.Env = append(cmd.Env, tc.env(px.URL)...)
			}
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The success path waits after SIGTERM; a failure before it
			// leaves the child to this kill and its one Wait.
			waited := false
			defer func() {
				if !waited {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			}()
			waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/startup", admin), cmd, &logs)

			resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/echo", port), "application/json", strings.NewReader(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var echo struct {
				Verified struct{ PoP, AccessToken bool }
			}
			_ = json.Unmarshal(b, &echo)
			if resp.StatusCode != 200 || !echo.Verified.PoP || !echo.Verified.AccessToken {
				t.Fatalf("%d %s\nlogs:\n%s", resp.StatusCode, b, logs.String())
			}
			tunnels := px.Tunnels()
			if len(tunnels) == 0 {
				t.Fatal("no tunnel through the proxy")
			}
			for _, tn := range tunnels {
				if tn != partner {
					t.Errorf("tunnel to %s, want only %s", tn, partner)
				}
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			waited = true
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
			}
			if strings.Contains(logs.String(), proxyPass) {
				t.Fatalf("logs contain the proxy password:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), `"msg":"egress through an HTTP proxy"`) {
				t.Errorf("no start-up line naming the proxy:\n%s", logs.String())
			}
		})
	}
}
