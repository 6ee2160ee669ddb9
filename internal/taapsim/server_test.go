package taapsim

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/pop"
)

const (
	testClientID     = "client:1"
	testClientSecret = "s3cr+t/ü value"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func loadKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile("../pop/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pop.ParsePrivateKey(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// fixture is one simulator plus a client that signs like the sidecar.
type fixture struct {
	t     *testing.T
	srv   *Server
	h     http.Handler
	clock *fakeClock
	key   *rsa.PrivateKey
}

// newFixture signs issued tokens with signKey (an unrelated fixture key,
// to spare a key generation per test).
func newFixture(t *testing.T, signKey string) *fixture {
	t.Helper()
	key := loadKey(t, "rsa_pkcs8.pem")
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	srv, err := New(Options{PublicKey: &key.PublicKey, ClientID: testClientID, ClientSecret: testClientSecret, Now: clock.Now,
		SigningKey: loadKey(t, signKey)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, srv: srv, h: srv.Handler(), clock: clock, key: key}
}

// sign adds a PoP over sign (nil: uri, http-method, body) made with key.
func (f *fixture) sign(r *http.Request, body []byte, key *rsa.PrivateKey, sign []string) {
	f.t.Helper()
	if sign == nil {
		sign = []string{"uri", "http-method", "body"}
	}
	b, err := pop.NewBuilder(key, sign, 60*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	b.Now = f.clock.Now
	tok, err := b.Mint(pop.Request{Method: r.Method, URI: pop.URIValue(r.URL), Header: r.Header, Body: body})
	if err != nil {
		f.t.Fatal(err)
	}
	r.Header.Set(PoPHeader, tok)
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func tokenRequest(form url.Values) (*http.Request, []byte) {
	body := []byte(form.Encode())
	r := httptest.NewRequest(http.MethodPost, TokenPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r, body
}

func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("response %d is not JSON: %q", w.Code, w.Body)
	}
	return m
}

// getTokens runs a successful client-credentials call.
func (f *fixture) getTokens() (access, id string, expiresIn float64) {
	f.t.Helper()
	r, body := tokenRequest(url.Values{"grant_type": {"client_credentials"}})
	r.Header.Set("Authorization", basic(testClientID, testClientSecret))
	f.sign(r, body, f.key, nil)
	w := f.serve(r)
	if w.Code != http.StatusOK {
		f.t.Fatalf("token endpoint: %d %s", w.Code, w.Body)
	}
	m := decodeJSON(f.t, w)
	return m["access_token"].(string), m["id_token"].(string), m["expires_in"].(float64)
}

func resourceRequest(method, target string, body []byte, access, id string) *http.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if access != "" {
		r.Header.Set("Authorization", "Bearer "+access)
	}
	if id != "" {
		r.Header.Set(IDTokenHeader, id)
	}
	return r
}

func TestResource(t *testing.T) {
	f := newFixture(t, "other_rsa_pkcs8.pem")
	access, id, _ := f.getTokens()

	other := newFixture(t, "rsa_pkcs1.pem")
	foreignAccess, foreignID, _ := other.getTokens()

	type call struct {
		method, target string
		body           []byte
		access, id     string
		sign           []string
		noPoP          bool
		signedTarget   string // PoP minted for a different URL
	}
	post := call{method: "POST", target: "/v1/echo?x=1&q=a%20b", body: []byte(`{"hello":"<world>"}`), access: access, id: id}
	tests := []struct {
		name       string
		c          call
		wantStatus int
		wantError  string
		check      func(t *testing.T, m map[string]any)
	}{
		{name: "POST echo", c: post, wantStatus: 200, check: func(t *testing.T, m map[string]any) {
			v := m["verified"].(map[string]any)
			want := map[string]any{"pop": true, "ehts": "uri;http-method;body", "accessToken": true, "idToken": true, "bodySigned": true}
			for k, wv := range want {
				if v[k] != wv {
					t.Errorf("verified.%s = %v, want %v", k, v[k], wv)
				}
			}
			if v["jti"] == "" || m["method"] != "POST" || m["uri"] != "/v1/echo?x=1&q=a%20b" || m["body"] != `{"hello":"<world>"}` {
				t.Errorf("echo %v", m)
			}
		}},
		{name: "GET has no body to sign", c: call{method: "GET", target: "/v1/echo", access: access, id: id}, wantStatus: 200, check: func(t *testing.T, m map[string]any) {
			v := m["verified"].(map[string]any)
			if v["ehts"] != "uri;http-method" || v["bodySigned"] != false || m["body"] != "" {
				t.Errorf("echo %v", m)
			}
		}},
		{name: "no access token", c: call{method: "GET", target: "/v1/echo", id: id}, wantStatus: 401, wantError: "invalid_token"},
		{name: "id token as access token", c: call{method: "GET", target: "/v1/echo", access: id, id: id}, wantStatus: 401, wantError: "invalid_token"},
		{name: "no id token", c: call{method: "GET", target: "/v1/echo", access: access}, wantStatus: 401, wantError: "invalid_token"},
		{name: "access token as id token", c: call{method: "GET", target: "/v1/echo", access: access, id: access}, wantStatus: 401, wantError: "invalid_token"},
		{name: "tokens from another issuer key", c: call{method: "GET", target: "/v1/echo", access: foreignAccess, id: foreignID}, wantStatus: 401, wantError: "invalid_token"},
		{name: "garbage access token", c: call{method: "GET", target: "/v1/echo", access: "abc", id: id}, wantStatus: 401, wantError: "invalid_token"},
		{name: "no PoP", c: call{method: "GET", target: "/v1/echo", access: access, id: id, noPoP: true}, wantStatus: 401, wantError: "invalid_request"},
		{name: "PoP for another query", c: call{method: "GET", target: "/v1/echo?x=2", access: access, id: id, signedTarget: "/v1/echo?x=1"}, wantStatus: 401, wantError: "invalid_request"},
		{name: "body not signed", c: call{method: "POST", target: "/v1/echo", body: []byte("x"), access: access, id: id, sign: []string{"uri", "http-method"}}, wantStatus: 401, wantError: "invalid_request"},
		{name: "uri not signed", c: call{method: "GET", target: "/v1/echo", access: access, id: id, sign: []string{"http-method"}}, wantStatus: 401, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			r := resourceRequest(c.method, c.target, c.body, c.access, c.id)
			if !c.noPoP {
				sr := r
				if c.signedTarget != "" {
					sr = resourceRequest(c.method, c.signedTarget, c.body, c.access, c.id)
				}
				f.sign(sr, c.body, f.key, c.sign)
				r.Header.Set(PoPHeader, sr.Header.Get(PoPHeader))
			}
			w := f.serve(r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			m := decodeJSON(t, w)
			if tt.wantStatus != 200 {
				if m["error"] != tt.wantError {
					t.Errorf("error %v, want %s (%v)", m["error"], tt.wantError, m["error_description"])
				}
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				return
			}
			tt.check(t, m)
		})
	}
}

func TestResourceReplay(t *testing.T) {
	f := newFixture(t, "other_rsa_pkcs8.pem")
	access, id, _ := f.getTokens()
	r := resourceRequest("GET", "/v1/echo", nil, access, id)
	f.sign(r, nil, f.key, nil)
	if w := f.serve(r); w.Code != 200 {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	again := resourceRequest("GET", "/v1/echo", nil, access, id)
	again.Header.Set(PoPHeader, r.Header.Get(PoPHeader))
	w := f.serve(again)
	if w.Code != 401 || decodeJSON(t, w)["error"] != "pop_replay" {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
	// A fresh PoP for the same request is fine.
	fresh := resourceRequest("GET", "/v1/echo", nil, access, id)
	f.sign(fresh, nil, f.key, nil)
	if w := f.serve(fresh); w.Code != 200 {
		t.Fatalf("fresh PoP after replay: %d %s", w.Code, w.Body)
	}
}

func TestTokenTTL(t *testing.T) {
	f := newFixture(t, "other_rsa_pkcs8.pem")
	f.srv.SetTokenTTL(2 * time.Minute)
	access, id, expiresIn := f.getTokens()
	if expiresIn != 120 {
		t.Fatalf("expires_in %v, want 120", expiresIn)
	}
	call := func() int {
		r := resourceRequest("GET", "/v1/echo", nil, access, id)
		f.sign(r, nil, f.key, nil)
		return f.serve(r).Code
	}
	f.clock.Advance(119 * time.Second)
	if got := call(); got != 200 {
		t.Fatalf("before expiry: %d", got)
	}
	f.clock.Advance(2 * time.Second)
	if got := call(); got != 401 {
		t.Fatalf("after expiry: %d, want 401", got)
	}
	f.srv.SetTokenTTL(0)
	if _, _, e := f.getTokens(); e != 3600 {
		t.Fatalf("SetTokenTTL(0): expires_in %v, want the 1h default", e)
	}
}

func TestStream(t *testing.T) {
	f := newFixture(t, "other_rsa_pkcs8.pem")
	access, id, _ := f.getTokens()
	tests := []struct {
		target     string
		wantStatus int
		wantLines  int
	}{
		{"/v1/stream?n=3", 200, 3},
		{"/v1/stream", 200, 5},
		{"/v1/stream?n=0", 400, 0},
		{"/v1/stream?n=abc", 400, 0},
		{"/v1/stream?n=2&delay=5s", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := resourceRequest("GET", tt.target, nil, access, id)
			f.sign(r, nil, f.key, nil)
			w := f.serve(r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != 200 {
				return
			}
			if !w.Flushed {
				t.Errorf("stream was never flushed")
			}
			sc := bufio.NewScanner(w.Body)
			n := 0
			for sc.Scan() {
				var chunk struct {
					Chunk, Of int
					Verified  verified
				}
				if err := json.Unmarshal(sc.Bytes(), &chunk); err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
				if chunk.Chunk != n || chunk.Of != tt.wantLines || !chunk.Verified.PoP {
					t.Errorf("line %d: %+v", n, chunk)
				}
				n++
			}
			if n != tt.wantLines {
				t.Errorf("%d lines, want %d", n, tt.wantLines)
			}
		})
	}
}

func TestNewGeneratesSigningKey(t *testing.T) {
	key := loadKey(t, "rsa_pkcs8.pem")
	s, err := New(Options{PublicKey: &key.PublicKey, ClientID: "a", ClientSecret: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if s.signKey == nil || s.signKey.Equal(key) {
		t.Fatalf("no fresh signing key")
	}
}

func TestNewRejects(t *testing.T) {
	key := loadKey(t, "rsa_pkcs8.pem")
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no key", Options{ClientID: "a", ClientSecret: "b"}, "PublicKey"},
		{"no id", Options{PublicKey: &key.PublicKey, ClientSecret: "b"}, "ClientID"},
		{"no secret", Options{PublicKey: &key.PublicKey, ClientID: "a"}, "ClientSecret"},
		{"negative ttl", Options{PublicKey: &key.PublicKey, ClientID: "a", ClientSecret: "b", TokenTTL: -time.Second}, "TokenTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to mention %s", err, tt.want)
			}
		})
	}
}

func TestReplayCache(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newReplayCache(2)
	steps := []struct {
		jti    string
		expiry time.Time
		now    time.Time
		want   replayVerdict
		size   int
	}{
		{"a", t0.Add(10 * time.Second), t0, verdictFresh, 1},
		{"a", t0.Add(10 * time.Second), t0.Add(time.Second), verdictReplay, 1},
		{"b", t0.Add(5 * time.Second), t0.Add(time.Second), verdictFresh, 2},
		{"c", t0.Add(20 * time.Second), t0.Add(2 * time.Second), verdictFull, 2},
		// b expired and is evicted, making room for c.
		{"c", t0.Add(20 * time.Second), t0.Add(6 * time.Second), verdictFresh, 2},
		{"a", t0.Add(30 * time.Second), t0.Add(7 * time.Second), verdictReplay, 2},
		// Everything expired: the cache empties itself.
		{"d", t0.Add(40 * time.Second), t0.Add(25 * time.Second), verdictFresh, 1},
	}
	for i, s := range steps {
		if got := c.check(s.jti, s.expiry, s.now); got != s.want {
			t.Fatalf("step %d (%s): verdict %d, want %d", i, s.jti, got, s.want)
		}
		if got := c.len(); got != s.size {
			t.Fatalf("step %d: size %d, want %d", i, got, s.size)
		}
	}
}

// TestSetPublicKeys covers key rotation on the simulator side: during the
// overlap either key is accepted, and the error names the real problem.
func TestSetPublicKeys(t *testing.T) {
	f := newFixture(t, "other_rsa_pkcs8.pem")
	newKey := loadKey(t, "other_rsa_pkcs8.pem")
	access, id, _ := f.getTokens()
	call := func(key *rsa.PrivateKey, tamper bool) *httptest.ResponseRecorder {
		r := resourceRequest("POST", "/v1/echo", []byte("a"), access, id)
		f.sign(r, []byte("a"), key, nil)
		if tamper {
			r = resourceRequest("POST", "/v1/echo", []byte("b"), access, id)
			sr := resourceRequest("POST", "/v1/echo", []byte("a"), access, id)
			f.sign(sr, []byte("a"), key, nil)
			r.Header.Set(PoPHeader, sr.Header.Get(PoPHeader))
		}
		return f.serve(r)
	}
	f.srv.SetPublicKeys(&f.key.PublicKey, &newKey.PublicKey)
	for _, tt := range []struct {
		name   string
		key    *rsa.PrivateKey
		tamper bool
		status int
		desc   string
	}{
		{"old key during overlap", f.key, false, 200, ""},
		{"new key during overlap", newKey, false, 200, ""},
		{"old key, tampered body, reports edts", f.key, true, 401, "edts does not match"},
		{"new key, tampered body, reports edts", newKey, true, 401, "edts does not match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := call(tt.key, tt.tamper)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.desc) {
				t.Fatalf("%d %s, want %d containing %q", w.Code, w.Body, tt.status, tt.desc)
			}
		})
	}
	f.srv.SetPublicKeys(&newKey.PublicKey)
	if w := call(f.key, false); w.Code != 401 || !strings.Contains(w.Body.String(), "signature invalid") {
		t.Fatalf("retired key: %d %s", w.Code, w.Body)
	}
	f.srv.SetPublicKeys()
	if w := call(newKey, false); w.Code != 401 || !strings.Contains(w.Body.String(), "no client public key") {
		t.Fatalf("no keys: %d %s", w.Code, w.Body)
	}
}
