package refresher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

func TestInvalidate(t *testing.T) {
	tests := []struct {
		name      string
		subject   string
		arg       func(cached *oauth.Token) *oauth.Token
		wantFetch bool
	}{
		{"same pointer", "", func(c *oauth.Token) *oauth.Token { return c }, true},
		{"copy with the same access token", "", func(c *oauth.Token) *oauth.Token { cp := *c; return &cp }, true},
		{"per-user subject", "alice", func(c *oauth.Token) *oauth.Token { return c }, true},
		{"stale token that was already replaced", "", func(*oauth.Token) *oauth.Token { return tokenFor("older", t0, time.Hour) }, false},
		{"nil token", "", func(*oauth.Token) *oauth.Token { return nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			cached := tokenFor("current", t0, time.Hour)
			cached.RefreshToken = "rt-1"
			h.seed(t, tt.subject, cached)

			h.c.Invalidate(tt.subject, tt.arg(cached))
			if h.c.Ready(tt.subject) == tt.wantFetch {
				t.Errorf("Ready after Invalidate = %v", !tt.wantFetch)
			}
			ch := h.tokenAsync(context.Background(), tt.subject)
			if !tt.wantFetch {
				if r := recv(t, ch); r.err != nil || r.tok != cached {
					t.Fatalf("Token = %v, %v; want the cached token kept", r.tok, r.err)
				}
				h.fetch.noMore(t, 1)
				return
			}
			req := h.fetch.next(t)
			if req.prev != cached || req.subject != tt.subject {
				t.Errorf("fetch(subject %q, prev %v), want the invalidated token as prev", req.subject, req.prev)
			}
			fresh := tokenFor("fresh", t0, time.Hour) // no refresh token in the response
			req.answer(fresh, nil)
			h.event(t)
			r := recv(t, ch)
			if r.err != nil || r.tok.AccessToken != "fresh" {
				t.Fatalf("Token after Invalidate = %v, %v", r.tok, r.err)
			}
			if r.tok.RefreshToken != "rt-1" {
				t.Errorf("refresh token not carried over (RFC 6749 §6)")
			}
			if fresh.RefreshToken != "" {
				t.Errorf("the fetcher's token was modified")
			}
			// A late 401 for the replaced token must not drop the new one.
			h.c.Invalidate(tt.subject, cached)
			if got, err := h.c.Token(context.Background(), tt.subject); err != nil || got != r.tok {
				t.Fatalf("late Invalidate dropped the new token: %v, %v", got, err)
			}
			h.fetch.noMore(t, 2)
		})
	}
}

func TestInvalidateUnknownSubject(t *testing.T) {
	h := newHarness(t, Options{})
	h.c.Invalidate("nobody", tokenFor("x", t0, time.Hour)) // must not create or panic
	if _, ok := h.c.peekEntry("nobody"); ok {
		t.Fatal("Invalidate created an entry")
	}
	if h.c.Ready("nobody") {
		t.Fatal("Ready for an unknown subject")
	}
}

func TestWaitLimit(t *testing.T) {
	h := newHarness(t, Options{WaitLimit: 30 * time.Second})
	ch := h.tokenAsync(context.Background(), "+15551234567")
	req := h.fetch.next(t)
	timer := h.timers.next(t)
	if timer.d != 30*time.Second {
		t.Errorf("caller waits %s, want WaitLimit", timer.d)
	}
	timer.fire()
	r := recv(t, ch)
	var ue *UnavailableError
	if !errors.As(r.err, &ue) || !ue.Pending || ue.RetryAfter != time.Second {
		t.Fatalf("err = %v, want UnavailableError{Pending: true, RetryAfter: 1s}", r.err)
	}
	if req.ctx.Err() != nil {
		t.Fatal("the fetch was cancelled when the caller stopped waiting")
	}
	if !inflight(h.c, "+15551234567") {
		t.Fatal("the fetch does not carry on in the background")
	}

	// A second caller while the approval is still pending joins the same fetch.
	ch2 := h.tokenAsync(context.Background(), "+15551234567")
	h.timers.next(t) // its own wait limit, left unfired
	tok := tokenFor("approved", t0, time.Hour)
	req.answer(tok, nil)
	h.event(t)
	if r := recv(t, ch2); r.err != nil || r.tok != tok {
		t.Fatalf("joined caller got %v, %v", r.tok, r.err)
	}
	if got, err := h.c.Token(context.Background(), "+15551234567"); err != nil || got != tok {
		t.Fatalf("later call got %v, %v; want the background fetch's token", got, err)
	}
	h.fetch.noMore(t, 1)
}

func TestCallerCancelDoesNotCancelFetch(t *testing.T) {
	h := newHarness(t, Options{})
	type ctxKey struct{}
	ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), ctxKey{}, "trace-1"))
	first := h.tokenAsync(ctx, "")
	req := h.fetch.next(t)
	if req.ctx.Value(ctxKey{}) != "trace-1" {
		t.Error("the fetch lost the caller's context values")
	}
	if _, ok := req.ctx.Deadline(); !ok {
		t.Error("the fetch has no FetchTimeout deadline")
	}
	gone := errors.New("client went away")
	cancel(gone)
	if r := recv(t, first); !errors.Is(r.err, gone) {
		t.Fatalf("cancelled caller err = %v, want its ctx cause", r.err)
	}
	if req.ctx.Err() != nil {
		t.Fatal("the shared fetch was cancelled with the first caller")
	}
	second := h.tokenAsync(context.Background(), "")
	tok := tokenFor("t", t0, time.Hour)
	req.answer(tok, nil)
	h.event(t)
	if r := recv(t, second); r.err != nil || r.tok != tok {
		t.Fatalf("second caller got %v, %v", r.tok, r.err)
	}
	h.fetch.noMore(t, 1)
}

func TestLRUBound(t *testing.T) {
	h := newHarness(t, Options{MaxSubjects: 2})
	h.seed(t, "", tokenFor("client", t0, time.Hour))
	for i := range 5 {
		s := fmt.Sprintf("user-%d", i)
		h.seed(t, s, tokenFor(s, t0, time.Hour))
	}
	if n, _ := h.c.subjects.counts(); n != 2 {
		t.Fatalf("per-subject entries = %d, want MaxSubjects=2", n)
	}
	tests := []struct {
		subject string
		ready   bool
	}{
		{"", true}, // never evicted
		{"user-0", false},
		{"user-2", false},
		{"user-3", true},
		{"user-4", true},
	}
	for _, tt := range tests {
		if got := h.c.Ready(tt.subject); got != tt.ready {
			t.Errorf("Ready(%q) = %v, want %v", tt.subject, got, tt.ready)
		}
	}
	// The client-level token is still served from cache; an evicted user refetches.
	if tok, err := h.c.Token(context.Background(), ""); err != nil || tok.AccessToken != "client" {
		t.Fatalf("client token: %v, %v", tok, err)
	}
	h.fetch.noMore(t, 6)
	ch := h.tokenAsync(context.Background(), "user-0")
	if req := h.fetch.next(t); req.subject != "user-0" || req.prev != nil {
		t.Fatalf("fetch(%q, prev %v), want a fresh fetch for user-0", req.subject, req.prev)
	} else {
		req.answer(tokenFor("u0b", t0, time.Hour), nil)
	}
	h.event(t)
	recv(t, ch)
}

func TestUnavailableError(t *testing.T) {
	cause := errors.New("invalid_client")
	tests := []struct {
		err  *UnavailableError
		want []string
	}{
		{&UnavailableError{RetryAfter: 2 * time.Second, Cause: cause}, []string{"retry after 2s", "invalid_client"}},
		{&UnavailableError{RetryAfter: time.Second}, []string{"retry after 1s"}},
		{&UnavailableError{RetryAfter: time.Second, Pending: true}, []string{"pending", "retry after 1s"}},
		{&UnavailableError{RetryAfter: time.Second, Pending: true, Cause: cause}, []string{"pending", "invalid_client"}},
	}
	for _, tt := range tests {
		msg := tt.err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
		if errors.Unwrap(tt.err) != tt.err.Cause {
			t.Errorf("Unwrap = %v, want %v", errors.Unwrap(tt.err), tt.err.Cause)
		}
	}
}

func TestClose(t *testing.T) {
	h := newHarness(t, Options{})
	waiting := h.tokenAsync(context.Background(), "")
	req := h.fetch.next(t)
	h.c.Close() // returns only once the fetch goroutine has ended
	if req.ctx.Err() == nil {
		t.Error("Close did not cancel the running fetch")
	}
	if r := recv(t, waiting); r.err == nil {
		t.Fatal("a waiter got a token from a closed cache")
	}
	if _, err := h.c.Token(context.Background(), "other"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Token after Close = %v, want ErrClosed", err)
	}
	h.c.Close() // idempotent
}

// TestConcurrentMix gives the race detector concurrent hits, misses,
// refreshes, invalidations and evictions to look at.
func TestConcurrentMix(t *testing.T) {
	clock := newClock()
	var mu sync.Mutex
	n := 0
	c, err := New(Options{
		MaxSubjects: 4,
		Now:         clock.Now,
		Fetch: func(_ context.Context, s string, _ *oauth.Token) (*oauth.Token, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n%7 == 0 {
				return nil, errDown
			}
			return tokenFor(fmt.Sprintf("%s-%d", s, n), clock.Now(), time.Minute), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Warm(ctx, "")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				s := fmt.Sprintf("u%d", (g+i)%6)
				if i%5 == 0 {
					s = ""
				}
				tok, err := c.Token(ctx, s)
				var ue *UnavailableError
				switch {
				case err == nil:
					if tok.AccessToken == "" {
						t.Error("empty token served")
					}
					if i%3 == 0 {
						c.Invalidate(s, tok)
					}
				case errors.As(err, &ue):
				default:
					t.Errorf("unexpected error: %v", err)
				}
				if i%50 == 0 {
					clock.Set(clock.Now().Add(20 * time.Second))
				}
				c.Ready(s)
			}
		})
	}
	wg.Wait()
}
