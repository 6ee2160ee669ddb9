package refresher

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// guard bounds every channel wait in the tests. It is a deadlock detector,
// not a timing assertion: nothing here expects anything to be fast.
const guard = 10 * time.Second

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func newClock() *testutil.Clock { return testutil.NewClock(t0) }

// fetchReq is one call of the scripted fetcher; the test answers it.
type fetchReq struct {
	ctx     context.Context
	subject string
	prev    *oauth.Token
	reply   chan fetchResp
}

type fetchResp struct {
	tok *oauth.Token
	err error
}

func (r fetchReq) answer(tok *oauth.Token, err error) { r.reply <- fetchResp{tok, err} }

// scripted is a FetchFunc whose every call is handed to the test.
type scripted struct {
	reqs  chan fetchReq
	count atomic.Int64
}

func newScripted() *scripted { return &scripted{reqs: make(chan fetchReq, 64)} }

func (s *scripted) Fetch(ctx context.Context, subject string, prev *oauth.Token) (*oauth.Token, error) {
	s.count.Add(1)
	r := fetchReq{ctx: ctx, subject: subject, prev: prev, reply: make(chan fetchResp, 1)}
	s.reqs <- r
	select {
	case resp := <-r.reply:
		return resp.tok, resp.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *scripted) next(t *testing.T) fetchReq {
	t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-time.After(guard):
		t.Fatal("no fetch arrived")
		return fetchReq{}
	}
}

// noMore fails if a fetch was requested beyond want.
func (s *scripted) noMore(t *testing.T, want int64) {
	t.Helper()
	if got := s.count.Load(); got != want {
		t.Fatalf("fetches = %d, want %d", got, want)
	}
	select {
	case r := <-s.reqs:
		t.Fatalf("unexpected extra fetch for subject %q", r.subject)
	default:
	}
}

// fakeTimers replaces Cache.after; every timer asked for is handed to the
// test, which fires it when it chooses.
type fakeTimers struct{ reqs chan fakeTimer }

type fakeTimer struct {
	d time.Duration
	c chan time.Time
}

func (f fakeTimer) fire() { f.c <- time.Time{} }

func newTimers() *fakeTimers { return &fakeTimers{reqs: make(chan fakeTimer, 64)} }

func (f *fakeTimers) after(d time.Duration) (<-chan time.Time, func() bool) {
	ft := fakeTimer{d: d, c: make(chan time.Time, 1)}
	f.reqs <- ft
	return ft.c, func() bool { return true }
}

func (f *fakeTimers) next(t *testing.T) fakeTimer {
	t.Helper()
	select {
	case ft := <-f.reqs:
		return ft
	case <-time.After(guard):
		t.Fatal("no timer was requested")
		return fakeTimer{}
	}
}

// harness bundles a Cache with its seams.
type harness struct {
	c      *Cache
	clock  *testutil.Clock
	fetch  *scripted
	timers *fakeTimers
	events chan Event
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{clock: newClock(), fetch: newScripted(), timers: newTimers(), events: make(chan Event, 64)}
	o.Fetch = h.fetch.Fetch
	o.Now = h.clock.Now
	if o.Rand == nil {
		o.Rand = func() float64 { return 0 }
	}
	o.Observe = func(ev Event) { h.events <- ev }
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.after = h.timers.after
	h.c = c
	t.Cleanup(c.Close)
	return h
}

// event waits for the next finished fetch; after it, the fetch's result is
// visible in the cache.
func (h *harness) event(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(guard):
		t.Fatal("no fetch finished")
		return Event{}
	}
}

// tokenAsync calls Token on a goroutine and returns where the result lands.
func (h *harness) tokenAsync(ctx context.Context, subject string) <-chan result {
	out := make(chan result, 1)
	go func() {
		tok, err := h.c.Token(ctx, subject)
		out <- result{tok, err}
	}()
	return out
}

type result struct {
	tok *oauth.Token
	err error
}

func recv(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(guard):
		t.Fatal("Token did not return")
		return result{}
	}
}

// seed makes the cache fetch tok for subject and waits until it is stored.
func (h *harness) seed(t *testing.T, subject string, tok *oauth.Token) {
	t.Helper()
	ch := h.tokenAsync(context.Background(), subject)
	h.fetch.next(t).answer(tok, nil)
	if r := recv(t, ch); r.err != nil || r.tok != tok {
		t.Fatalf("seed: Token = %v, %v; want the fetched token", r.tok, r.err)
	}
	h.event(t)
}

func inflight(c *Cache, subject string) bool {
	e, ok := c.peekEntry(subject)
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inflight != nil
}

// retryAt is when the next background fetch for subject may start: the
// later of its own backoff and the binding's.
func retryAt(c *Cache, subject string) time.Time {
	e, _ := c.peekEntry(subject)
	e.mu.Lock()
	own := e.retryAt
	e.mu.Unlock()
	c.circuit.mu.Lock()
	defer c.circuit.mu.Unlock()
	return latest(own, c.circuit.retryAt)
}

func tokenFor(name string, issued time.Time, lifetime time.Duration) *oauth.Token {
	tok := &oauth.Token{AccessToken: name, TokenType: "bearer", IssuedAt: issued}
	if lifetime > 0 {
		tok.Expiry = issued.Add(lifetime)
	}
	return tok
}
