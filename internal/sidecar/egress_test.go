package sidecar

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// Proxy credentials of the egress tests: the proxy requires the first when
// a case says so, and no log line or error may hold either.
const (
	proxyUser     = "egress-user"
	proxyPassword = "proxy-pass-0451"
	wrongPassword = "wrong-pass-9183"
)

// egressWorld is a token endpoint and an API, both TLS with certificates
// for a name only the proxy resolves ("auth.test", "api.test"), for
// 127.0.0.1 (reached directly) and for 0.0.0.0 (reached directly, but not
// a loopback address, so NO_PROXY decides), and a plain-HTTP API.
type egressWorld struct {
	ca, otherCA        *testutil.CA
	dir                string
	token, api, plain  *httptest.Server
	clientCA           *testutil.CA
	clientCert         testutil.Leaf
	tokenPort, apiPort string
	plainPort          string
}

func newEgressWorld(t *testing.T, mtls bool) *egressWorld {
	w := &egressWorld{ca: testutil.NewCA(t, "partner CA"), otherCA: testutil.NewCA(t, "unrelated CA"), clientCA: testutil.NewCA(t, "client CA")}
	w.clientCert = w.clientCA.Client(t, "egress-client")
	w.dir = writeFiles(t, map[string]string{"id": "client-1\n", "secret": "very-secret-value\n",
		"proxy-user": proxyUser + "\n", "proxy-pass": proxyPassword + "\n", "wrong-pass": wrongPassword + "\n",
		"tls.crt": string(w.clientCert.CertPEM), "tls.key": string(w.clientCert.KeyPEM)})
	w.ca.WritePEM(t, w.dir, "ca.pem")
	w.otherCA.WritePEM(t, w.dir, "other-ca.pem")

	w.token = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, basic := r.BasicAuth()
		switch {
		case r.Header.Get("Proxy-Authorization") != "":
			t.Errorf("Proxy-Authorization reached the token endpoint")
		case mtls && (len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "egress-client" || r.PostForm.Get("client_id") != "client-1"):
			t.Errorf("token request without the client certificate and client_id")
		case !mtls && (!basic || id != "client-1" || secret != "very-secret-value"):
			t.Errorf("token request without the client credentials")
		default:
			rw.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(rw, `{"access_token":"AT-egress","token_type":"Bearer","expires_in":3600}`)
			return
		}
		rw.WriteHeader(http.StatusUnauthorized)
	}))
	w.token.TLS = &tls.Config{Certificates: []tls.Certificate{w.ca.Server(t, "auth.test", "127.0.0.1", "0.0.0.0").TLS}}
	if mtls {
		w.token.TLS.ClientAuth, w.token.TLS.ClientCAs = tls.RequireAndVerifyClientCert, w.clientCA.Pool
	}
	w.token.StartTLS()
	t.Cleanup(w.token.Close)

	api := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("Proxy-Authorization reached the upstream")
		}
		if r.TLS != nil && r.ProtoMajor != 2 {
			t.Errorf("upstream reached over %s; want HTTP/2 inside the tunnel as without a proxy", r.Proto)
		}
		if r.Header.Get("Authorization") != "Bearer AT-egress" {
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(rw, "api ok")
	})
	w.api = httptest.NewUnstartedServer(api)
	w.api.EnableHTTP2 = true
	w.api.TLS = &tls.Config{Certificates: []tls.Certificate{w.ca.Server(t, "api.test", "127.0.0.1", "0.0.0.0").TLS}}
	w.api.StartTLS()
	t.Cleanup(w.api.Close)
	w.plain = httptest.NewServer(api)
	t.Cleanup(w.plain.Close)
	port := func(s *httptest.Server) string { u, _ := url.Parse(s.URL); return u.Port() }
	w.tokenPort, w.apiPort, w.plainPort = port(w.token), port(w.api), port(w.plain)
	return w
}

func (w *egressWorld) file(name string) string { return filepath.Join(w.dir, name) }

// TestEgressProxy: each destination goes through its own proxy section or
// directly, with TLS verification and the client certificate end to end
// inside the tunnel, and proxy failures reach the app as errors that name
// the field and the proxy but no credential.
func TestEgressProxy(t *testing.T) {
	// withCreds configures the proxy credentials files; pass is the file
	// holding the password.
	withCreds := func(px *config.Proxy, w *egressWorld, pass string) *config.Proxy {
		px.UsernameFile, px.PasswordFile = w.file("proxy-user"), w.file(pass)
		return px
	}
	cases := []struct {
		name string
		// requireAuth: the proxy answers 407 without proxyUser:proxyPassword.
		requireAuth bool
		mtls        bool
		env         map[string]string // "PROXY" in a value is replaced by the proxy's host:port
		// edit routes the binding; host names it uses decide what only
		// the proxy can reach.
		edit        func(b *config.Binding, w *egressWorld, proxyURL string)
		wantStatus  int
		wantCode    string
		wantDetail  []string // "PROXY" is replaced by the proxy's host:port
		wantTunnels []string // "TOKEN"/"API" are replaced by the ports
		wantFwd     []string
	}{
		{
			name: "token endpoint through the proxy only",
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.TokenEndpoint.URL = "https://auth.test:" + w.tokenPort + "/token"
				b.TokenEndpoint.Proxy = &config.Proxy{URL: p}
			},
			wantStatus: 200, wantTunnels: []string{"auth.test:TOKEN"},
		},
		{
			name: "upstream through the proxy only",
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.Upstream.URL = "https://api.test:" + w.apiPort
				b.Upstream.Proxy = &config.Proxy{URL: p}
			},
			wantStatus: 200, wantTunnels: []string{"api.test:API"},
		},
		{
			name: "both through a proxy that requires credentials", requireAuth: true,
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.TokenEndpoint.URL = "https://auth.test:" + w.tokenPort + "/token"
				b.TokenEndpoint.Proxy = withCreds(&config.Proxy{URL: p}, w, "proxy-pass")
				b.Upstream.URL = "https://api.test:" + w.apiPort
				b.Upstream.Proxy = withCreds(&config.Proxy{URL: p}, w, "proxy-pass")
			},
			wantStatus: 200, wantTunnels: []string{"auth.test:TOKEN", "api.test:API"},
		},
		{
			name: "cleartext upstream through the proxy in absolute form", requireAuth: true,
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.AllowInsecureHTTP = true
				b.Upstream.URL = "http://api.test:" + w.plainPort
				b.Upstream.Proxy = withCreds(&config.Proxy{URL: p}, w, "proxy-pass")
			},
			wantStatus: 200, wantFwd: []string{"http://api.test:PLAIN/v1/x"},
		},
		{
			name: "wrong proxy credentials for the token endpoint", requireAuth: true,
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.TokenEndpoint.URL = "https://auth.test:" + w.tokenPort + "/token"
				b.TokenEndpoint.Proxy = withCreds(&config.Proxy{URL: p}, w, "wrong-pass")
			},
			wantStatus: 503, wantCode: "token_unavailable",
			wantDetail: []string{"tokenEndpoint.proxy: proxy PROXY answered 407 Proxy Authentication Required to CONNECT auth.test:TOKEN: the proxy refused the configured credentials"},
		},
		{
			name: "wrong proxy credentials for the upstream", requireAuth: true,
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.Upstream.URL = "https://api.test:" + w.apiPort
				b.Upstream.Proxy = withCreds(&config.Proxy{URL: p}, w, "wrong-pass")
			},
			wantStatus: 502, wantCode: "upstream_unreachable",
			wantDetail: []string{"upstream.proxy: proxy PROXY answered 407 Proxy Authentication Required to CONNECT api.test:API: the proxy refused the configured credentials"},
		},
		{
			name: "proxy requires credentials none configured", requireAuth: true,
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.TokenEndpoint.URL = "https://auth.test:" + w.tokenPort + "/token"
				b.TokenEndpoint.Proxy = &config.Proxy{URL: p}
			},
			wantStatus: 503, wantCode: "token_unavailable",
			wantDetail: []string{"tokenEndpoint.proxy: proxy PROXY answered 407", "the proxy requires credentials and none are configured"},
		},
		{
			name: "mTLS token endpoint through the tunnel", mtls: true,
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.ClientAuth = config.ClientAuth{Method: config.AuthTLSClientAuth, ClientIDFile: w.file("id"),
					TLSCertFile: w.file("tls.crt"), TLSKeyFile: w.file("tls.key")}
				b.TokenEndpoint.URL = "https://auth.test:" + w.tokenPort + "/token"
				b.TokenEndpoint.Proxy = &config.Proxy{URL: p}
			},
			wantStatus: 200, wantTunnels: []string{"auth.test:TOKEN"},
		},
		{
			name: "upstream certificate still verified through the tunnel",
			edit: func(b *config.Binding, w *egressWorld, p string) {
				b.Upstream.URL = "https://api.test:" + w.apiPort
				b.Upstream.CAFile = w.file("other-ca.pem")
				b.Upstream.Proxy = &config.Proxy{URL: p}
			},
			wantStatus: 502, wantCode: "upstream_unreachable",
			wantDetail: []string{"certificate signed by unknown authority"}, wantTunnels: []string{"api.test:API"},
		},
		{
			name: "fromEnvironment with NO_PROXY bypass", requireAuth: true,
			env: map[string]string{"HTTPS_PROXY": "http://" + proxyUser + ":" + proxyPassword + "@PROXY", "NO_PROXY": "0.0.0.0"},
			edit: func(b *config.Binding, w *egressWorld, _ string) {
				b.TokenEndpoint.URL = "https://auth.test:" + w.tokenPort + "/token"
				b.TokenEndpoint.Proxy = &config.Proxy{FromEnvironment: true}
				b.Upstream.URL = "https://0.0.0.0:" + w.apiPort
				b.Upstream.Proxy = &config.Proxy{FromEnvironment: true}
			},
			wantStatus: 200, wantTunnels: []string{"auth.test:TOKEN"},
		},
		{
			name: "fromEnvironment without NO_PROXY", requireAuth: true,
			env: map[string]string{"https_proxy": "PROXY"},
			edit: func(b *config.Binding, w *egressWorld, _ string) {
				b.TokenEndpoint.URL = "https://auth.test:" + w.tokenPort + "/token"
				b.TokenEndpoint.Proxy = withCreds(&config.Proxy{FromEnvironment: true}, w, "proxy-pass")
				b.Upstream.URL = "https://0.0.0.0:" + w.apiPort
				b.Upstream.Proxy = withCreds(&config.Proxy{FromEnvironment: true}, w, "proxy-pass")
			},
			wantStatus: 200, wantTunnels: []string{"auth.test:TOKEN", "0.0.0.0:API"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newEgressWorld(t, tc.mtls)
			opts := testutil.ProxyOptions{Resolve: map[string]string{"auth.test": "127.0.0.1", "api.test": "127.0.0.1"}}
			if tc.requireAuth {
				opts.Username, opts.Password = proxyUser, proxyPassword
			}
			px := testutil.NewConnectProxy(t, opts)
			for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
				t.Setenv(k, strings.ReplaceAll(tc.env[k], "PROXY", px.Host))
			}
			cfg := bearerBinding(t, "https://127.0.0.1:"+w.tokenPort+"/token", "https://127.0.0.1:"+w.apiPort, func(b *config.Binding) {
				b.ClientAuth.ClientIDFile, b.ClientAuth.ClientSecretFile = w.file("id"), w.file("secret")
				b.Upstream.CAFile, b.TokenEndpoint.CAFile = w.file("ca.pem"), w.file("ca.pem")
				tc.edit(b, w, px.URL)
			})
			core, logs := observer.New(zap.DebugLevel)
			sc := startSidecarLogged(t, cfg, zap.New(core))
			// The app's own Proxy-Authorization must reach no destination
			// (both fail the test if they see one).
			resp, body := get(t, sc.url+"/v1/x", map[string]string{"Proxy-Authorization": "Basic YXBwOmFwcA=="})
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantCode != "" {
				if got := resp.Header.Get(ErrorHeader); got != tc.wantCode {
					t.Errorf("error code %q, want %q: %s", got, tc.wantCode, body)
				}
			} else if body != "api ok" {
				t.Errorf("body %q", body)
			}
			ports := strings.NewReplacer("TOKEN", w.tokenPort, "API", w.apiPort, "PLAIN", w.plainPort, "PROXY", px.Host)
			for _, d := range tc.wantDetail {
				if d = ports.Replace(d); !strings.Contains(body, d) {
					t.Errorf("body %s\ndoes not name %q", body, d)
				}
			}
			want := make([]string, 0, len(tc.wantTunnels))
			for _, h := range tc.wantTunnels {
				want = append(want, ports.Replace(h))
			}
			if got := slices.Compact(slices.Sorted(slices.Values(px.Tunnels()))); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("tunnels %v, want %v", got, want)
			}
			var fwd []string
			for _, f := range tc.wantFwd {
				fwd = append(fwd, ports.Replace(f))
			}
			if got := px.Forwarded(); !slices.Equal(got, fwd) {
				t.Errorf("forwarded %v, want %v", got, fwd)
			}
			noProxyPassword(t, logs, body)
		})
	}
}

// TestProviderEgressProxy: a provider's token endpoint goes through its own
// proxy section exactly as the binding's token endpoint does (credentials
// per tunnel, TLS to the endpoint inside it), and a refusal names the
// provider's field.
func TestProviderEgressProxy(t *testing.T) {
	cases := []struct {
		name       string
		pass       string // the file holding the proxy password
		wantStatus int
		wantCode   string
		wantDetail string // "PROXY"/"TOKEN" are replaced
	}{
		{name: "through the proxy", pass: "proxy-pass", wantStatus: 200},
		{name: "wrong proxy credentials", pass: "wrong-pass", wantStatus: 503, wantCode: "token_unavailable",
			wantDetail: "providers[0].tokenEndpoint.proxy: proxy PROXY answered 407 Proxy Authentication Required to CONNECT auth.test:TOKEN: the proxy refused the configured credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newEgressWorld(t, false)
			px := testutil.NewConnectProxy(t, testutil.ProxyOptions{Username: proxyUser, Password: proxyPassword,
				Resolve: map[string]string{"auth.test": "127.0.0.1"}})
			cfg := bearerBinding(t, "https://127.0.0.1:"+w.tokenPort+"/token", "https://127.0.0.1:"+w.apiPort, func(b *config.Binding) {
				b.ClientAuth.ClientIDFile, b.ClientAuth.ClientSecretFile = w.file("id"), w.file("secret")
				b.Upstream.CAFile, b.TokenEndpoint.CAFile = w.file("ca.pem"), w.file("ca.pem")
				b.Unmatched = config.UnmatchedDeny
				b.Operations = []config.Operation{{Name: "reports", Path: "/v1/**", Provider: "reports"}}
				b.Providers = []config.Provider{{
					Name: "reports",
					// auth.test resolves only at the proxy.
					TokenEndpoint: &config.TokenEndpoint{URL: "https://auth.test:" + w.tokenPort + "/token", Method: "POST", CAFile: w.file("ca.pem"),
						Proxy: &config.Proxy{URL: px.URL, UsernameFile: w.file("proxy-user"), PasswordFile: w.file(tc.pass)}},
					ClientAuth: b.ClientAuth,
					Grant:      config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"reports"}},
				}}
			})
			core, logs := observer.New(zap.DebugLevel)
			sc := startSidecarLogged(t, cfg, zap.New(core))
			resp, body := get(t, sc.url+"/v1/x", nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantCode != "" {
				if got := resp.Header.Get(ErrorHeader); got != tc.wantCode {
					t.Errorf("error code %q, want %q: %s", got, tc.wantCode, body)
				}
				if d := strings.NewReplacer("PROXY", px.Host, "TOKEN", w.tokenPort).Replace(tc.wantDetail); !strings.Contains(body, d) {
					t.Errorf("body %s\ndoes not name %q", body, d)
				}
			} else if body != "api ok" {
				t.Errorf("body %q", body)
			}
			var want []string // a refused CONNECT opens no tunnel
			if tc.wantStatus == 200 {
				want = []string{"auth.test:" + w.tokenPort}
			} else if px.Refused() == 0 {
				t.Error("the proxy refused nothing; the provider's token request did not ask it")
			}
			if got := slices.Compact(px.Tunnels()); !slices.Equal(got, want) {
				t.Errorf("tunnels %v, want %v (the provider's token endpoint only)", got, want)
			}
			noProxyPassword(t, logs, body)
		})
	}
}

// noProxyPassword fails the test if a log line or the app's answer holds
// either proxy password.
func noProxyPassword(t *testing.T, logs *observer.ObservedLogs, body string) {
	t.Helper()
	for _, e := range logs.All() {
		if line := e.Message + fmt.Sprint(e.ContextMap()); strings.Contains(line, proxyPassword) || strings.Contains(line, wrongPassword) {
			t.Errorf("a log line holds a proxy password: %s", line)
		}
	}
	if strings.Contains(body, proxyPassword) || strings.Contains(body, wrongPassword) {
		t.Errorf("the app's answer holds a proxy password: %s", body)
	}
}
