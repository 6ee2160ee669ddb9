package refresher

import (
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// refreshPoint is when tok should be refreshed proactively; ok is false for a
// token without expiry, which is kept until invalidated. received stands in
// for IssuedAt when the fetcher did not set it.
//
// The lead is the larger of 20% of the lifetime and Before (i.e. the earlier
// of the 80% point and Before-ahead-of-expiry), stretched by up to
// Jitter×lead, then capped at half the lifetime so a Before longer than the
// token's life cannot make every Token call a refresh.
func refreshPoint(tok *oauth.Token, received time.Time, before time.Duration, jitter, r float64) (at time.Time, ok bool) {
	if tok.Expiry.IsZero() {
		return time.Time{}, false
	}
	issued := tok.IssuedAt
	if issued.IsZero() || issued.After(tok.Expiry) {
		issued = received
	}
	lifetime := tok.Expiry.Sub(issued)
	if lifetime <= 0 {
		return tok.Expiry, true
	}
	// Capping before adding jitter also keeps a huge Before from overflowing.
	lead := min(max(lifetime/5, before), lifetime/2)
	lead = min(lead+time.Duration(jitter*clamp01(r)*float64(lead)), lifetime/2)
	return tok.Expiry.Add(-lead), true
}

// usableUntil is when tok stops being handed out: skew before its expiry,
// with the skew capped at half the lifetime so that a token shorter-lived
// than the skew is still used for its first half. Zero: no expiry.
func usableUntil(tok *oauth.Token, received time.Time, skew time.Duration) time.Time {
	if tok == nil || tok.Expiry.IsZero() {
		return time.Time{}
	}
	issued := tok.IssuedAt
	if issued.IsZero() || issued.After(tok.Expiry) {
		issued = received
	}
	lifetime := tok.Expiry.Sub(issued)
	if lifetime <= 0 {
		return tok.Expiry
	}
	return tok.Expiry.Add(-min(skew, lifetime/2))
}

// backoff is the delay after the n-th consecutive failure (n >= 1): full
// jitter over min(maxB, minB·2^(n-1)), floored at minB.
func backoff(n int, minB, maxB time.Duration, r float64) time.Duration {
	ceil := minB
	for i := 1; i < n && ceil < maxB; i++ {
		if ceil > maxB/2 { // doubling would pass the cap (or overflow)
			ceil = maxB
			break
		}
		ceil *= 2
	}
	d := clamp01(r) * float64(ceil)
	if d >= float64(ceil) { // also keeps the float→int conversion in range
		return ceil
	}
	return max(minB, time.Duration(d))
}

// retryAfter rounds d up to whole seconds, at least one, because Retry-After
// carries whole seconds and 0 would invite an immediate retry.
func retryAfter(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

func clamp01(r float64) float64 {
	switch {
	case r < 0 || r != r: // r != r: NaN from a bad seam
		return 0
	case r > 1:
		return 1
	}
	return r
}
