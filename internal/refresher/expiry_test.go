package refresher

import (
	"context"
	"testing"
	"time"
)

// TestExpirySkew: a token is not handed out within ExpirySkew of its expiry
// (capped at half its lifetime), so it cannot reach the upstream expired
// (issue 8 item 1). The original code served it until the expiry itself.
func TestExpirySkew(t *testing.T) {
	tests := []struct {
		name     string
		skew     time.Duration
		lifetime time.Duration
		lastUse  time.Duration // the last offset from issue at which the first token is served
	}{
		{"10s skew on an hour", 10 * time.Second, time.Hour, time.Hour - 10*time.Second - time.Nanosecond},
		{"skew capped at half a short lifetime", 10 * time.Second, 8 * time.Second, 4*time.Second - time.Nanosecond},
		{"no skew", 0, time.Hour, time.Hour - time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{ExpirySkew: tt.skew, Before: time.Nanosecond})
			first := tokenFor("first", t0, tt.lifetime)
			h.seed(t, "", first)

			// Just inside the window: served (a background refresh starts
			// at the refresh point; leave it unanswered for now).
			h.clock.Set(t0.Add(tt.lastUse))
			if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != first {
				t.Fatalf("at issue+%s: Token = %v, %v; want the cached token", tt.lastUse, tok, err)
			}
			if !h.c.Ready("") {
				t.Fatal("not Ready inside the usable window")
			}
			refresh := h.fetch.next(t)

			// At the window's end the token is never handed out: the
			// caller waits for the refresh instead.
			h.clock.Set(t0.Add(tt.lastUse + time.Nanosecond))
			if h.c.Ready("") {
				t.Fatal("Ready with a token inside the expiry skew")
			}
			ch := h.tokenAsync(context.Background(), "")
			second := tokenFor("second", h.clock.Now(), tt.lifetime)
			refresh.answer(second, nil)
			h.event(t)
			if r := recv(t, ch); r.err != nil || r.tok != second {
				t.Fatalf("past the window: Token = %v, %v; want the refreshed token", r.tok, r.err)
			}
			h.fetch.noMore(t, 2)
		})
	}
}

// TestExpirySkewSchedulesRefreshInsideWindow: the refresh point is computed
// against the usable window, so stale-while-revalidate still has room.
func TestExpirySkewSchedulesRefreshInsideWindow(t *testing.T) {
	h := newHarness(t, Options{ExpirySkew: 10 * time.Second})
	// Usable until t0+50s; 80% of that window is t0+40s.
	h.seed(t, "", tokenFor("t", t0, 60*time.Second))
	h.clock.Set(t0.Add(40*time.Second - time.Nanosecond))
	_, _ = h.c.Token(context.Background(), "")
	if inflight(h.c, "") {
		t.Fatal("refresh before 80% of the usable window")
	}
	h.clock.Set(t0.Add(40 * time.Second))
	_, _ = h.c.Token(context.Background(), "")
	if !inflight(h.c, "") {
		t.Fatal("no refresh at 80% of the usable window")
	}
	h.fetch.next(t).answer(tokenFor("t2", h.clock.Now(), time.Minute), nil)
	h.event(t)
}
