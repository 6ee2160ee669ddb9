package sidecar

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// tokenCalls records the token requests that pass through a proxy in front
// of a real token endpoint: grant_type, scope and client per call.
type tokenCalls struct {
	mu    sync.Mutex
	calls []url.Values
}

func (c *tokenCalls) observe(r *http.Request) {
	if err := r.ParseForm(); err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, r.PostForm)
}

// scopes lists the scope parameter of every recorded call, sorted.
func (c *tokenCalls) scopes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.calls))
	for i, v := range c.calls {
		out[i] = sortedScope(v.Get("scope"))
	}
	slices.Sort(out)
	return out
}

func recordTokenCalls(t *testing.T, endpoint string) (string, *tokenCalls) {
	t.Helper()
	c := &tokenCalls{}
	return observingProxy(t, endpoint, c.observe), c
}

// sortedScope normalises a space-separated scope list for comparison: a
// scope is a set (RFC 6749 §3.3).
func sortedScope(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return strings.Join(f, " ")
}

// TestProviderOperationsScopes: three operations with three scope sets
// give three tokens from the real provider, each requested with exactly its
// operation's scopes and seen with exactly those at the upstream; an
// operation with the binding's own scopes reuses the binding's token, and
// two operations with one scope set share a token. With unmatched: deny a
// request no operation matches gets 403 operation_not_allowed and costs no
// token; with unmatched: allow it carries the binding's own scopes.
func TestProviderOperationsScopes(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 600 * time.Second, ResourceScopes: []string{"a", "b", "c"}})
	tokenURL, calls := recordTokenCalls(t, p.TokenEndpoint)
	sec := newSecrets(t)
	auth, _, clientID := p.clientAuth(sec, config.AuthClientSecretBasic)
	ops := []config.Operation{
		{Name: "read", Methods: []string{"GET"}, Path: "/resource/items/{id}", Scopes: []string{"a"}},
		{Name: "list", Methods: []string{"GET"}, Path: "/resource/items", Scopes: []string{"a"}},
		{Name: "write", Methods: []string{"PUT", "DELETE"}, Path: "/resource/items/{id}", Scopes: []string{"b"}},
		{Name: "admin", Path: "/resource/admin/**", Scopes: []string{"c", "b"}},
	}
	deny := p.binding("deny", config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"a"}}, auth, nil)
	deny.TokenEndpoint.URL = tokenURL
	deny.Operations, deny.Unmatched = ops, config.UnmatchedDeny
	allow := deny
	allow.Name, allow.Unmatched = "allow", config.UnmatchedAllow
	allow.Grant = config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"a", "b", "c"}}
	sc := startSidecar(t, newConfig(t, deny, allow), waitStartup)

	// Start-up fetched what each binding can use: deny's three scope sets
	// ("a" is its own grant's), allow's three plus its own "a b c".
	if got, want := calls.scopes(), []string{"a", "a", "a b c", "b", "b", "b c", "b c"}; !slices.Equal(got, want) {
		t.Fatalf("token requests asked for scopes %q, want %q", got, want)
	}
	tests := []struct {
		binding, method, path string
		wantScope             string // "" = refused
	}{
		{"deny", http.MethodGet, "/resource/items/7", "a"},
		{"deny", http.MethodGet, "/resource/items", "a"},
		{"deny", http.MethodPut, "/resource/items/7", "b"},
		{"deny", http.MethodDelete, "/resource/items/7", "b"},
		{"deny", http.MethodPost, "/resource/admin/users/1", "b c"},
		{"deny", http.MethodGet, "/resource/admin", "b c"},
		{"deny", http.MethodPost, "/resource/items/7", ""},
		{"deny", http.MethodGet, "/resource/other", ""},
		{"allow", http.MethodPut, "/resource/items/7", "b"},
		{"allow", http.MethodPost, "/resource/items/7", "a b c"},
		{"allow", http.MethodGet, "/resource/other", "a b c"},
	}
	for _, tt := range tests {
		r := appCall(t, tt.method, sc.url(tt.binding, tt.path), appHeaders(), nil)
		if tt.wantScope == "" {
			if r.status != http.StatusForbidden || r.str("error") != "operation_not_allowed" ||
				r.header.Get("X-OAuth-Injector-Error") != "operation_not_allowed" || !strings.Contains(r.str("detail"), tt.path) {
				t.Errorf("%s %s %s: want 403 operation_not_allowed naming the path, got %v", tt.binding, tt.method, tt.path, r)
			}
			continue
		}
		checkAccepted(t, r, clientID, "Bearer")
		if got := sortedScope(r.str("scope")); got != tt.wantScope {
			t.Errorf("%s %s %s: upstream saw scope %q, want exactly %q", tt.binding, tt.method, tt.path, got, tt.wantScope)
		}
	}
	// Refused requests and repeats cost no token request.
	if n := len(calls.scopes()); n != 7 {
		t.Errorf("%d token requests after the app calls, want the 7 of start-up", n)
	}
	if r := appCall(t, http.MethodGet, sc.url("deny", "/resource/items/../admin/x"), nil, nil); r.status != http.StatusBadRequest || r.str("error") != "invalid_path" {
		t.Errorf("a dot segment: want 400 invalid_path, got %v", r)
	}
}

// TestProviderOperationsSecondProvider: one operation uses a second
// provider, a client of its own (client_secret_post) at a token endpoint of
// its own, with its own scopes; the others use the binding's provider. The
// upstream sees each token's client and scope.
func TestProviderOperationsSecondProvider(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 600 * time.Second, ResourceScopes: []string{"a", "b", "c"}})
	ownURL, ownCalls := recordTokenCalls(t, p.TokenEndpoint)
	otherURL, otherCalls := recordTokenCalls(t, p.TokenEndpoint)
	sec := newSecrets(t)
	auth, _, ownID := p.clientAuth(sec, config.AuthClientSecretBasic)
	otherAuth, _, otherID := p.clientAuth(sec, config.AuthClientSecretPost)
	b := p.binding("api", config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"a"}}, auth, nil)
	b.TokenEndpoint.URL = ownURL
	b.Providers = []config.Provider{{
		Name:          "reports",
		TokenEndpoint: &config.TokenEndpoint{URL: otherURL},
		ClientAuth:    otherAuth,
		Grant:         config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"c"}},
	}}
	b.Operations = []config.Operation{
		{Name: "reports", Path: "/resource/reports/**", Provider: "reports"},
		{Name: "reports-admin", Path: "/resource/reports/admin/**", Provider: "reports", Scopes: []string{"b", "c"}},
		{Name: "items", Path: "/resource/items/**", Scopes: []string{"b"}},
	}
	sc := startSidecar(t, newConfig(t, b), waitStartup)

	tests := []struct {
		path, clientID, scope string
	}{
		{"/resource/reports/2024", otherID, "c"},
		{"/resource/reports/admin/purge", otherID, "b c"},
		{"/resource/items/1", ownID, "b"},
		{"/resource/other", ownID, "a"},
	}
	for _, tt := range tests {
		r := appCall(t, http.MethodGet, sc.url("api", tt.path), nil, nil)
		checkAccepted(t, r, tt.clientID, "Bearer")
		if got := sortedScope(r.str("scope")); got != tt.scope {
			t.Errorf("%s: scope %q, want %q", tt.path, got, tt.scope)
		}
	}
	if got, want := ownCalls.scopes(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("the binding's token endpoint was asked for %q, want %q", got, want)
	}
	if got, want := otherCalls.scopes(), []string{"b c", "c"}; !slices.Equal(got, want) {
		t.Errorf("the second provider's token endpoint was asked for %q, want %q", got, want)
	}
	otherCalls.mu.Lock()
	for _, c := range otherCalls.calls {
		if c.Get("client_id") != otherID || c.Get("client_secret") == "" {
			t.Errorf("a call to the second provider did not authenticate as %s with client_secret_post: client_id %q", otherID, c.Get("client_id"))
		}
	}
	otherCalls.mu.Unlock()
}

// TestProviderOperationsRefreshTokenChain: two operations refresh, with
// their own narrower scopes, from one refresh token that the provider
// rotates on every use. Both caches warm at start-up at once; the refreshes
// must take turns, or the second would present a rotated-away refresh token
// (invalid_grant, and the provider revokes the grant on reuse).
func TestProviderOperationsRefreshTokenChain(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 2 * time.Second, ResourceScopes: []string{"a", "b", "c"}})
	sec := newSecrets(t)
	form := url.Values{"grant_type": {"password"}, "username": {p.Username}, "password": {p.Password}, "scope": {"a b"}}
	rt, _ := tokenRequest(t, p, form)["refresh_token"].(string)
	if rt == "" {
		t.Fatal("password grant returned no refresh token")
	}
	auth, _, clientID := p.clientAuth(sec, config.AuthClientSecretBasic)
	b := p.binding("rt", config.Grant{Type: config.GrantRefreshToken, RefreshToken: &config.RefreshGrant{File: sec.file("refresh_token", rt)}}, auth, nil)
	b.Refresh.Before = config.Duration{Duration: time.Second}
	b.Operations = []config.Operation{
		{Name: "read", Methods: []string{"GET"}, Path: "/resource/**", Scopes: []string{"a"}},
		{Name: "write", Methods: []string{"POST"}, Path: "/resource/**", Scopes: []string{"b"}},
	}
	b.Unmatched = config.UnmatchedDeny
	sc := startSidecar(t, newConfig(t, b), waitStartup)

	// Each op's 2 s token is refreshed about every second: six successes
	// are several rounds of both caches on one rotating chain.
	deadline := time.Now().Add(40 * time.Second)
	for sc.metric("oauth_injector_token_requests_total", `binding="rt",result="success"`) < 6 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 6 refreshes in 40s")
		}
		for _, m := range []struct{ method, scope string }{{http.MethodGet, "a"}, {http.MethodPost, "b"}} {
			r := appCall(t, m.method, sc.url("rt", "/resource/x"), nil, nil)
			checkAccepted(t, r, clientID, "Bearer")
			if r.str("scope") != m.scope || r.str("sub") != p.Username {
				t.Errorf("%s: scope %q sub %q, want %q %q", m.method, r.str("scope"), r.str("sub"), m.scope, p.Username)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := sc.metric("oauth_injector_token_requests_total", `binding="rt",result="error"`); got > 0 {
		t.Errorf("%v refreshes failed: two caches presented one rotating refresh token", got)
	}
}

// TestProviderOperationsCIBAPurposes: an Open Gateway style CIBA binding
// whose two operations carry two purposes. One subscriber calling both gets
// two tokens, each from its own backchannel authorization (counted at the
// bc-authorize endpoint) and each with only its own purpose's scope; asking
// again starts no third authorization.
func TestProviderOperationsCIBAPurposes(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, CIBAApproveDelay: time.Second,
		ResourceScopes: []string{"sim-swap", "device-location"}})
	authorizeURL, authorizes := countingProxy(t, p.BackchannelAuthenticationEndpoint)
	auth, key, clientID := p.clientAuth(newSecrets(t), config.AuthClientSecretBasic)
	b := p.binding("og", config.Grant{Type: config.GrantCIBA, CIBA: &config.CIBAGrant{
		AuthorizeURL: authorizeURL,
		MaxWait:      config.Duration{Duration: 200 * time.Millisecond},
	}}, auth, key)
	b.Operations = []config.Operation{
		{Name: "sim-swap", Methods: []string{"POST"}, Path: "/resource/sim-swap/**", Purpose: "dpv:FraudPreventionAndDetection#sim-swap"},
		{Name: "location", Methods: []string{"POST"}, Path: "/resource/location/**", Purpose: "dpv:FraudPreventionAndDetection#device-location"},
	}
	b.Unmatched = config.UnmatchedDeny
	sc := startSidecar(t, newConfig(t, b), waitLive)
	const subscriber = "tel:+34611111111"
	call := func(path string) reply {
		return appCall(t, http.MethodPost, sc.url("og", path), http.Header{"X-Login-Hint": {subscriber}, "Content-Type": {"application/json"}}, []byte(`{}`))
	}
	notPending := func(r reply) bool { return r.status != http.StatusServiceUnavailable }

	for i, tt := range []struct{ path, scope, other string }{
		{"/resource/sim-swap/check", "sim-swap", "device-location"},
		{"/resource/location/verify", "device-location", "sim-swap"},
	} {
		first, last := pollUntil(t, 30*time.Second, func() reply { return call(tt.path) }, notPending)
		if first.str("error") != "authorization_pending" {
			t.Errorf("%s: the first call should wait for its own authorization, got %v", tt.path, first)
		}
		checkAccepted(t, last, clientID, "Bearer")
		scopes := strings.Fields(last.str("scope"))
		if last.str("sub") != subscriber || !slices.Contains(scopes, tt.scope) || slices.Contains(scopes, tt.other) {
			t.Errorf("%s: sub %q scope %q, want %s with %s and without %s", tt.path, last.str("sub"), last.str("scope"), subscriber, tt.scope, tt.other)
		}
		if n := authorizes.Load(); n != int64(i+1) {
			t.Errorf("after %s: %d backchannel authorizations, want %d", tt.path, n, i+1)
		}
	}
	for _, path := range []string{"/resource/sim-swap/check", "/resource/location/verify"} {
		checkAccepted(t, call(path), clientID, "Bearer")
	}
	if n := authorizes.Load(); n != 2 {
		t.Errorf("%d backchannel authorizations for one subscriber and two purposes, want 2", n)
	}
	if r := call("/resource/other"); r.status != http.StatusForbidden || r.str("error") != "operation_not_allowed" {
		t.Errorf("unmatched: want 403 operation_not_allowed, got %v", r)
	}
	if n := authorizes.Load(); n != 2 {
		t.Errorf("a refused request started an authorization (%d)", n)
	}
}
