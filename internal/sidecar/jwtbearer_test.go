package sidecar

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap/zaptest"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// jwtBearerAS is a token endpoint for the RFC 7523 §2.1 grant that checks
// what §3 requires of the assertion: a signature by the client's key, iss =
// the client, a sub, aud = this endpoint, exp no more than 300s ahead and not
// passed, and a jti it has not seen. It issues "AT-<sub>" and can hold the
// first request for a subject until the test releases it.
type jwtBearerAS struct {
	t        *testing.T
	pub      crypto.PublicKey
	clientID string
	url      string
	hold     chan struct{} // nil: answer at once

	mu    sync.Mutex
	calls map[string]int // sub -> token requests
	jtis  map[string]bool
}

func newJWTBearerAS(t *testing.T, pub crypto.PublicKey, hold chan struct{}) *jwtBearerAS {
	as := &jwtBearerAS{t: t, pub: pub, clientID: "client-1", hold: hold, calls: map[string]int{}, jtis: map[string]bool{}}
	srv := httptest.NewServer(as)
	t.Cleanup(srv.Close)
	as.url = srv.URL + "/token"
	return as
}

func (as *jwtBearerAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		fail(400, "invalid_request", "POST a form")
		return
	}
	if id, pass, ok := r.BasicAuth(); !ok || id != as.clientID || pass != "very-secret-value" {
		fail(401, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != oauth.GrantTypeJWTBearer {
		fail(400, "unsupported_grant_type", r.PostForm.Get("grant_type"))
		return
	}
	var c jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), &c, func(*jwt.Token) (any, error) { return as.pub, nil },
		jwt.WithValidMethods([]string{"RS256", "PS256", "ES256"}), jwt.WithIssuer(as.clientID), jwt.WithAudience(as.url),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	switch {
	case err != nil:
		fail(400, "invalid_grant", err.Error())
		return
	case c.Subject == "" || c.ID == "" || c.IssuedAt == nil:
		fail(400, "invalid_grant", "sub, jti and iat are required")
		return
	case c.ExpiresAt.Sub(time.Now()) > 300*time.Second:
		fail(400, "invalid_grant", "exp is more than 300s ahead")
		return
	}
	as.mu.Lock()
	replayed := as.jtis[c.ID]
	as.jtis[c.ID] = true
	as.calls[c.Subject]++
	first := as.calls[c.Subject] == 1
	as.mu.Unlock()
	if replayed {
		fail(400, "invalid_grant", "jti replayed")
		return
	}
	if first && as.hold != nil {
		<-as.hold
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"access_token":"AT-%s","token_type":"Bearer","expires_in":3600}`, c.Subject)
}

func (as *jwtBearerAS) callsFor(sub string) int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.calls[sub]
}

// jwtBearerConfig is a jwt_bearer binding against as, signing with key.
func jwtBearerConfig(t *testing.T, as *jwtBearerAS, key crypto.Signer, upstream string, j config.JWTBearer) *config.Config {
	dir := writeFiles(t, map[string]string{"key.pem": pemKey(t, key)})
	return bearerBinding(t, as.url, upstream, func(b *config.Binding) {
		b.Grant = config.Grant{Type: config.GrantJWTBearer, JWTBearer: &j}
		b.PrivateKey = &config.PrivateKey{File: filepath.Join(dir, "key.pem")}
	})
}

func ecP256(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestJWTBearerPerSubject: a subject from the header gets its own token,
// cached (a second call for it costs nothing), concurrent first calls share
// one token request, and cacheSize bounds how many subjects are kept. The
// header never reaches the partner.
func TestJWTBearerPerSubject(t *testing.T) {
	key := ecP256(t)
	hold := make(chan struct{})
	as := newJWTBearerAS(t, key.Public(), hold)
	var mu sync.Mutex
	var leaked []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Subscriber"); v != "" {
			mu.Lock()
			leaked = append(leaked, v)
			mu.Unlock()
		}
		_, _ = fmt.Fprint(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(up.Close)
	sc := startSidecar(t, jwtBearerConfig(t, as, key, up.URL, config.JWTBearer{SubjectHeader: "X-Subscriber", CacheSize: 2}))
	ask := func(sub string) string {
		resp, body := get(t, sc.url+"/x", map[string]string{"X-Subscriber": sub})
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", sub, resp.StatusCode, body)
		}
		return body
	}

	// Eight concurrent first calls for one subject: the AS holds the first
	// token request until the test has seen it, so the others find the
	// fetch in flight (or, if later, its token) and none starts another.
	const callers = 8
	var wg sync.WaitGroup
	bodies := make([]string, callers)
	for i := range callers {
		wg.Add(1)
		go func() { defer wg.Done(); bodies[i] = ask("tel:+34600000001") }()
	}
	eventually(t, "the first token request", func() bool { return as.callsFor("tel:+34600000001") == 1 })
	close(hold)
	wg.Wait()
	for i, b := range bodies {
		if b != "Bearer AT-tel:+34600000001" {
			t.Errorf("caller %d got %q", i, b)
		}
	}
	if n := as.callsFor("tel:+34600000001"); n != 1 {
		t.Errorf("%d concurrent callers made %d token requests, want 1", callers, n)
	}

	// cacheSize 2: a third subject evicts the least recently used one.
	for _, sub := range []string{"tel:+34600000002", "tel:+34600000001", "operatortoken:abc", "tel:+34600000002"} {
		if got := ask(sub); got != "Bearer AT-"+sub {
			t.Errorf("%s got %q", sub, got)
		}
	}
	want := map[string]int{"tel:+34600000001": 1, "tel:+34600000002": 2, "operatortoken:abc": 1}
	for sub, n := range want {
		if got := as.callsFor(sub); got != n {
			t.Errorf("token requests for %s = %d, want %d", sub, got, n)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("the subject header reached the partner: %v", leaked)
	}
}

// TestJWTBearerSubjectRefused: a request without a usable subject is
// answered by the sidecar and nothing is signed or sent.
func TestJWTBearerSubjectRefused(t *testing.T) {
	key := ecP256(t)
	as := newJWTBearerAS(t, key.Public(), nil)
	sc := startSidecar(t, jwtBearerConfig(t, as, key, echoToken(t).URL, config.JWTBearer{SubjectHeader: "X-Subscriber"}))
	tests := []struct {
		name, value, code, detail string
	}{
		{"missing", "", "missing_subject", "header X-Subscriber is required"},
		{"control character", "tel:+34\t600", "invalid_subject", "header X-Subscriber: contains a control character"},
		{"too long", strings.Repeat("9", 1025), "invalid_subject", "header X-Subscriber: longer than 1024 bytes (1025)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.value != "" {
				hdr["X-Subscriber"] = tt.value
			}
			resp, body := get(t, sc.url+"/x", hdr)
			if resp.StatusCode != 400 || resp.Header.Get(ErrorHeader) != tt.code || !strings.Contains(body, tt.detail) {
				t.Fatalf("got %d %q %s; want 400 %s with %q", resp.StatusCode, resp.Header.Get(ErrorHeader), body, tt.code, tt.detail)
			}
		})
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if len(as.calls) != 0 {
		t.Errorf("token requests were sent: %v", as.calls)
	}
}

// TestJWTBearerFixedSubject: one client-level token for the configured sub,
// fetched at start-up (the binding is ready before the first request), with
// the algorithm named in the config.
func TestJWTBearerFixedSubject(t *testing.T) {
	key := testKeys(t)[0]
	as := newJWTBearerAS(t, key.Public(), nil)
	sc := startSidecar(t, jwtBearerConfig(t, as, key, echoToken(t).URL, config.JWTBearer{Subject: "svc-reports", Algorithm: config.AlgPS256}))
	eventually(t, "the start-up token", func() bool { return as.callsFor("svc-reports") == 1 })
	for range 3 {
		if resp, body := get(t, sc.url+"/x", nil); resp.StatusCode != 200 || body != "Bearer AT-svc-reports" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	}
	if n := as.callsFor("svc-reports"); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

// TestJWTBearerKeyMismatchFailsStartup: a key that cannot make the
// configured algorithm stops the sidecar at start-up, naming the field.
func TestJWTBearerKeyMismatchFailsStartup(t *testing.T) {
	key := ecP256(t)
	as := newJWTBearerAS(t, key.Public(), nil)
	cfg := jwtBearerConfig(t, as, key, "http://127.0.0.1:1", config.JWTBearer{Subject: "s", Algorithm: config.AlgPS256})
	cfg.Version = config.Version
	cfg.Bindings[0].ListenPort = testutil.FreePort(t)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := New(cfg, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "grant.jwtBearer.algorithm") || !strings.Contains(err.Error(), "PS256 needs an RSA key") {
		t.Fatalf("err = %v, want a start-up error naming grant.jwtBearer.algorithm", err)
	}
}
