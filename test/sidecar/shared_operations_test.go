package sidecar

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// TestSharedOperationsKeepTheirTokens: a binding whose operations ask for
// scopes of their own has one token per scope set, and on two replicas
// sharing a store each of them is fetched once, by the first replica, and
// read from the store by the second. Every request, on either replica,
// carries exactly its operation's scopes: the store keeps each scope set's
// token under a name of its own, so no operation is handed another's.
func TestSharedOperationsKeepTheirTokens(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: time.Hour, ResourceScopes: []string{"a", "b", "c"}})
	tokenURL, calls := recordTokenCalls(t, p.TokenEndpoint)
	store := newSharedStore(t)
	sec := newSecrets(t)
	auth, _, clientID := p.clientAuth(sec, config.AuthClientSecretBasic)
	b := p.binding("ops", config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"a"}}, auth, nil)
	b.TokenEndpoint.URL = tokenURL
	b.Operations = []config.Operation{
		{Name: "items", Path: "/resource/items/**", Scopes: []string{"b"}},
		{Name: "admin", Path: "/resource/admin/**", Scopes: []string{"c", "b"}},
	}
	b.SharedCache = store.cache("shop", "key")
	f := startFleet(t, 2, b, waitStartup, false)

	if got, want := calls.scopes(), []string{"a", "b", "b c"}; !slices.Equal(got, want) {
		t.Fatalf("two replicas asked for scopes %q, want %q: each scope set once", got, want)
	}
	for i := range 2 {
		for _, tt := range []struct{ path, scope string }{
			{"/resource/items/7", "b"},
			{"/resource/admin/users", "b c"},
			{"/resource/other", "a"},
		} {
			r := appCall(t, http.MethodGet, f.proc(i).url("ops", tt.path), nil, nil)
			checkAccepted(t, r, clientID, "Bearer")
			if got := sortedScope(r.str("scope")); got != tt.scope {
				t.Errorf("replica %d, %s: the upstream saw scope %q, want exactly %q", i, tt.path, got, tt.scope)
			}
		}
	}
	if n := len(calls.scopes()); n != 3 {
		t.Errorf("%d token requests after the app calls, want the 3 of start-up", n)
	}
	fetched, shared := f.sum("oauth_injector_shared_cache_fills_total", `binding="ops",outcome="fetched"`), f.sum("oauth_injector_shared_cache_fills_total", `binding="ops",outcome="shared"`)
	if fetched != 3 || shared != 3 {
		t.Errorf("fills: %v fetched, %v shared; want 3 and 3 (one per scope set each)", fetched, shared)
	}
}
