package sidecar

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// cibaAS is a CIBA poll-mode authorization server (CIBA Core §7, §10, §11)
// that requires what a real one does: POST with a form body,
// client_secret_basic, a login_hint, a scope with openid; on the token
// endpoint the CIBA grant type and a live auth_req_id. A subscriber stays
// pending until the test approves them; hints in unknown get
// unknown_user_id (§13).
type cibaAS struct {
	t        *testing.T
	id, pass string
	unknown  map[string]bool

	mu         sync.Mutex
	authorizes int
	reqs       map[string]string // auth_req_id -> login_hint
	approved   map[string]bool   // login_hint -> approved
}

func newCIBAAS(t *testing.T, unknown ...string) (*cibaAS, *httptest.Server) {
	as := &cibaAS{t: t, id: "client-1", pass: "very-secret-value", unknown: map[string]bool{},
		reqs: map[string]string{}, approved: map[string]bool{}}
	for _, h := range unknown {
		as.unknown[h] = true
	}
	srv := httptest.NewServer(as)
	t.Cleanup(srv.Close)
	return as, srv
}

func (as *cibaAS) fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (as *cibaAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		as.fail(w, 400, "invalid_request")
		return
	}
	if id, pass, ok := r.BasicAuth(); !ok || id != as.id || pass != as.pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="as"`)
		as.fail(w, 401, "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil {
		as.fail(w, 400, "invalid_request")
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	switch r.URL.Path {
	case "/bc-authorize":
		hint := r.PostForm.Get("login_hint")
		if hint == "" || !strings.Contains(" "+r.PostForm.Get("scope")+" ", " openid ") {
			as.fail(w, 400, "invalid_request")
			return
		}
		if as.unknown[hint] {
			as.fail(w, 400, "unknown_user_id")
			return
		}
		as.authorizes++
		id := fmt.Sprintf("req-%d", as.authorizes)
		as.reqs[id] = hint
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"auth_req_id":%q,"expires_in":600,"interval":1}`, id)
	case "/token":
		id := r.PostForm.Get("auth_req_id")
		hint, ok := as.reqs[id]
		switch {
		case r.PostForm.Get("grant_type") != oauth.GrantTypeCIBA:
			as.fail(w, 400, "unsupported_grant_type")
		case !ok:
			as.fail(w, 400, "invalid_grant")
		case !as.approved[hint]:
			as.fail(w, 400, "authorization_pending")
		default:
			delete(as.reqs, id) // an auth_req_id is redeemed once
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"access_token":"AT-%s","token_type":"Bearer","expires_in":3600}`, hint)
		}
	default:
		http.NotFound(w, r)
	}
}

func (as *cibaAS) approve(hint string) {
	as.mu.Lock()
	as.approved[hint] = true
	as.mu.Unlock()
}

func (as *cibaAS) authorizeCalls() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.authorizes
}

// echoToken is an upstream that answers with the token it was sent.
func echoToken(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(up.Close)
	return up
}

func cibaBinding(t *testing.T, as *httptest.Server, upstream string, edit func(*config.CIBAGrant)) *config.Config {
	return bearerBinding(t, as.URL+"/token", upstream, func(b *config.Binding) {
		g := &config.CIBAGrant{AuthorizeURL: as.URL + "/bc-authorize", MaxWait: config.Duration{Duration: 50 * time.Millisecond}}
		if edit != nil {
			edit(g)
		}
		b.Grant = config.Grant{Type: config.GrantCIBA, Scopes: []string{"sim-swap"}, CIBA: g}
	})
}

type appReply struct {
	status     int
	code, body string
	retryAfter string
}

func askAs(t *testing.T, base, hint string) appReply {
	t.Helper()
	resp, body := get(t, base+"/x", map[string]string{"X-Login-Hint": hint})
	return appReply{status: resp.StatusCode, code: resp.Header.Get(ErrorHeader), body: body, retryAfter: resp.Header.Get("Retry-After")}
}

// TestCIBAPendingAuthorizationsBounded: 40 subscribers asked at once with
// cacheSize 4 and maxPending 4 start exactly 4 authorizations; the other 36
// get 429 at once, without contacting the server. Asking again never starts
// a second authorization for a pending subscriber (a second consent prompt),
// and an approval is delivered although 36 other subscribers were asked for
// meanwhile.
func TestCIBAPendingAuthorizationsBounded(t *testing.T) {
	const subscribers, maxPending = 40, 4
	as, asSrv := newCIBAAS(t)
	sc := startSidecar(t, cibaBinding(t, asSrv, echoToken(t).URL, func(g *config.CIBAGrant) {
		g.CacheSize, g.MaxPending = maxPending, maxPending
	}))
	baseline := goroutines()
	hints := make([]string, subscribers)
	for i := range hints {
		hints[i] = fmt.Sprintf("tel:+3460000%04d", i)
	}
	replies := make([]appReply, subscribers)
	var wg sync.WaitGroup
	for i, h := range hints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = askAs(t, sc.url, h)
		}()
	}
	wg.Wait()
	var pendingHints []string
	refused := 0
	for i, r := range replies {
		switch {
		case r.status == 503 && r.code == "authorization_pending":
			pendingHints = append(pendingHints, hints[i])
		case r.status == 429 && r.code == "too_many_pending_authorizations" && r.retryAfter == "5":
			refused++
		default:
			t.Errorf("%s: %d %q Retry-After %q %s", hints[i], r.status, r.code, r.retryAfter, r.body)
		}
	}
	if len(pendingHints) != maxPending || refused != subscribers-maxPending || as.authorizeCalls() != maxPending {
		t.Fatalf("%d pending, %d refused, %d authorize calls; want %d, %d, %d",
			len(pendingHints), refused, as.authorizeCalls(), maxPending, subscribers-maxPending, maxPending)
	}
	t.Logf("figure: %d subscribers, cacheSize and maxPending %d: %d authorize calls, %d pending, %d refused with 429; goroutines in the test process %d -> %d",
		subscribers, maxPending, as.authorizeCalls(), len(pendingHints), refused, baseline, goroutines())

	// Everyone asks again: pending subscribers join their authorization.
	for _, h := range hints {
		askAs(t, sc.url, h)
	}
	if n := as.authorizeCalls(); n != maxPending {
		t.Fatalf("asking again made %d authorize calls, want still %d", n, maxPending)
	}
	if m := sc.metric(t, "oauth_injector_ciba_pending_authorizations"); m != maxPending {
		t.Errorf("pending gauge = %v, want %d", m, maxPending)
	}

	// The first subscriber approves; the approval reaches the app.
	first := pendingHints[0]
	as.approve(first)
	eventually(t, "the approval to reach the app", func() bool {
		return askAs(t, sc.url, first).status == 200
	})
	if r := askAs(t, sc.url, first); r.body != "Bearer AT-"+first {
		t.Fatalf("upstream saw %q, want the approved subscriber's token", r.body)
	}
	// Its slot is free for a subscriber refused before.
	var newcomer string
	for _, h := range hints {
		if !slices.Contains(pendingHints, h) {
			newcomer = h
			break
		}
	}
	if r := askAs(t, sc.url, newcomer); r.status != 503 || r.code != "authorization_pending" {
		t.Fatalf("a refused subscriber after a slot freed: %d %q", r.status, r.code)
	}
	if n := as.authorizeCalls(); n != maxPending+1 {
		t.Fatalf("authorize calls = %d, want %d", n, maxPending+1)
	}
}

// goroutines counts the process's goroutines without the app side's idle
// keep-alive connections, for the figure in the log (not asserted: the
// runtime and net/http own some of them).
func goroutines() int {
	http.DefaultClient.CloseIdleConnections()
	return runtime.NumGoroutine()
}

// metric reads one unlabelled-by-code sample for the first binding from
// /metrics.
func (r *running) metric(t *testing.T, name string) float64 {
	t.Helper()
	vs := r.samples(t, name)
	if len(vs) == 0 {
		t.Fatalf("/metrics has no %s", name)
	}
	return vs[0]
}

// samples returns the values of name's samples whose labels contain every
// one of labels (`op="get"` and so on), in /metrics order.
func (r *running) samples(t *testing.T, name string, labels ...string) []float64 {
	t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []float64
lines:
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		var v float64
		if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// TestCIBALoginHintsAndPermanentErrors: the opaque login hint format lets an
// e-mail address through to the server (the default refuses it with 400
// before contacting anyone), and an unknown subscriber is a 400
// unknown_user_id, not a 503 to retry.
func TestCIBALoginHintsAndPermanentErrors(t *testing.T) {
	tests := []struct {
		name       string
		format     string
		hint       string
		approve    bool
		wantStatus int
		wantCode   string
		wantCalls  int
	}{
		{"default refuses an e-mail", "", "alice@example.com", false, 400, "invalid_login_hint", 0},
		{"open_gateway refuses an e-mail", config.LoginHintOpenGateway, "alice@example.com", false, 400, "invalid_login_hint", 0},
		{"opaque accepts an e-mail", config.LoginHintOpaque, "alice@example.com", true, 200, "", 1},
		{"opaque accepts a user id", config.LoginHintOpaque, "user-42", true, 200, "", 1},
		{"opaque bounds the length", config.LoginHintOpaque, strings.Repeat("a", 257), false, 400, "invalid_login_hint", 0},
		{"unknown subscriber", config.LoginHintOpaque, "nobody@example.com", false, 400, "unknown_user_id", 0},
		{"unknown Open Gateway subscriber", "", "tel:+34999999999", false, 400, "unknown_user_id", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, asSrv := newCIBAAS(t, "nobody@example.com", "tel:+34999999999")
			if tt.approve {
				as.approve(tt.hint)
			}
			sc := startSidecar(t, cibaBinding(t, asSrv, echoToken(t).URL, func(g *config.CIBAGrant) { g.LoginHintFormat = tt.format }))
			var r appReply
			eventually(t, "a final answer", func() bool {
				r = askAs(t, sc.url, tt.hint)
				return r.code != "authorization_pending"
			})
			if r.status != tt.wantStatus || r.code != tt.wantCode {
				t.Fatalf("got %d %q %s, want %d %q", r.status, r.code, r.body, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == 200 && r.body != "Bearer AT-"+tt.hint {
				t.Fatalf("upstream saw %q", r.body)
			}
			if tt.wantStatus >= 400 && r.retryAfter != "" {
				t.Errorf("a final error carries Retry-After %q", r.retryAfter)
			}
			if n := as.authorizeCalls(); n != tt.wantCalls {
				t.Errorf("authorize calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}
