package sidecar

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// These tests drive the sidecar against a real local token endpoint on a
// clock that moves only when the test says so; token calls are counted at
// the endpoint. They measure issue 8 items 1-6 and 20.

// newStepClock is the sidecar's clock: frozen between the test's steps.
func newStepClock() *testutil.Clock { return testutil.NewClock(time.Now().Truncate(time.Second)) }

// tokenEndpoint is a stand-in RFC 6749 token endpoint. It refuses what a
// real one refuses (RFC 6749 §3.2, §2.3.1, §4.4.2 and RFC 8693 §2.1: POST,
// a form body, HTTP Basic client authentication, a known grant with its
// parameters) and counts the well-formed calls, which respond answers.
type tokenEndpoint struct {
	t       *testing.T
	clock   *testutil.Clock
	calls   atomic.Int64
	respond atomic.Pointer[func(w http.ResponseWriter, n int64, now time.Time)]
	srv     *httptest.Server
}

const (
	testClientID     = "client-1"
	testClientSecret = "very-secret-value"
)

func newTokenEndpoint(t *testing.T, clock *testutil.Clock, respond func(w http.ResponseWriter, n int64, now time.Time)) *tokenEndpoint {
	te := &tokenEndpoint{t: t, clock: clock}
	te.set(respond)
	te.srv = httptest.NewServer(te)
	t.Cleanup(te.srv.Close)
	return te
}

func (te *tokenEndpoint) set(f func(w http.ResponseWriter, n int64, now time.Time)) {
	te.respond.Store(&f)
}

func (te *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"error":%q}`, code)
		te.t.Errorf("token endpoint refused a malformed call: %s", code)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		refuse(400, "invalid_request")
		return
	}
	if id, secret, ok := r.BasicAuth(); !ok || id != testClientID || secret != testClientSecret {
		refuse(401, "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse(400, "invalid_request")
		return
	}
	switch f := r.PostForm; f.Get("grant_type") {
	case "client_credentials":
	case config.TokenExchangeRFC8693:
		if f.Get("subject_token") == "" || f.Get("subject_token_type") == "" {
			refuse(400, "invalid_request")
			return
		}
	default:
		refuse(400, "unsupported_grant_type")
		return
	}
	n := te.calls.Add(1)
	w.Header().Set("Cache-Control", "no-store")
	(*te.respond.Load())(w, n, te.clock.Now())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func bearer(lifetime any) func(w http.ResponseWriter, n int64, now time.Time) {
	return func(w http.ResponseWriter, n int64, _ time.Time) {
		writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("AT-%d", n), "token_type": "Bearer", "expires_in": lifetime})
	}
}

func failing(status int, code string, retryAfter string) func(w http.ResponseWriter, n int64, now time.Time) {
	return func(w http.ResponseWriter, _ int64, _ time.Time) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, status, map[string]any{"error": code})
	}
}

// unsignedJWT builds a JWT whose claims the sidecar reads without
// verifying; the upstream here only records it.
func unsignedJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(claims)
	return enc([]byte(`{"alg":"RS256","typ":"at+jwt"}`)) + "." + enc(body) + ".c2lnbmF0dXJl"
}

// callEvery sends n GETs, advancing the clock by step before each, and
// returns the status codes.
func callEvery(t *testing.T, clock *testutil.Clock, url string, n int, step time.Duration, hdr func(i int) map[string]string) []int {
	t.Helper()
	codes := make([]int, 0, n)
	for i := range n {
		clock.Advance(step)
		var h map[string]string
		if hdr != nil {
			h = hdr(i)
		}
		resp, _ := get(t, url, h)
		codes = append(codes, resp.StatusCode)
	}
	return codes
}

func count(codes []int, code int) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}

// TestExpiredTokenNotForwarded (item 1): the token endpoint claims an hour
// (expires_in) but the JWT it issues expires after 60 s. The sidecar must
// never send a token within the expiry skew (10 s) of its exp. The original
// code sent the first JWT for the whole hour, expired after 60 s.
func TestExpiredTokenNotForwarded(t *testing.T) {
	clock := newStepClock()
	te := newTokenEndpoint(t, clock, func(w http.ResponseWriter, n int64, now time.Time) {
		at := unsignedJWT(map[string]any{"jti": n, "iat": now.Unix(), "exp": now.Add(60 * time.Second).Unix()})
		writeJSON(w, 200, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600})
	})
	var mu sync.Mutex
	var sent []struct {
		exp time.Time
		at  time.Time
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		parts := strings.Split(tok, ".")
		var claims struct {
			Exp int64 `json:"exp"`
		}
		if len(parts) == 3 {
			b, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(b, &claims)
		}
		mu.Lock()
		sent = append(sent, struct{ exp, at time.Time }{time.Unix(claims.Exp, 0), clock.Now()})
		mu.Unlock()
	}))
	defer up.Close()
	sc := startSidecar(t, bearerBinding(t, te.srv.URL, up.URL, nil), WithClock(clock.Now))

	for _, step := range []time.Duration{0, 45 * time.Second, 10 * time.Second, 6 * time.Second, 30 * time.Second} {
		clock.Advance(step)
		if resp, body := get(t, sc.url+"/x", nil); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range sent {
		if left := s.exp.Sub(s.at); left < 10*time.Second {
			t.Errorf("request %d reached the upstream with a JWT %s from its exp (want at least the 10s skew)", i, left)
		}
	}
}

// TestTinyExpiresIn (item 2): expires_in 0.001 made about 600 token calls
// per second. Now one per refresh.minInterval (1 s), and one log line.
func TestTinyExpiresIn(t *testing.T) {
	clock := newStepClock()
	te := newTokenEndpoint(t, clock, bearer(0.001))
	core, logs := observer.New(zapcore.InfoLevel)
	up, _, _ := recordingUpstream(t, nil)
	sc := startSidecarLogged(t, bearerBinding(t, te.srv.URL, up.URL, nil), zap.New(core), WithClock(clock.Now))

	codes := callEvery(t, clock, sc.url+"/x", 200, 50*time.Millisecond, nil) // 10 s
	calls := te.calls.Load()
	t.Logf("expires_in 0.001, 20 requests/s: %d token calls per 10 s (%d requests served, %d got 503)", calls, count(codes, 200), count(codes, 503))
	if calls > 11 {
		t.Errorf("token calls in 10 s = %d, want at most 11 (one per second)", calls)
	}
	if n := logs.FilterMessageSnippet("token lifetime is shorter").Len(); n != 1 {
		t.Errorf("short-lifetime log lines = %d, want 1", n)
	}
}

// TestRetryAfterHonoured (item 3): a 429 with Retry-After 30 must hold the
// token calls back for 30 s, even with requests waiting.
func TestRetryAfterHonoured(t *testing.T) {
	clock := newStepClock()
	te := newTokenEndpoint(t, clock, failing(429, "slow_down_please", "30"))
	up, _, _ := recordingUpstream(t, nil)
	sc := startSidecar(t, bearerBinding(t, te.srv.URL, up.URL, nil), WithClock(clock.Now))
	// At the start time: joins the warm-up fetch or finds its failure, so
	// the 429 is on record at the start time.
	if resp, _ := get(t, sc.url+"/x", nil); resp.StatusCode != 503 {
		t.Fatalf("first request: status %d, want 503", resp.StatusCode)
	}

	codes := callEvery(t, clock, sc.url+"/x", 100, 100*time.Millisecond, nil) // 10 s
	calls := te.calls.Load()
	t.Logf("429 Retry-After 30, 10 requests/s: %d token calls in the first 10 s", calls)
	if calls != 1 || count(codes, 503) != 100 {
		t.Fatalf("token calls = %d, 503s = %d; want 1 and 100", calls, count(codes, 503))
	}
	resp, _ := get(t, sc.url+"/x", nil)
	if ra := resp.Header.Get("Retry-After"); ra != "20" {
		t.Errorf("Retry-After to the app = %q, want 20 (what is left of the server's 30)", ra)
	}
	te.set(bearer(3600))
	clock.Advance(20 * time.Second)
	if resp, _ := get(t, sc.url+"/x", nil); resp.StatusCode != 200 {
		t.Fatalf("after Retry-After: status %d", resp.StatusCode)
	}
}

// TestUpstream401NotAmplified (item 4): an upstream path that always
// answers 401 caused one token call per request. Now the token is dropped
// once, and the 401 reaches the app.
func TestUpstream401NotAmplified(t *testing.T) {
	clock := newStepClock()
	te := newTokenEndpoint(t, clock, bearer(3600))
	up, _, upCalls := recordingUpstream(t, func(int64) int { return 401 })
	sc := startSidecar(t, bearerBinding(t, te.srv.URL, up.URL, nil), WithClock(clock.Now))

	for i := range 50 { // 10 s
		clock.Advance(200 * time.Millisecond)
		resp, _ := get(t, sc.url+"/always-401", nil)
		if resp.StatusCode != 401 || resp.Header.Get(ErrorHeader) != "" {
			t.Fatalf("request %d: status %d %s; want the partner's own 401", i, resp.StatusCode, resp.Header.Get(ErrorHeader))
		}
	}
	t.Logf("upstream always 401, 50 requests in 10 s: %d token calls, %d upstream calls", te.calls.Load(), upCalls.Load())
	if te.calls.Load() != 2 || upCalls.Load() != 51 {
		t.Fatalf("token calls %d, upstream calls %d; want 2 (one refetch) and 51 (one replay)", te.calls.Load(), upCalls.Load())
	}
}

// mintBinding is a per-user token exchange: the sidecar mints a subject
// JWT for each X-User.
func mintBinding(t *testing.T, tokenURL, upstream string) *config.Config {
	dir := writeFiles(t, map[string]string{"key.pem": pemKey(t, testKeys(t)[0])})
	return bearerBinding(t, tokenURL, upstream, func(b *config.Binding) {
		b.PrivateKey = &config.PrivateKey{File: filepath.Join(dir, "key.pem")}
		b.Grant = config.Grant{Type: config.GrantTokenExchange, TokenExchange: &config.TokenExchange{
			GrantType:        config.TokenExchangeRFC8693,
			SubjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
			SubjectToken:     config.SubjectSource{Mint: &config.MintSubject{Issuer: "https://sidecar.example", Audience: "partner"}},
		}}
	})
}

// TestManySubjectsFailingEndpoint (item 5): with a failing token endpoint,
// 200 distinct X-User values made 200 token calls in about 4 s.
func TestManySubjectsFailingEndpoint(t *testing.T) {
	clock := newStepClock()
	te := newTokenEndpoint(t, clock, failing(503, "temporarily_unavailable", ""))
	up, _, _ := recordingUpstream(t, nil)
	sc := startSidecar(t, mintBinding(t, te.srv.URL, up.URL), WithClock(clock.Now))
	user := func(i int) map[string]string { return map[string]string{"X-User": fmt.Sprintf("user-%d", i)} }

	codes := callEvery(t, clock, sc.url+"/x", 200, 20*time.Millisecond, user) // 4 s
	in4 := te.calls.Load()
	callEvery(t, clock, sc.url+"/x", 300, 20*time.Millisecond, func(i int) map[string]string { return user(200 + i) })
	in10 := te.calls.Load()
	t.Logf("failing endpoint, 50 new X-User/s: %d token calls in 4 s, %d per 10 s", in4, in10)
	if count(codes, 503) != 200 {
		t.Errorf("503s = %d, want 200", count(codes, 503))
	}
	// One binding-wide backoff, however many subjects wait: the first
	// failure, a retry after the 1 s backoff, then probes 2 s apart.
	if in4 > 3 || in10 > 6 {
		t.Errorf("token calls = %d in 4 s, %d in 10 s; want at most 3 and 6", in4, in10)
	}
}

// TestRecoveryAfterOutage (item 6): after an outage the backoff reaches
// 60 s, and requests used to keep failing that long after the endpoint was
// back. With requests waiting, a probe every 2 s finds it.
func TestRecoveryAfterOutage(t *testing.T) {
	clock := newStepClock()
	te := newTokenEndpoint(t, clock, failing(503, "temporarily_unavailable", ""))
	up, _, _ := recordingUpstream(t, nil)
	sc := startSidecar(t, bearerBinding(t, te.srv.URL, up.URL, nil), WithClock(clock.Now))

	const step = 200 * time.Millisecond
	callEvery(t, clock, sc.url+"/x", 600, step, nil) // a 2-minute outage
	outage := te.calls.Load()
	te.set(bearer(3600))
	var recovered time.Duration
	for waited := step; waited <= 2*time.Minute; waited += step {
		clock.Advance(step)
		if resp, _ := get(t, sc.url+"/x", nil); resp.StatusCode == 200 {
			recovered = waited
			break
		}
	}
	t.Logf("2-minute outage: %d token calls (%.1f per 10 s); first success %s after the endpoint came back", outage, float64(outage)/12, recovered)
	if recovered == 0 || recovered > 2*time.Second+step {
		t.Fatalf("recovered %s after the endpoint came back, want within about 2 s", recovered)
	}
	if perTen := float64(outage) / 12; perTen > 6 {
		t.Errorf("%.1f token calls per 10 s during the outage, want at most about one per 2 s", perTen)
	}
}

// TestTokenFailuresLogged (item 20): a failing sidecar logged only
// "sidecar started". Each change of failure state is logged once at warn
// with what an operator needs, the recovery at info, and never a secret.
func TestTokenFailuresLogged(t *testing.T) {
	clock := newStepClock()
	te := newTokenEndpoint(t, clock, failing(401, "invalid_client", ""))
	core, logs := observer.New(zapcore.DebugLevel)
	up, _, _ := recordingUpstream(t, nil)
	sc := startSidecarLogged(t, bearerBinding(t, te.srv.URL, up.URL, nil), zap.New(core), WithClock(clock.Now))

	callEvery(t, clock, sc.url+"/x", 50, 200*time.Millisecond, nil)
	te.set(failing(503, "temporarily_unavailable", ""))
	callEvery(t, clock, sc.url+"/x", 50, 200*time.Millisecond, nil)
	te.set(bearer(3600))
	callEvery(t, clock, sc.url+"/x", 50, 200*time.Millisecond, nil)

	failed := logs.FilterMessage("token fetch failed").All()
	if len(failed) != 2 {
		t.Fatalf("%d 'token fetch failed' lines for 150 requests over two failure states, want 2", len(failed))
	}
	host := strings.TrimPrefix(te.srv.URL, "http://")
	// The two lines come from fetch completions, which may be logged in
	// either order relative to each other; each state must have its line.
	byCode := map[any]observer.LoggedEntry{}
	for _, e := range failed {
		byCode[e.ContextMap()["oauth_error"]] = e
	}
	for i, want := range []struct {
		code   string
		status int64
	}{{"invalid_client", 401}, {"temporarily_unavailable", 503}} {
		e := byCode[want.code]
		f := e.ContextMap()
		if e.Level != zapcore.WarnLevel || f["oauth_error"] != want.code || f["http_status"] != want.status ||
			f["grant"] != config.GrantClientCredentials || f["endpoint_host"] != host || f["attempt"] == nil || f["next_retry"] == nil {
			t.Errorf("line %d: level %s fields %v; want warn with code %s, status %d, grant, endpoint host, attempt, next retry", i, e.Level, f, want.code, want.status)
		}
	}
	if rec := logs.FilterMessage("token fetch recovered").All(); len(rec) != 1 || rec[0].Level != zapcore.InfoLevel {
		t.Errorf("recovery lines = %d, want 1 at info", len(rec))
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		t.Logf("%s %s", e.Level, line)
		for _, secret := range []string{testClientSecret, "AT-"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line leaks %q: %s", secret, line)
			}
		}
	}
}
