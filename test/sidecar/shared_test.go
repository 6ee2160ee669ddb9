package sidecar

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// sharedSetup is one provider, one store, a token proxy that counts the
// calls, and a binding named after its grant that uses all three: the
// replicas of one workload.
type sharedSetup struct {
	p        *provider
	store    *sharedStore
	tp       *tokenProxy
	b        config.Binding
	clientID string
	// bootstrap is the Secret's refresh token (refresh_token grant).
	bootstrap string
}

// newSharedSetup supports client_credentials ("cc") and refresh_token ("rt").
func newSharedSetup(t *testing.T, opts oidctest.Options, grant string) *sharedSetup {
	t.Helper()
	s := &sharedSetup{p: startProvider(t, opts), store: newSharedStore(t)}
	s.tp = newTokenProxy(t, s.p.TokenEndpoint)
	sec := newSecrets(t)
	auth, key, clientID := s.p.clientAuth(sec, config.AuthClientSecretBasic)
	s.clientID = clientID
	switch grant {
	case "cc":
		s.b = s.p.binding(grant, config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"api:read"}}, auth, key)
	case "rt":
		s.bootstrap = bootstrapRefreshToken(t, s.p)
		s.b = s.p.binding(grant, config.Grant{Type: config.GrantRefreshToken, RefreshToken: &config.RefreshGrant{File: sec.file("refresh_token", s.bootstrap)}}, auth, nil)
		s.b.Refresh.Before = config.Duration{Duration: time.Second}
	default:
		t.Fatalf("newSharedSetup: no grant %q", grant)
	}
	s.b.TokenEndpoint.URL = s.tp.URL
	s.b.SharedCache = s.store.cache("shop", "key")
	return s
}

// accepted is a load check: the provider's resource took the token.
func accepted(clientID string) func(reply) error {
	return func(r reply) error {
		if r.status != http.StatusOK || r.json["ok"] != true || r.str("client_id") != clientID {
			return errors.New(r.String())
		}
		return nil
	}
}

// Five cold replicas, each with 200 concurrent app requests the moment it
// is up, against one provider: exactly one token request between them.
func TestSharedHerdAcrossReplicas(t *testing.T) {
	const replicas, callers = 5, 200
	s := newSharedSetup(t, oidctest.Options{AccessTokenTTL: time.Hour}, "cc")
	tp, clientID := s.tp, s.clientID
	f := startFleet(t, replicas, s.b, waitLive, true)

	var wg sync.WaitGroup
	var failed atomic.Int64
	var first sync.Once
	for i := range replicas {
		for range callers {
			wg.Go(func() {
				r, err := tryCall(http.MethodGet, f.proc(i).url("cc", "/resource"), nil, nil)
				if err == nil {
					err = accepted(clientID)(r)
				}
				if err != nil {
					failed.Add(1)
					first.Do(func() { t.Errorf("replica %d: %v", i, err) })
				}
			})
		}
	}
	wg.Wait()
	if n := tp.count("client_credentials"); n != 1 || failed.Load() != 0 {
		t.Fatalf("%d token requests and %d failed app requests for %d replicas × %d requests; want 1 and 0", n, failed.Load(), replicas, callers)
	}
	fetched, shared := f.sum("oauth_injector_shared_cache_fills_total", `binding="cc",outcome="fetched"`), f.sum("oauth_injector_shared_cache_fills_total", `binding="cc",outcome="shared"`)
	if fetched != 1 || shared != replicas-1 {
		t.Fatalf("fills: %v fetched, %v shared; want 1 and %d", fetched, shared, replicas-1)
	}
	t.Logf("%d replicas × %d concurrent requests: %d token request", replicas, callers, tp.count("client_credentials"))
}

// Three replicas under load with 4-second tokens. Per refresh period one
// replica calls and the others read its token; the store is then killed
// (SIGKILL, restarted empty): every replica serves its valid token and
// fetches alone, with zero failed requests; once the store is back they
// share again.
func TestSharedStoreOutageAndRecovery(t *testing.T) {
	const replicas = 3
	s := newSharedSetup(t, oidctest.Options{AccessTokenTTL: 4 * time.Second}, "cc")
	store, tp := s.store, s.tp
	f := startFleet(t, replicas, s.b, waitStartup, false)
	run := f.load(t, nil, accepted(s.clientID))
	calls := func() int { return tp.count("client_credentials") }
	fills := func(outcome string) float64 {
		return f.sum("oauth_injector_shared_cache_fills_total", `binding="cc",outcome="`+outcome+`"`)
	}

	waitFor(t, 60*time.Second, "six refresh periods", func() bool { return calls() >= 6 })
	sharedCalls, fetched, shared := calls(), fills("fetched"), fills("shared")
	if fetched > shared/(replicas-1)+2 {
		t.Errorf("with the store up: %v fills fetched and %v shared across %d replicas; want about one fetch per period", fetched, shared, replicas)
	}

	store.Stop()
	killedAt, fallbacks := calls(), fills("fallback")
	waitFor(t, 60*time.Second, "every replica refreshes alone", func() bool { return fills("fallback") >= fallbacks+replicas && calls() >= killedAt+replicas })
	outageCalls := calls() - killedAt
	if f.sum("oauth_injector_shared_cache_up", `binding="cc"`) != 0 {
		t.Error("a replica reports the killed store as up")
	}

	store.Restart()
	backAt, sharedAtRestart := calls(), fills("shared")
	waitFor(t, 60*time.Second, "sharing resumes", func() bool {
		return f.sum("oauth_injector_shared_cache_up", `binding="cc"`) == replicas && fills("shared") >= sharedAtRestart+2*(replicas-1)
	})
	run.stop()
	if run.failed.Load() != 0 {
		t.Fatalf("%d of %d app requests failed: %v", run.failed.Load(), run.failed.Load()+run.ok.Load(), run.failures)
	}
	if tokens := store.dump(); !strings.Contains(tokens, "tok:") {
		t.Fatalf("the restarted store holds no token entry:\n%s", tokens)
	}
	t.Logf("%d app requests, 0 failed; token requests: %d with the store up (fills: %v fetched, %v shared), %d during the outage, %d after the restart",
		run.ok.Load(), sharedCalls, fetched, shared, outageCalls, calls()-backAt)
}

// A rotating refresh token (oidc-provider rotates and revokes the grant
// when a retired one comes back), 2-second access tokens, three replicas,
// each restarted once under load: every app request succeeds, so no
// replica ever sent a retired refresh token, and a restarted replica, which
// has only the Secret's long-retired bootstrap token, goes on with the
// store's.
func TestSharedRefreshTokenRotationAcrossReplicas(t *testing.T) {
	// The soak is 5 replicas restarted twice for 60 s; this machine
	// shares 2 cores, so the default is smaller. Raise both to run it.
	const replicas, restartsEach = 3, 1
	s := newSharedSetup(t, oidctest.Options{AccessTokenTTL: 2 * time.Second}, "rt")
	tp := s.tp
	f := startFleet(t, replicas, s.b, waitStartup, false)
	run := f.load(t, nil, accepted(s.clientID))
	refreshes := func() int { return tp.count("refresh_token") }

	for range restartsEach {
		for i := range replicas {
			at := refreshes() + 5
			waitFor(t, 60*time.Second, fmt.Sprintf("%d refreshes", at), func() bool { return refreshes() >= at })
			f.restart(i)
		}
	}
	end := refreshes() + 5
	waitFor(t, 60*time.Second, "five more refreshes", func() bool { return refreshes() >= end })
	run.stop()
	if run.failed.Load() != 0 {
		t.Fatalf("%d of %d app requests failed (a reused refresh token revokes the grant): %v", run.failed.Load(), run.failed.Load()+run.ok.Load(), run.failures)
	}
	for i := range replicas {
		if n := f.proc(i).metric("oauth_injector_token_requests_total", `binding="rt",result="error"`); n > 0 {
			t.Errorf("replica %d: %v failed token requests", i, n)
		}
	}
	t.Logf("%d app requests across %d replicas, each restarted %d times: 0 failed; %d refresh-token requests in total", run.ok.Load(), replicas, restartsEach, refreshes())
	if res := tokenRequest(t, s.p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.bootstrap}}); res["error"] != "invalid_grant" {
		t.Errorf("the bootstrap refresh token still works (%v): rotation was not exercised", res)
	}
}

// The store dies while a replica's refresh-token call is in flight: the
// server has rotated the refresh token and the store never gets the new
// one. That replica keeps serving and refreshing alone; the other serves
// its access token until it expires, then answers 503 (it never sends the
// retired refresh token, which would revoke the grant); after the store
// comes back (empty) the holder writes its token back and both serve again.
func TestSharedRotationWhileTheStoreIsDown(t *testing.T) {
	s := newSharedSetup(t, oidctest.Options{AccessTokenTTL: 2 * time.Second}, "rt")
	store, tp, clientID := s.store, s.tp, s.clientID
	f := startFleet(t, 2, s.b, waitStartup, false)
	call := func(i int) reply { return appCall(t, http.MethodGet, f.proc(i).url("rt", "/resource"), nil, nil) }
	for i := range 2 {
		checkAccepted(t, call(i), clientID, "Bearer")
	}

	var armed atomic.Bool
	armed.Store(true)
	tp.setBefore(func(grant string) {
		if grant == "refresh_token" && armed.CompareAndSwap(true, false) {
			store.Stop()
		}
	})
	var holder, other int
	waitFor(t, 30*time.Second, "a replica loses the store at a rotation", func() bool {
		for i := range 2 {
			if strings.Contains(f.proc(i).logs.String(), "could not write the refresh token") {
				holder, other = i, 1-i
				return true
			}
		}
		return false
	})
	// Until the other replica's token has run out, the holder must keep
	// serving; it refreshes alone meanwhile.
	killedAt := tp.count("refresh_token")
	var refused reply
	waitFor(t, 30*time.Second, "the other replica's token runs out", func() bool {
		checkAccepted(t, call(holder), clientID, "Bearer")
		refused = call(other)
		return refused.status != http.StatusOK
	})
	if refused.status != http.StatusServiceUnavailable || refused.str("error") != "token_unavailable" || refused.header.Get("Retry-After") == "" {
		t.Fatalf("the other replica without a token: %v, want 503 token_unavailable with Retry-After", refused)
	}
	waitFor(t, 30*time.Second, "the holder refreshes alone", func() bool {
		checkAccepted(t, call(holder), clientID, "Bearer")
		return tp.count("refresh_token") >= killedAt+2
	})
	if !strings.Contains(f.proc(other).logs.String(), "shared_cache_unavailable") {
		t.Errorf("the other replica's log does not say why it does not refresh:\n%s", f.proc(other).logs.String())
	}

	store.Restart()
	waitFor(t, 60*time.Second, "the other replica serves again", func() bool {
		checkAccepted(t, call(holder), clientID, "Bearer")
		return call(other).status == http.StatusOK
	})
	again := tp.count("refresh_token") + 3
	waitFor(t, 60*time.Second, "three more refreshes", func() bool {
		for i := range 2 {
			checkAccepted(t, call(i), clientID, "Bearer")
		}
		return tp.count("refresh_token") >= again
	})
	for i := range 2 {
		if n := f.proc(i).metric("oauth_injector_token_requests_total", `binding="rt",result="error"`); n > 0 {
			t.Errorf("replica %d: %v failed token requests (invalid_grant?)", i, n)
		}
	}
	t.Logf("holder: replica %d; %d refresh-token requests in total", holder, tp.count("refresh_token"))
}

// A subscriber approves once, through replica A; replicas B and C serve
// them with no second bc-authorize. A request reaching B while A's
// authorization is pending waits on it rather than starting another. When
// the replica holding a pending authorization stops, another resumes
// polling it: still one authorization per subscriber.
func TestSharedCIBAAcrossReplicas(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, CIBAApproveDelay: 3 * time.Second})
	store := newSharedStore(t)
	authorizeURL, authorizes := countingProxy(t, p.BackchannelAuthenticationEndpoint)
	auth, key, clientID := p.clientAuth(newSecrets(t), config.AuthClientSecretBasic)
	b := p.binding("ciba", config.Grant{Type: config.GrantCIBA, CIBA: &config.CIBAGrant{
		AuthorizeURL: authorizeURL,
		Purpose:      "dpv:FraudPreventionAndDetection#sim-swap",
		MaxWait:      config.Duration{Duration: 200 * time.Millisecond},
	}}, auth, key)
	b.SharedCache = store.cache("shop", "key")
	f := startFleet(t, 3, b, waitLive, false)
	call := func(i int, hint string) reply {
		return appCall(t, http.MethodGet, f.proc(i).url("ciba", "/resource"), http.Header{"X-Login-Hint": {hint}}, nil)
	}
	pending := func(r reply) bool {
		return r.status == http.StatusServiceUnavailable && r.str("error") == "authorization_pending"
	}

	const alice = "tel:+34611111111"
	if r := call(0, alice); !pending(r) {
		t.Fatalf("A, first call: %v, want authorization_pending", r)
	}
	if r := call(1, alice); !pending(r) {
		t.Fatalf("B while A's authorization is pending: %v", r)
	}
	_, last := pollUntil(t, 30*time.Second, func() reply { return call(0, alice) }, func(r reply) bool { return !pending(r) })
	checkAccepted(t, last, clientID, "Bearer")
	for _, i := range []int{1, 2} {
		r := call(i, alice)
		checkAccepted(t, r, clientID, "Bearer")
		if r.str("sub") != alice {
			t.Errorf("replica %d serves sub %q", i, r.str("sub"))
		}
	}
	if n := authorizes.Load(); n != 1 {
		t.Fatalf("%d bc-authorize calls for one subscriber on three replicas, want 1", n)
	}

	// The holder of a pending authorization goes away.
	const bob = "tel:+34622222222"
	if r := call(0, bob); !pending(r) {
		t.Fatalf("A, bob: %v", r)
	}
	f.restart(0)
	_, last = pollUntil(t, 30*time.Second, func() reply { return call(1, bob) }, func(r reply) bool { return !pending(r) })
	checkAccepted(t, last, clientID, "Bearer")
	if last.str("sub") != bob {
		t.Errorf("sub = %q, want bob", last.str("sub"))
	}
	if n := authorizes.Load(); n != 2 {
		t.Fatalf("%d bc-authorize calls for two subscribers, want 2: the takeover prompted bob again", n)
	}
	if !strings.Contains(f.proc(1).logs.String(), "resuming a CIBA authorization") {
		t.Error("replica B did not resume the stored authorization")
	}
}

// Two bindings of the same client in two namespaces share one store (and
// key prefix) with different keys: neither is served the other's
// subscriber token, and a raw dump of the store holds no token, phone
// number, namespace or binding name in clear.
func TestSharedIsolationBetweenNamespaces(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second, CIBAApproveDelay: time.Second})
	store := newSharedStore(t)
	tp := newTokenProxy(t, p.TokenEndpoint)
	authorizeURL, authorizes := countingProxy(t, p.BackchannelAuthenticationEndpoint)
	auth, key, clientID := p.clientAuth(newSecrets(t), config.AuthClientSecretBasic)
	binding := func(ns string) config.Binding {
		b := p.binding("sim-check", config.Grant{Type: config.GrantCIBA, CIBA: &config.CIBAGrant{
			AuthorizeURL: authorizeURL,
			Purpose:      "dpv:FraudPreventionAndDetection#sim-swap",
			MaxWait:      config.Duration{Duration: 200 * time.Millisecond},
		}}, auth, key)
		b.TokenEndpoint.URL = tp.URL
		b.SharedCache = store.cache(ns, "key-"+ns)
		return b
	}
	const hint = "tel:+34655555555"
	for i, ns := range []string{"team-alpha", "team-bravo"} {
		sc := startSidecar(t, newConfig(t, binding(ns)), waitLive)
		_, last := pollUntil(t, 30*time.Second, func() reply {
			return appCall(t, http.MethodGet, sc.url("sim-check", "/resource"), http.Header{"X-Login-Hint": {hint}}, nil)
		}, func(r reply) bool { return r.status != http.StatusServiceUnavailable })
		checkAccepted(t, last, clientID, "Bearer")
		if n := authorizes.Load(); n != int64(i+1) {
			t.Fatalf("namespace %s: %d authorizations, want %d (its own)", ns, n, i+1)
		}
	}
	dump := store.dump()
	for _, secret := range append(tp.tokens(), hint, strings.TrimPrefix(hint, "tel:"), "team-alpha", "team-bravo", "sim-check", clientID) {
		// Encoded but unencrypted would be as readable as clear text.
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawURLEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(dump, form) {
				t.Errorf("the store dump contains %q (as %q)", secret, form)
			}
		}
	}
	if len(tp.tokens()) < 2 {
		t.Fatalf("only %d tokens issued; the check above proved nothing", len(tp.tokens()))
	}
}
