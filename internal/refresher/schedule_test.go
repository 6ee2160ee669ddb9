package refresher

import (
	"math"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

func TestRefreshPoint(t *testing.T) {
	received := t0.Add(time.Second)
	tests := []struct {
		name     string
		lifetime time.Duration // 0: no expiry
		noIssued bool          // IssuedAt unset: lifetime counts from received
		before   time.Duration
		jitter   float64
		r        float64
		wantOK   bool
		want     time.Duration // offset from the issue time
	}{
		{name: "80% wins when Before is short", lifetime: time.Hour, before: 30 * time.Second, jitter: 0.1, r: 0, wantOK: true, want: 48 * time.Minute},
		{name: "Before wins when longer than 20%", lifetime: 100 * time.Second, before: 30 * time.Second, jitter: 0.1, r: 0, wantOK: true, want: 70 * time.Second},
		{name: "equal leads", lifetime: 150 * time.Second, before: 30 * time.Second, jitter: 0.1, r: 0, wantOK: true, want: 120 * time.Second},
		{name: "Before zero uses 80%", lifetime: 10 * time.Minute, before: 0, jitter: 0.1, r: 0, wantOK: true, want: 8 * time.Minute},
		{name: "jitter moves earlier by up to jitter×lead", lifetime: time.Hour, before: 30 * time.Second, jitter: 0.1, r: 1, wantOK: true, want: 60*time.Minute - 12*time.Minute - 72*time.Second},
		{name: "half jitter", lifetime: 100 * time.Second, before: 30 * time.Second, jitter: 0.2, r: 0.5, wantOK: true, want: 67 * time.Second},
		{name: "Before longer than lifetime is capped at half the lifetime", lifetime: 20 * time.Second, before: 30 * time.Second, jitter: 0.1, r: 0, wantOK: true, want: 10 * time.Second},
		{name: "jitter cannot pass the half-lifetime cap", lifetime: 60 * time.Second, before: 30 * time.Second, jitter: 0.5, r: 1, wantOK: true, want: 30 * time.Second},
		{name: "huge Before does not overflow", lifetime: 60 * time.Second, before: math.MaxInt64, jitter: 1, r: 1, wantOK: true, want: 30 * time.Second},
		{name: "out-of-range rand is clamped", lifetime: 100 * time.Second, before: 0, jitter: 0.5, r: 7, wantOK: true, want: 70 * time.Second},
		{name: "NaN rand counts as 0", lifetime: 100 * time.Second, before: 0, jitter: 0.5, r: math.NaN(), wantOK: true, want: 80 * time.Second},
		{name: "missing IssuedAt counts from receipt", lifetime: 100 * time.Second, noIssued: true, before: 0, jitter: 0.1, r: 0, wantOK: true, want: 80 * time.Second},
		{name: "no expiry: no proactive refresh", lifetime: 0, before: 30 * time.Second, jitter: 0.1, r: 1, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued := t0
			tok := &oauth.Token{AccessToken: "x"}
			if tt.noIssued {
				issued = received
			} else {
				tok.IssuedAt = t0
			}
			if tt.lifetime > 0 {
				tok.Expiry = issued.Add(tt.lifetime)
			}
			at, ok := refreshPoint(tok, received, tt.before, tt.jitter, tt.r)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if got := at.Sub(issued); got != tt.want {
				t.Errorf("refresh at issue+%s, want issue+%s", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	minB, maxB := time.Second, 10*time.Second
	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 1, 1 * time.Second},
		{2, 1, 2 * time.Second},
		{3, 1, 4 * time.Second},
		{4, 1, 8 * time.Second},
		{5, 1, 10 * time.Second},
		{60, 1, 10 * time.Second},
		{1 << 20, 1, 10 * time.Second},
		{4, 0.5, 4 * time.Second},
		{4, 0, time.Second},   // full jitter floored at MinBackoff
		{3, 0.1, time.Second}, // 0.4s floored
		{5, 0.25, 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := backoff(tt.n, minB, maxB, tt.r); got != tt.want {
			t.Errorf("backoff(n=%d, r=%g) = %s, want %s", tt.n, tt.r, got, tt.want)
		}
	}
	// A cap near the largest Duration must not overflow into a negative.
	if got := backoff(200, time.Second, math.MaxInt64, 1); got != math.MaxInt64 {
		t.Errorf("backoff with a huge cap = %s, want the cap", got)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct{ in, want time.Duration }{
		{-time.Second, time.Second},
		{0, time.Second},
		{time.Millisecond, time.Second},
		{time.Second, time.Second},
		{time.Second + time.Nanosecond, 2 * time.Second},
		{4700 * time.Millisecond, 5 * time.Second},
		{10 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in); got != tt.want {
			t.Errorf("retryAfter(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
