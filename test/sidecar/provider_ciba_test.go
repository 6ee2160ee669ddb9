package sidecar

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// countingProxy forwards to target and counts the requests, so a test can
// tell how many CIBA authorizations (consent prompts) the sidecar started.
func countingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	return observingProxy(t, target, func(*http.Request) { n.Add(1) }), &n
}

// TestProviderCIBAPendingBound: with maxPending and cacheSize 3, six
// subscribers asked at once start exactly three authorizations at the real
// provider; the other three get 429 too_many_pending_authorizations. Asking
// again starts no second authorization, every approval reaches the app,
// and freed slots serve the rest.
func TestProviderCIBAPendingBound(t *testing.T) {
	const maxPending = 3
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, CIBAApproveDelay: 3 * time.Second})
	authorizeURL, authorizes := countingProxy(t, p.BackchannelAuthenticationEndpoint)
	auth, key, clientID := p.clientAuth(newSecrets(t), config.AuthClientSecretBasic)
	b := p.binding("ciba", config.Grant{Type: config.GrantCIBA, CIBA: &config.CIBAGrant{
		AuthorizeURL: authorizeURL,
		Purpose:      "dpv:FraudPreventionAndDetection#sim-swap",
		MaxWait:      config.Duration{Duration: 200 * time.Millisecond},
		CacheSize:    maxPending,
		MaxPending:   maxPending,
	}}, auth, key)
	sc := startSidecar(t, newConfig(t, b), waitLive)
	call := func(hint string) reply {
		return appCall(t, http.MethodGet, sc.url("ciba", "/resource"), http.Header{"X-Login-Hint": {hint}}, nil)
	}

	hints := []string{"tel:+34611111111", "tel:+34622222222", "tel:+34633333333", "tel:+34644444444", "tel:+34655555555", "tel:+34666666666"}
	replies := make([]reply, len(hints))
	var wg sync.WaitGroup
	for i, h := range hints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = call(h)
		}()
	}
	wg.Wait()
	var pending, refused []string
	for i, r := range replies {
		switch {
		case r.status == http.StatusServiceUnavailable && r.str("error") == "authorization_pending":
			pending = append(pending, hints[i])
		case r.status == http.StatusTooManyRequests && r.str("error") == "too_many_pending_authorizations" && r.header.Get("Retry-After") != "":
			refused = append(refused, hints[i])
		default:
			t.Errorf("%s: %v", hints[i], r)
		}
	}
	if len(pending) != maxPending || len(refused) != len(hints)-maxPending || authorizes.Load() != maxPending {
		t.Fatalf("%d pending, %d refused, %d authorizations; want %d, %d, %d", len(pending), len(refused), authorizes.Load(), maxPending, len(hints)-maxPending, maxPending)
	}
	if g := sc.metric("oauth_injector_ciba_pending_authorizations", `binding="ciba"`); g != maxPending {
		t.Errorf("pending gauge = %v, want %d", g, maxPending)
	}
	for _, h := range pending {
		if r := call(h); r.status != http.StatusOK && r.str("error") != "authorization_pending" {
			t.Errorf("asking again for pending %s: %v", h, r)
		}
	}
	if n := authorizes.Load(); n != maxPending {
		t.Fatalf("asking again started more authorizations: %d, want %d", n, maxPending)
	}

	notPending := func(r reply) bool { return r.status != http.StatusServiceUnavailable }
	for _, h := range pending {
		_, last := pollUntil(t, 30*time.Second, func() reply { return call(h) }, notPending)
		checkAccepted(t, last, clientID, "Bearer")
		if last.str("sub") != h {
			t.Errorf("sub = %q, want %s", last.str("sub"), h)
		}
	}
	if n := authorizes.Load(); n != maxPending {
		t.Fatalf("%d authorizations for %d approved subscribers: an approval was lost and asked for again", n, maxPending)
	}
	for _, h := range refused {
		_, last := pollUntil(t, 30*time.Second, func() reply { return call(h) }, notPending)
		checkAccepted(t, last, clientID, "Bearer")
	}
	if n := authorizes.Load(); n != int64(len(hints)) {
		t.Fatalf("authorizations = %d, want one per subscriber (%d)", n, len(hints))
	}
}

// TestProviderCIBALoginHintsAndUnknownUser: a provider that names users by
// e-mail works with loginHintFormat opaque and is refused before any call by
// the default Open Gateway format; the provider's unknown_user_id comes back
// as 400 with that code, not as a 503 to retry.
func TestProviderCIBALoginHintsAndUnknownUser(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, CIBAApproveDelay: time.Second,
		CIBAOpaqueLoginHints: true, CIBAUnknownLoginHints: []string{"nobody@example.com", "tel:+34999999999"}})
	auth, key, clientID := p.clientAuth(newSecrets(t), config.AuthClientSecretBasic)
	binding := func(name, format string) config.Binding {
		return p.binding(name, config.Grant{Type: config.GrantCIBA, Scopes: []string{"sim-swap"}, CIBA: &config.CIBAGrant{
			AuthorizeURL:    p.BackchannelAuthenticationEndpoint,
			MaxWait:         config.Duration{Duration: 200 * time.Millisecond},
			LoginHintFormat: format,
		}}, auth, key)
	}
	sc := startSidecar(t, newConfig(t, binding("opaque", config.LoginHintOpaque), binding("og", "")), waitLive)
	call := func(b, hint string) reply {
		return appCall(t, http.MethodGet, sc.url(b, "/resource"), http.Header{"X-Login-Hint": {hint}}, nil)
	}
	notPending := func(r reply) bool { return r.status != http.StatusServiceUnavailable }

	_, last := pollUntil(t, 30*time.Second, func() reply { return call("opaque", "alice@example.com") }, notPending)
	checkAccepted(t, last, clientID, "Bearer")
	if last.str("sub") != "alice@example.com" {
		t.Errorf("sub = %q, want alice@example.com", last.str("sub"))
	}
	tests := []struct {
		binding, hint string
		wantStatus    int
		wantCode      string
	}{
		{"opaque", "nobody@example.com", http.StatusBadRequest, "unknown_user_id"},
		{"og", "tel:+34999999999", http.StatusBadRequest, "unknown_user_id"},
		{"og", "alice@example.com", http.StatusBadRequest, "invalid_login_hint"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.binding, tt.hint), func(t *testing.T) {
			r := call(tt.binding, tt.hint)
			if r.status != tt.wantStatus || r.str("error") != tt.wantCode || r.header.Get("X-OAuth-Injector-Error") != tt.wantCode {
				t.Fatalf("got %v, want %d %s", r, tt.wantStatus, tt.wantCode)
			}
			if ra := r.header.Get("Retry-After"); ra != "" {
				t.Errorf("a final error carries Retry-After %q", ra)
			}
		})
	}
}
