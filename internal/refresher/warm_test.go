package refresher

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

func TestWarm(t *testing.T) {
	h := newHarness(t, Options{Before: 10 * time.Second, MinBackoff: time.Second, MaxBackoff: 4 * time.Second, Rand: func() float64 { return 1 }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if h.c.Ready("") {
		t.Fatal("Ready before any fetch")
	}
	h.c.Warm(ctx, "")

	// Initial fetch, no caller involved.
	first := tokenFor("first", t0, 100*time.Second) // lead 20s+2s jitter: refresh at t0+78s
	h.fetch.next(t).answer(first, nil)
	h.event(t)
	if !h.c.Ready("") {
		t.Fatal("not Ready after the warm fetch")
	}
	if tm := h.timers.next(t); tm.d != 78*time.Second {
		t.Fatalf("warm loop sleeps %s, want until the refresh point (78s)", tm.d)
	} else {
		h.clock.Set(t0.Add(78 * time.Second))
		tm.fire()
	}

	// Refresh fails: retried at the backoff deadline, token still served.
	h.fetch.next(t).answer(nil, errDown)
	h.event(t)
	if tm := h.timers.next(t); tm.d != time.Second {
		t.Fatalf("warm loop retries after %s, want the 1s backoff", tm.d)
	} else {
		if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != first {
			t.Fatalf("Token during backoff = %v, %v", tok, err)
		}
		h.clock.Set(t0.Add(79 * time.Second))
		tm.fire()
	}
	second := tokenFor("second", t0.Add(79*time.Second), 100*time.Second)
	h.fetch.next(t).answer(second, nil)
	h.event(t)
	if tm := h.timers.next(t); tm.d != 78*time.Second {
		t.Fatalf("after recovery the loop sleeps %s, want 78s", tm.d)
	}

	// An Invalidate wakes the loop at once.
	h.c.Invalidate("", second)
	third := tokenFor("third", t0.Add(79*time.Second), 100*time.Second)
	h.fetch.next(t).answer(third, nil)
	h.event(t)
	h.timers.next(t)
	if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != third {
		t.Fatalf("Token = %v, %v; want the token the loop fetched", tok, err)
	}
	h.fetch.noMore(t, 4)
}

func TestWarmStops(t *testing.T) {
	tests := []struct {
		name string
		stop func(h *harness, cancel context.CancelFunc)
	}{
		{"ctx cancelled", func(_ *harness, cancel context.CancelFunc) { cancel() }},
		{"Close", func(h *harness, _ context.CancelFunc) { h.c.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.c.Warm(ctx, "")
			h.fetch.next(t).answer(tokenFor("t", t0, time.Hour), nil)
			h.event(t)
			h.timers.next(t) // the loop is now asleep until the refresh point
			tt.stop(h, cancel)
			// Close waits for every goroutine of the cache, the warm loop included.
			done := make(chan struct{})
			go func() { h.c.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(guard):
				t.Fatal("the warm loop did not stop")
			}
			h.fetch.noMore(t, 1)
		})
	}
}

func TestWarmAfterClose(t *testing.T) {
	h := newHarness(t, Options{})
	h.c.Close()
	h.c.Warm(context.Background(), "")
	h.fetch.noMore(t, 0)
}

func BenchmarkTokenHit(b *testing.B) {
	for _, subject := range []string{"", "user-42"} {
		b.Run(fmt.Sprintf("subject=%q", subject), func(b *testing.B) {
			tok := &oauth.Token{AccessToken: "bench", Expiry: time.Now().Add(time.Hour), IssuedAt: time.Now()}
			c, err := New(Options{Fetch: func(context.Context, string, *oauth.Token) (*oauth.Token, error) { return tok, nil }})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			if _, err := c.Token(ctx, subject); err != nil {
				b.Fatal(err)
			}
			var once sync.Once
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					got, err := c.Token(ctx, subject)
					if err != nil || got != tok {
						once.Do(func() { b.Errorf("Token = %v, %v", got, err) })
					}
				}
			})
		})
	}
}
