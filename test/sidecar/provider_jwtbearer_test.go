package sidecar

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// observingProxy forwards to target and shows each request, body intact, to
// observe first.
func observingProxy(t *testing.T, target string, observe func(*http.Request)) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host})
		pr.Out.URL.Path = u.Path
		pr.Out.Host = u.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		observe(r.Clone(r.Context()))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// jwtBearerBinding is a jwt_bearer binding signing with the client key the
// provider registered for every client.
func (p *provider) jwtBearerBinding(sec *secrets, method string, j config.JWTBearer) (config.Binding, string) {
	auth, key, clientID := p.clientAuth(sec, method)
	if key == nil {
		key = &config.PrivateKey{File: sec.key("client-key.pem", p.clientKey)}
	}
	return p.binding("jwtb", config.Grant{Type: config.GrantJWTBearer, Scopes: []string{"sim-swap"}, JWTBearer: &j}, auth, key), clientID
}

// TestProviderJWTBearer: the sidecar signs an assertion for the subscriber in
// X-Subscriber and the provider verifies it against the client's registered
// key (signature, iss, aud, exp <= 300s, jti replay, sub) before issuing a
// token for that subscriber. Two subscribers get two tokens, each echoed as
// its own sub by the upstream, and a repeat costs no token request; this
// holds with every client authentication, private_key_jwt (the same key
// signs both JWTs) and client_secret_jwt included.
func TestProviderJWTBearer(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second})
	for _, method := range append(authMethods, config.AuthNone) {
		t.Run(method, func(t *testing.T) {
			b, clientID := p.jwtBearerBinding(newSecrets(t), method, config.JWTBearer{SubjectHeader: "X-Subscriber"})
			sc := startSidecar(t, newConfig(t, b), waitLive)
			call := func(sub string) reply {
				h := http.Header{}
				if sub != "" {
					h.Set("X-Subscriber", sub)
				}
				return appCall(t, http.MethodGet, sc.url("jwtb", "/resource"), h, nil)
			}
			for _, sub := range []string{"tel:+34600000001", "operatortoken:ab12", "tel:+34600000001"} {
				r := call(sub)
				checkAccepted(t, r, clientID, "Bearer")
				if r.str("sub") != sub || r.str("scope") != "sim-swap" {
					t.Errorf("X-Subscriber %s: resource saw sub %q scope %q", sub, r.str("sub"), r.str("scope"))
				}
				if h, _ := r.json["headers"].(map[string]any); h["x-subscriber"] != nil {
					t.Errorf("the subject header reached the partner: %v", h["x-subscriber"])
				}
			}
			if got := sc.metric("oauth_injector_token_requests_total", `binding="jwtb",result="success"`); got != 2 {
				t.Errorf("token requests = %v, want 2 (one per subscriber)", got)
			}
			if r := call(""); r.status != http.StatusBadRequest || r.str("error") != "missing_subject" {
				t.Errorf("no X-Subscriber: want 400 missing_subject, got %v", r)
			}
			// The provider knows no such subscriber: a permanent refusal.
			if r := call("tel:+34999999999"); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
				t.Errorf("unknown subscriber: want 400 invalid_grant, got %v", r)
			}
		})
	}
}

// TestProviderJWTBearerFixedSubject: a fixed sub gives one client-level
// token, held before the app starts (startup probe); PS256 with the key
// registered for PS256 and its kid.
func TestProviderJWTBearerFixedSubject(t *testing.T) {
	k := rsaKey(t)
	p := startProviderKeys(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, ClientKeyAlg: "PS256"}, k, k)
	b, clientID := p.jwtBearerBinding(newSecrets(t), config.AuthClientSecretBasic,
		config.JWTBearer{Subject: "svc-reports", Algorithm: config.AlgPS256, KeyID: p.ClientKeyID})
	sc := startSidecar(t, newConfig(t, b), waitStartup)
	for range 3 {
		r := appCall(t, http.MethodGet, sc.url("jwtb", "/resource"), nil, nil)
		checkAccepted(t, r, clientID, "Bearer")
		if r.str("sub") != "svc-reports" {
			t.Errorf("sub = %q", r.str("sub"))
		}
	}
	if got := sc.metric("oauth_injector_token_requests_total", `binding="jwtb",result="success"`); got != 1 {
		t.Errorf("token requests = %v, want 1", got)
	}
}

// TestProviderJWTBearerAssertionIsSingleUse: the assertion the sidecar sent
// (seen through a proxy in front of the token endpoint, so aud is configured
// as the provider's real token URL) carries what RFC 7523 §3 asks for, and
// the provider refuses it when replayed: the sidecar signs a fresh one per
// request, and the server really checks jti.
func TestProviderJWTBearerAssertionIsSingleUse(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second})
	var mu sync.Mutex
	var assertions []string
	tokenURL := observingProxy(t, p.TokenEndpoint, func(r *http.Request) {
		if err := r.ParseForm(); err == nil && r.PostForm.Get("assertion") != "" {
			mu.Lock()
			assertions = append(assertions, r.PostForm.Get("assertion"))
			mu.Unlock()
		}
	})
	b, clientID := p.jwtBearerBinding(newSecrets(t), config.AuthClientSecretBasic,
		config.JWTBearer{SubjectHeader: "X-Subscriber", Audience: p.TokenEndpoint, Lifetime: config.Duration{Duration: 300 * time.Second}})
	b.TokenEndpoint.URL = tokenURL
	sc := startSidecar(t, newConfig(t, b), waitLive)
	for _, sub := range []string{"tel:+34600000001", "tel:+34600000002"} {
		r := appCall(t, http.MethodGet, sc.url("jwtb", "/resource"), http.Header{"X-Subscriber": {sub}}, nil)
		checkAccepted(t, r, clientID, "Bearer")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(assertions) != 2 {
		t.Fatalf("saw %d assertions, want 2", len(assertions))
	}
	jtis := map[string]bool{}
	for _, a := range assertions {
		c := jwt.MapClaims{}
		if _, err := jwt.ParseWithClaims(a, c, func(*jwt.Token) (any, error) { return p.clientKey.Public(), nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(clientID), jwt.WithAudience(p.TokenEndpoint),
			jwt.WithIssuedAt(), jwt.WithExpirationRequired()); err != nil {
			t.Fatalf("assertion: %v", err)
		}
		iat, _ := c["iat"].(float64)
		exp, _ := c["exp"].(float64)
		jti, _ := c["jti"].(string)
		if exp-iat != 300 || jti == "" || jtis[jti] {
			t.Errorf("exp-iat = %v, jti %q (seen before: %v)", exp-iat, jti, jtis[jti])
		}
		jtis[jti] = true
	}
	res := tokenRequest(t, p, url.Values{"grant_type": {oidctest.GrantJWTBearer}, "assertion": {assertions[0]}})
	if res["error"] != "invalid_grant" || res["_status"] != float64(http.StatusBadRequest) {
		t.Errorf("replayed assertion: want 400 invalid_grant, got %v", res)
	}
}

// TestProviderJWTBearerDPoP: with DPoP nonces required, the provider has
// seen the first assertion's jti when it asks for a nonce; the sidecar's
// retry carries a new assertion, so the token is issued (and DPoP-bound).
func TestProviderJWTBearerDPoP(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, DPoPNonceRequired: true})
	b, clientID := p.jwtBearerBinding(newSecrets(t), config.AuthPrivateKeyJWT, config.JWTBearer{SubjectHeader: "X-Subscriber"})
	b.PoP = &config.PoP{Type: config.PoPDPoP}
	sc := startSidecar(t, newConfig(t, b), waitLive)
	for _, sub := range []string{"tel:+34600000001", "tel:+34600000002"} {
		r := appCall(t, http.MethodGet, sc.url("jwtb", "/resource"), http.Header{"X-Subscriber": {sub}}, nil)
		checkAccepted(t, r, clientID, "DPoP")
		if r.str("sub") != sub {
			t.Errorf("sub = %q, want %q", r.str("sub"), sub)
		}
	}
}
