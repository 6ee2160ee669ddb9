package oauth

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Secret-looking values used across tests; the leak test greps every error
// for each of them.
const (
	testClientID = "s6BhdRkqt3"
	// Long enough to be an HS256 key (client_secret_jwt, RFC 7518 §3.2).
	testClientSecret = "gX1fBat3bV-client-secret-at-least-32-bytes"
	testPassword     = "hunter2-resource-owner-pw"
	testRefresh      = "tGzv3JOkF0XG5Qx2TlKWIA-refresh"
	testSubject      = "eyJhbGciOiJSUzI1NiJ9.subject-token.sig"
	testAccess       = "2YotnFZFEjr1zCsicMWpAA-access"
	testCode         = "SplxlOBeZQQYbYS6WxSbIA-code"
	testVerifier     = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seen is one request as the fake authorization server received it.
type seen struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     string
}

// fakeAS is an httptest server that records every request and answers with
// respond (n counts requests from 0).
type fakeAS struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []seen
	respond func(w http.ResponseWriter, r *http.Request, n int)
}

func newFakeAS(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *fakeAS {
	t.Helper()
	f := &fakeAS{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b)) // respond may read it again
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(b)})
		f.mu.Unlock()
		f.respond(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAS) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func (f *fakeAS) only(t *testing.T) seen {
	t.Helper()
	r := f.requests()
	if len(r) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(r))
	}
	return r[0]
}

// jsonReply writes a JSON body with the given status.
func jsonReply(status int, body string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

const okBody = `{"access_token":"` + testAccess + `","token_type":"Bearer","expires_in":3600}`

func staticCreds(c Credentials) func() (Credentials, error) {
	return func() (Credentials, error) { return c, nil }
}

// newTestClient builds a client for f with client_secret_basic unless o
// overrides it.
func newTestClient(t *testing.T, f *fakeAS, o Options) *Client {
	t.Helper()
	if o.TokenURL == "" {
		o.TokenURL = f.URL + "/token"
	}
	if o.Credentials == nil {
		o.Credentials = staticCreds(Credentials{ClientID: testClientID, ClientSecret: testClientSecret})
	}
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func mustParseQuery(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// fakeClock advances only when the fake Sleep is called, and records every
// requested sleep so tests can assert intervals without real waiting.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}
