package sidecar

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// bootstrapRefreshToken plays the person who runs the authorization-code
// flow once: it gets a refresh token with the password grant.
func bootstrapRefreshToken(t *testing.T, p *provider) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {p.Username}, "password": {p.Password}, "scope": {"api:read"}}
	r := tokenRequest(t, p, form)
	rt, _ := r["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("password grant returned no refresh token: %v", r)
	}
	return rt
}

// tokenRequest calls the provider's token endpoint directly as the basic client.
func tokenRequest(t *testing.T, p *provider, form url.Values) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
		[]byte(url.QueryEscape(p.BasicClient.ID)+":"+url.QueryEscape(p.BasicClient.Secret))))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	out["_status"] = float64(res.StatusCode)
	return out
}

// TestProviderRefreshTokenRotation: access tokens live 2s and the provider
// rotates refresh tokens (a used one is rejected), so app calls that keep
// succeeding across several refreshes prove the sidecar sends the newest
// refresh token it holds in memory, not the one in the file.
func TestProviderRefreshTokenRotation(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 2 * time.Second})
	sec := newSecrets(t)
	rt := bootstrapRefreshToken(t, p)
	auth, _, clientID := p.clientAuth(sec, config.AuthClientSecretBasic)
	b := p.binding("rt", config.Grant{Type: config.GrantRefreshToken, RefreshToken: &config.RefreshGrant{File: sec.file("refresh_token", rt)}}, auth, nil)
	b.Refresh.Before = config.Duration{Duration: time.Second}
	sc := startSidecar(t, newConfig(t, b), waitStartup)

	const successes = 4 // the start-up fetch plus at least three refreshes
	deadline := time.Now().Add(40 * time.Second)
	calls := 0
	for sc.metric("oauth_injector_token_requests_total", `binding="rt",result="success"`) < successes {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d token refreshes in 40s", successes)
		}
		r := appCall(t, http.MethodGet, sc.url("rt", "/resource"), nil, nil)
		checkAccepted(t, r, clientID, "Bearer")
		if r.str("sub") != p.Username {
			t.Errorf("sub = %q, want %q", r.str("sub"), p.Username)
		}
		calls++
		time.Sleep(700 * time.Millisecond)
	}
	if got := sc.metric("oauth_injector_token_requests_total", `binding="rt",result="error"`); got > 0 {
		t.Errorf("%v token requests failed; a reused (rotated-away) refresh token gives invalid_grant", got)
	}
	r := appCall(t, http.MethodGet, sc.url("rt", "/resource"), nil, nil)
	checkAccepted(t, r, clientID, "Bearer")
	t.Logf("%d app calls across %v refreshes", calls+1, sc.metric("oauth_injector_token_requests_total", `binding="rt",result="success"`))
	// The bootstrap token was consumed by the first refresh: the server
	// rotated it away, so the sidecar cannot have been re-sending it.
	// (Checked last: reusing it may revoke the whole grant.)
	if res := tokenRequest(t, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); res["error"] != "invalid_grant" {
		t.Errorf("the file's refresh token is still usable (%v); rotation was not exercised", res)
	}
}

// TestProviderCIBA runs the whole CIBA flow once per client authentication
// method against one provider: the confidential ones only, since CIBA needs an
// authenticated client (the provider does not register it for none). The rows
// run in parallel because each spends most of its time waiting for the
// simulated device, not on CPU.
func TestProviderCIBA(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, CIBAApproveDelay: 3 * time.Second})
	for _, method := range authMethods {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			testCIBA(t, p, method)
		})
	}
}

// testCIBA drives one sidecar through CIBA with one client authentication
// method; the method matters at both the backchannel authentication endpoint
// and the token endpoint, so the approved rows cover both.
func testCIBA(t *testing.T, p *provider, method string) {
	sec := newSecrets(t)
	auth, key, clientID := p.clientAuth(sec, method)
	b := p.binding("ciba", config.Grant{Type: config.GrantCIBA, CIBA: &config.CIBAGrant{
		AuthorizeURL: p.BackchannelAuthenticationEndpoint,
		Purpose:      "dpv:FraudPreventionAndDetection#sim-swap",
		MaxWait:      config.Duration{Duration: time.Second},
	}}, auth, key)
	sc := startSidecar(t, newConfig(t, b), waitLive)
	// call takes the subtest's t: a failed app call must stop that subtest,
	// not the parent from another goroutine.
	call := func(t *testing.T, hint string) func() reply {
		return func() reply {
			return appCall(t, http.MethodGet, sc.url("ciba", "/resource"), http.Header{"X-Login-Hint": {hint}}, nil)
		}
	}
	notPending := func(r reply) bool { return r.status != http.StatusServiceUnavailable }

	t.Run("approved after the wait", func(t *testing.T) {
		first, last := pollUntil(t, 30*time.Second, call(t, "tel:+34666666666"), notPending)
		if first.status != http.StatusServiceUnavailable || first.str("error") != "authorization_pending" {
			t.Errorf("first call: want 503 authorization_pending (approval takes 3s, maxWait is 1s), got %v", first)
		} else if ra, err := strconv.Atoi(first.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("pending reply Retry-After = %q, want whole seconds >= 1", first.header.Get("Retry-After"))
		}
		if first.header.Get("X-OAuth-Injector-Error") == "" && first.status != http.StatusOK {
			t.Errorf("sidecar error lacks X-OAuth-Injector-Error")
		}
		checkAccepted(t, last, clientID, "Bearer")
		if last.str("sub") != "tel:+34666666666" {
			t.Errorf("sub = %q, want the subscriber", last.str("sub"))
		}
		if !strings.Contains(last.str("scope"), "sim-swap") {
			t.Errorf("scope = %q, want the purpose's sim-swap", last.str("scope"))
		}
	})
	t.Run("second subscriber gets its own token", func(t *testing.T) {
		_, last := pollUntil(t, 30*time.Second, call(t, "tel:+34677777777"), notPending)
		checkAccepted(t, last, clientID, "Bearer")
		if last.str("sub") != "tel:+34677777777" {
			t.Errorf("sub = %q, want tel:+34677777777", last.str("sub"))
		}
		// The first subscriber's token is still cached and still theirs.
		again := call(t, "tel:+34666666666")()
		checkAccepted(t, again, clientID, "Bearer")
		if again.str("sub") != "tel:+34666666666" {
			t.Errorf("first subscriber now sees sub %q", again.str("sub"))
		}
	})
	t.Run("denied", func(t *testing.T) {
		_, last := pollUntil(t, 30*time.Second, call(t, "tel:+34000000000"), notPending)
		if last.status != http.StatusForbidden || last.str("error") != "access_denied" {
			t.Errorf("want 403 access_denied, got %v", last)
		}
	})
	for _, hint := range []string{"tel:12345", "mailto:a@b", "ipport:999.1.1.1"} {
		t.Run("bad hint "+hint, func(t *testing.T) {
			r := call(t, hint)()
			if r.status != http.StatusBadRequest || r.str("error") != "invalid_login_hint" {
				t.Errorf("want 400 invalid_login_hint, got %v", r)
			}
		})
	}
	t.Run("missing hint", func(t *testing.T) {
		r := appCall(t, http.MethodGet, sc.url("ciba", "/resource"), nil, nil)
		if r.status != http.StatusBadRequest || r.str("error") != "missing_login_hint" {
			t.Errorf("want 400 missing_login_hint, got %v", r)
		}
	})
}

// signSubject signs a subject token the way the partner's registered
// identity provider would.
func signSubject(t *testing.T, key crypto.Signer, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exchangeAuthMethods: RFC 8693 and Tapkey exchange are registered for every
// client the provider has, public ones included.
var exchangeAuthMethods = []string{config.AuthClientSecretBasic, config.AuthClientSecretPost, config.AuthClientSecretJWT, config.AuthPrivateKeyJWT, config.AuthNone}

func TestProviderTokenExchangeFile(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second})
	now := time.Now()
	claims := func(exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"iss": p.SubjectTokenIssuer, "aud": p.SubjectTokenAudience, "sub": "svc-checkout",
			"iat": now.Unix(), "exp": exp.Unix(), "jti": uuid.NewString()}
	}
	type row struct {
		name       string
		auth       string
		token      string // empty: no file
		wantDetail []string
	}
	var tests []row
	// A valid subject token goes to the provider, so it runs with every
	// client authentication; the broken ones fail inside the sidecar before
	// any request, where the method makes no difference.
	for _, method := range exchangeAuthMethods {
		tests = append(tests, row{name: "valid/" + method, auth: method, token: signSubject(t, p.subjectKey, claims(now.Add(10*time.Minute)))})
	}
	tests = append(tests,
		row{name: "expired", auth: config.AuthClientSecretBasic, token: signSubject(t, p.subjectKey, claims(now.Add(-time.Minute))), wantDetail: []string{"subjectToken.file", "expired"}},
		row{name: "missing file", auth: config.AuthClientSecretBasic, wantDetail: []string{"subjectToken.file", "no such file"}},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newSecrets(t)
			file := filepath.Join(sec.dir, "partner-token")
			if tt.token != "" {
				sec.file("partner-token", tt.token)
			}
			auth, key, clientID := p.clientAuth(sec, tt.auth)
			b := p.binding("xchg", config.Grant{Type: config.GrantTokenExchange, TokenExchange: &config.TokenExchange{
				GrantType:          config.TokenExchangeRFC8693,
				SubjectTokenType:   "urn:ietf:params:oauth:token-type:jwt",
				RequestedTokenType: "urn:ietf:params:oauth:token-type:access_token",
				Audience:           p.Resource,
				SubjectToken:       config.SubjectSource{File: file},
			}}, auth, key)
			wait := waitStartup
			if tt.wantDetail != nil {
				wait = waitLive
			}
			sc := startSidecar(t, newConfig(t, b), wait)
			r := appCall(t, http.MethodGet, sc.url("xchg", "/resource"), nil, nil)
			if tt.wantDetail == nil {
				checkAccepted(t, r, clientID, "Bearer")
				if r.str("sub") != "svc-checkout" {
					t.Errorf("sub = %q, want the subject token's sub", r.str("sub"))
				}
				return
			}
			if r.status != http.StatusServiceUnavailable || r.header.Get("X-OAuth-Injector-Error") == "" {
				t.Fatalf("want a 503 from the sidecar, got %v", r)
			}
			for _, w := range tt.wantDetail {
				if !strings.Contains(r.str("detail"), w) {
					t.Errorf("detail %q does not mention %q", r.str("detail"), w)
				}
			}
			if !strings.Contains(r.str("detail"), file) {
				t.Errorf("detail %q does not name the file %s", r.str("detail"), file)
			}
			if tt.token != "" && strings.Contains(string(r.raw), tt.token) {
				t.Error("the subject token leaked into the error")
			}
		})
	}
}

// TestProviderTokenExchangeMint: the sidecar is the identity provider the
// partner trusts; it signs a per-user subject JWT (sub from X-User) and
// exchanges it, for RFC 8693 and for Tapkey, with every client authentication.
// A binding has one privateKey, so with private_key_jwt that key signs both
// the client assertion and the subject token: the provider trusts one RSA key
// for both.
func TestProviderTokenExchangeMint(t *testing.T) {
	p := startProviderOneKey(t, oidctest.Options{AccessTokenTTL: 60 * time.Second})
	grants := []struct {
		name  string
		grant config.TokenExchange
	}{
		{name: "rfc8693", grant: config.TokenExchange{
			GrantType:        config.TokenExchangeRFC8693,
			SubjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
			SubjectToken:     config.SubjectSource{Mint: &config.MintSubject{Issuer: p.SubjectTokenIssuer, Audience: p.SubjectTokenAudience}},
		}},
		// audience, requestedTokenType and subjectTokenType are left to
		// the documented Tapkey defaults; the provider refuses an exchange
		// without audience, as Tapkey does.
		{name: "tapkey", grant: config.TokenExchange{
			GrantType:    config.TokenExchangeTapkey,
			Provider:     p.TapkeyProvider,
			SubjectToken: config.SubjectSource{Mint: &config.MintSubject{Issuer: p.SubjectTokenIssuer, Audience: p.TapkeyAudience}},
		}},
	}
	type row struct {
		name, auth string
		grant      config.TokenExchange
	}
	var tests []row
	for _, g := range grants {
		for _, method := range exchangeAuthMethods {
			tests = append(tests, row{name: g.name + "/" + method, auth: method, grant: g.grant})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newSecrets(t)
			auth, key, clientID := p.clientAuth(sec, tt.auth)
			if key == nil {
				key = &config.PrivateKey{File: sec.key("idp-key.pem", p.subjectKey)}
			}
			g := tt.grant
			b := p.binding("mint", config.Grant{Type: config.GrantTokenExchange, Scopes: []string{"read:user"}, TokenExchange: &g}, auth, key)
			sc := startSidecar(t, newConfig(t, b), waitLive)
			for _, user := range []string{"alice", "bob", "alice"} {
				r := appCall(t, http.MethodGet, sc.url("mint", "/resource"), http.Header{"X-User": {user}}, nil)
				checkAccepted(t, r, clientID, "Bearer")
				if r.str("sub") != user {
					t.Errorf("X-User %s: resource saw sub %q", user, r.str("sub"))
				}
				if h, _ := r.json["headers"].(map[string]any); h["x-user"] != nil {
					t.Errorf("the subject header reached the partner: %v", h["x-user"])
				}
			}
			// alice's second call reused her cached token: two users, two exchanges.
			if got := sc.metric("oauth_injector_token_requests_total", `binding="mint",result="success"`); got != 2 {
				t.Errorf("token exchanges = %v, want 2 (one per user)", got)
			}
			r := appCall(t, http.MethodGet, sc.url("mint", "/resource"), nil, nil)
			if r.status != http.StatusBadRequest || r.str("error") != "missing_subject" {
				t.Errorf("no X-User: want 400 missing_subject, got %v", r)
			}
		})
	}
}
