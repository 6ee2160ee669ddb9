package sidecar

import (
	"net/http"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// A per-subject jwt_bearer binding on three replicas sharing one store: each
// subscriber costs one token request between the replicas, and every replica
// serves each subscriber their own token (the shared key is per subject).
func TestSharedJWTBearerPerSubjectAcrossReplicas(t *testing.T) {
	const replicas = 3
	p := startProvider(t, oidctest.Options{AccessTokenTTL: time.Hour})
	store := newSharedStore(t)
	tp := newTokenProxy(t, p.TokenEndpoint)
	b, clientID := p.jwtBearerBinding(newSecrets(t), config.AuthClientSecretBasic, config.JWTBearer{SubjectHeader: "X-Subscriber", Audience: p.TokenEndpoint})
	// Counted through a proxy, so aud names the provider's real token URL.
	b.TokenEndpoint.URL = tp.URL
	b.SharedCache = store.cache("shop", "key")
	f := startFleet(t, replicas, b, waitLive, false)

	subs := []string{"tel:+34600000001", "operatortoken:ab12"}
	for i := range replicas {
		for _, sub := range subs {
			r := appCall(t, http.MethodGet, f.proc(i).url("jwtb", "/resource"), http.Header{"X-Subscriber": {sub}}, nil)
			checkAccepted(t, r, clientID, "Bearer")
			if r.str("sub") != sub {
				t.Errorf("replica %d, X-Subscriber %s: resource saw sub %q", i, sub, r.str("sub"))
			}
		}
	}
	if n := tp.count(oidctest.GrantJWTBearer); n != len(subs) {
		t.Fatalf("%d jwt-bearer token requests for %d subscribers on %d replicas, want %d", n, len(subs), replicas, len(subs))
	}
	if shared := f.sum("oauth_injector_shared_cache_fills_total", `binding="jwtb",outcome="shared"`); shared != float64(len(subs)*(replicas-1)) {
		t.Errorf("fills shared = %v, want %d", shared, len(subs)*(replicas-1))
	}
}
