package consent

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// TestHTTPClientThroughProxy: injector consent reaches the token endpoint
// through the binding's tokenEndpoint.proxy, as the sidecar does, with the
// proxy credentials from its files and the endpoint's CA verified inside the
// tunnel; auth.test resolves only at the proxy.
func TestHTTPClientThroughProxy(t *testing.T) {
	ca := testutil.NewCA(t, "provider CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "token endpoint")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "auth.test").TLS}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	target := "https://auth.test:" + u.Port() + "/token"

	dir := t.TempDir()
	caFile := ca.WritePEM(t, dir, "ca.pem")
	for name, v := range map[string]string{"user": "consent-user\n", "pass": "consent-pass\n", "wrong": "nope-pass\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		passFile string
		want     string // error substring; empty: success
	}{
		{"credentials accepted", "pass", ""},
		{"credentials refused", "wrong", "tokenEndpoint.proxy: proxy 127.0.0.1:"},
		{"password file missing", "absent", "tokenEndpoint.proxy.passwordFile: open "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			px := testutil.NewConnectProxy(t, testutil.ProxyOptions{Username: "consent-user", Password: "consent-pass",
				Resolve: map[string]string{"auth.test": "127.0.0.1"}})
			b := &config.Binding{TokenEndpoint: &config.TokenEndpoint{URL: target, CAFile: caFile,
				Proxy: &config.Proxy{URL: px.URL, UsernameFile: filepath.Join(dir, "user"), PasswordFile: filepath.Join(dir, tc.passFile)}}}
			hc, err := httpClient(b, "tokenEndpoint", b.TokenEndpoint.CAFile, b.TokenEndpoint.Proxy)
			if err == nil {
				var resp *http.Response
				if resp, err = hc.Get(target); err == nil {
					defer resp.Body.Close()
					if body, _ := io.ReadAll(resp.Body); string(body) != "token endpoint" {
						t.Fatalf("%d %s", resp.StatusCode, body)
					}
				}
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := px.Tunnels(); len(got) != 1 || got[0] != "auth.test:"+u.Port() {
					t.Errorf("tunnels %v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "consent-pass") || strings.Contains(err.Error(), "nope-pass") {
				t.Fatalf("error holds a password: %v", err)
			}
		})
	}
}
