package egress

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// setProxyEnv clears every proxy variable, then sets env.
func setProxyEnv(t *testing.T, env map[string]string) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(k, env[k])
	}
}

// TestFromEnvironmentChoosesPerTarget: fromEnvironment follows HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY per target, never proxies loopback, and hands
// net/http a proxy URL without the environment's userinfo.
func TestFromEnvironmentChoosesPerTarget(t *testing.T) {
	env := map[string]string{
		"HTTPS_PROXY": "http://alice:s3cret@secure-proxy.corp:3128",
		"http_proxy":  "plain-proxy.corp:8080", // bare host:port means http://
		"NO_PROXY":    "internal.corp,10.0.0.0/8",
	}
	cases := []struct {
		target string
		want   string // proxy URL, or "" for direct
	}{
		{"https://api.partner.example/v1", "http://secure-proxy.corp:3128"},
		{"http://api.partner.example/v1", "http://plain-proxy.corp:8080"},
		{"https://auth.internal.corp/token", ""},
		{"https://10.1.2.3:8443/", ""},
		{"https://127.0.0.1:8443/", ""},
		{"https://localhost/", ""},
	}
	setProxyEnv(t, env)
	r, err := New(&config.Proxy{FromEnvironment: true}, "upstream.proxy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.String(), "s3cret") || r.Direct() {
		t.Fatalf("route %q (direct %v)", r, r.Direct())
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tc.target, nil)
			got, err := r.proxyFor(req)
			if err != nil {
				t.Fatal(err)
			}
			s := ""
			if got != nil {
				s = got.String()
			}
			if s != tc.want {
				t.Fatalf("proxy = %q, want %q", s, tc.want)
			}
		})
	}
	if a, _ := r.authorization("secure-proxy.corp:3128"); a != basic("alice", "s3cret") {
		t.Errorf("authorization for the HTTPS_PROXY = %q, want the environment's userinfo", a)
	}
	if a, _ := r.authorization("plain-proxy.corp:8080"); a != "" {
		t.Errorf("authorization for the HTTP_PROXY = %q, want none", a)
	}
	// Credentials files win over the environment's userinfo.
	r2, err := New(&config.Proxy{FromEnvironment: true}, "upstream.proxy", func() (string, string) { return "bob", "files" })
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := r2.authorization("secure-proxy.corp:3128"); a != basic("bob", "files") {
		t.Errorf("authorization = %q, want the files' credentials", a)
	}
}

func basic(u, p string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))
}

// TestFromEnvironmentRefusals: an environment proxy the sidecar cannot use
// stops it at start with the field and the variable, never the password.
func TestFromEnvironmentRefusals(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"https proxy", map[string]string{"HTTPS_PROXY": "https://alice:s3cret@proxy.corp:443"}, "tokenEndpoint.proxy.fromEnvironment: HTTPS_PROXY (or its lower-case form) https://proxy.corp:443: https:// proxies"},
		{"socks proxy", map[string]string{"http_proxy": "socks5://alice:s3cret@proxy.corp:1080"}, "tokenEndpoint.proxy.fromEnvironment: HTTP_PROXY (or its lower-case form) socks5://proxy.corp:1080: must be http://host[:port]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setProxyEnv(t, tc.env)
			_, err := New(&config.Proxy{FromEnvironment: true}, "tokenEndpoint.proxy", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error echoes the password: %v", err)
			}
		})
	}
	t.Run("empty environment is direct", func(t *testing.T) {
		setProxyEnv(t, nil)
		r, err := New(&config.Proxy{FromEnvironment: true}, "upstream.proxy", nil)
		if err != nil || !r.Direct() {
			t.Fatalf("route %v, err %v; want a direct route", r, err)
		}
	})
}

// TestRouteThroughProxy drives a plain http.Transport with a route against
// the strict test proxy: https:// targets by CONNECT, http:// targets in
// absolute form, credentials only toward the proxy, and a 407 reported as
// an *Error that names the field, the proxy and the target.
func TestRouteThroughProxy(t *testing.T) {
	ca := testutil.NewCA(t, "egress test CA")
	var sawProxyAuth atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" {
			sawProxyAuth.Store(true)
		}
		_, _ = io.WriteString(w, "hello from "+r.Host)
	})
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "api.test").TLS}}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	port := func(s *httptest.Server) string { u, _ := url.Parse(s.URL); return u.Port() }

	cases := []struct {
		name       string
		user, pass string // proxy requires these when user is set
		creds      Credentials
		target     string
		wantTunnel bool
		wantErr    string
	}{
		{name: "https by CONNECT", target: "https://api.test:" + port(tlsSrv) + "/x", wantTunnel: true},
		{name: "http in absolute form", target: "http://api.test:" + port(plain) + "/x"},
		{name: "https with credentials", user: "alice", pass: "pw-1", creds: static("alice", "pw-1"), target: "https://api.test:" + port(tlsSrv) + "/x", wantTunnel: true},
		{name: "http with credentials", user: "alice", pass: "pw-1", creds: static("alice", "pw-1"), target: "http://api.test:" + port(plain) + "/x"},
		{name: "https wrong credentials", user: "alice", pass: "pw-1", creds: static("alice", "wrong-pw"), target: "https://api.test:" + port(tlsSrv) + "/x",
			wantErr: "upstream.proxy: proxy 127.0.0.1:%s answered 407 Proxy Authentication Required to CONNECT api.test:" + port(tlsSrv) + ": the proxy refused the configured credentials"},
		{name: "http wrong credentials", user: "alice", pass: "pw-1", creds: static("alice", "wrong-pw"), target: "http://api.test:" + port(plain) + "/x",
			wantErr: "upstream.proxy: proxy 127.0.0.1:%s answered 407 Proxy Authentication Required to GET api.test:" + port(plain) + ": the proxy refused the configured credentials"},
		{name: "https no credentials", user: "alice", pass: "pw-1", target: "https://api.test:" + port(tlsSrv) + "/x",
			wantErr: "the proxy requires credentials and none are configured"},
		{name: "colon in username", user: "alice", pass: "pw-1", creds: static("al:ice", "pw-1"), target: "https://api.test:" + port(tlsSrv) + "/x",
			wantErr: "upstream.proxy: the proxy username contains ':'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sawProxyAuth.Store(false)
			px := testutil.NewConnectProxy(t, testutil.ProxyOptions{Username: tc.user, Password: tc.pass, Resolve: map[string]string{"api.test": "127.0.0.1"}})
			r, err := New(&config.Proxy{URL: px.URL}, "upstream.proxy", tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			rt := r.Apply(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}})
			resp, err := (&http.Client{Transport: rt}).Get(tc.target)
			if tc.wantErr != "" {
				want := tc.wantErr
				if strings.Contains(want, "%s") {
					want = strings.Replace(want, "%s", strings.TrimPrefix(px.Host, "127.0.0.1:"), 1)
				}
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %d, want error %q", resp.StatusCode, want)
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q\nwant %q", err, want)
				}
				var pe *Error
				if strings.Contains(want, "answered") && !errors.As(err, &pe) {
					t.Fatalf("error %T is not an *egress.Error", err)
				}
				if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), "pw-1") {
					t.Fatalf("error holds a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello from api.test:") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if got := len(px.Tunnels()); (got == 1) != tc.wantTunnel {
				t.Errorf("tunnels %v, want tunnel %v", px.Tunnels(), tc.wantTunnel)
			}
			if !tc.wantTunnel && len(px.Forwarded()) != 1 {
				t.Errorf("forwarded %v, want the one request", px.Forwarded())
			}
			if sawProxyAuth.Load() {
				t.Error("Proxy-Authorization reached the target")
			}
		})
	}
}

func static(u, p string) Credentials { return func() (string, string) { return u, p } }

// TestCredentialsReadPerTunnel: the credentials are asked for on every new
// tunnel, so a rotated Secret applies without rebuilding the transport.
func TestCredentialsReadPerTunnel(t *testing.T) {
	ca := testutil.NewCA(t, "egress test CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "api.test").TLS}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	px := testutil.NewConnectProxy(t, testutil.ProxyOptions{Username: "alice", Password: "rotated-pw", Resolve: map[string]string{"api.test": "127.0.0.1"}})
	var pass atomic.Pointer[string]
	old := "old-pw"
	pass.Store(&old)
	r, err := New(&config.Proxy{URL: px.URL}, "upstream.proxy", func() (string, string) { return "alice", *pass.Load() })
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: r.Apply(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}})}
	target := "https://api.test:" + u.Port() + "/"
	if _, err := c.Get(target); err == nil || !strings.Contains(err.Error(), "407") {
		t.Fatalf("with the old password: %v, want a 407 error", err)
	}
	rotated := "rotated-pw"
	pass.Store(&rotated)
	resp, err := c.Get(target)
	if err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	resp.Body.Close()
	if px.Refused() != 1 || len(px.Tunnels()) != 1 {
		t.Errorf("refused %d, tunnels %v; want one refusal, then one tunnel", px.Refused(), px.Tunnels())
	}
}
