package refresher

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// TestTinyLifetimeIsFloored: expires_in 0.001 used to cost one token call
// per request (about 600/s). MinInterval bounds it per subject, and the
// condition is reported once (issue 8 item 2).
func TestTinyLifetimeIsFloored(t *testing.T) {
	s := newSim(t, Options{}, lifetime(time.Millisecond))
	// 1000 requests over 10 simulated seconds.
	s.drive(0, 10*time.Second, 10*time.Millisecond, clientLevel)
	calls := s.fetches.Load()
	t.Logf("expires_in 1ms, a request every 10ms: %d token calls per 10 s", calls)
	if calls != 10 {
		t.Errorf("token calls in 10 s = %d, want 10 (one per MinInterval)", calls)
	}
	if n := s.noticeCount(NoticeShortLifetime); n != 1 {
		t.Errorf("short-lifetime notices = %d, want exactly 1", n)
	}
	// Between fetches the caller is told why and when to come back.
	s.clock.Set(t0.Add(9995 * time.Millisecond)) // the last fetch was at t0+9s
	_, err := s.c.Token(context.Background(), "")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, errTooSoon) || ue.RetryAfter != time.Second {
		t.Fatalf("between fetches: err = %v, want UnavailableError{RetryAfter: 1s} wrapping errTooSoon", err)
	}
}

// TestRateLimitAcrossSubjects: distinct subjects cannot run the token
// endpoint at request rate either (issue 8 item 2).
func TestRateLimitAcrossSubjects(t *testing.T) {
	s := newSim(t, Options{RateLimit: 10}, lifetime(time.Hour))
	// 1000 new subjects over 10 simulated seconds.
	served := s.drive(0, 10*time.Second, 10*time.Millisecond, func(i int) string { return fmt.Sprintf("user-%d", i) })
	calls := s.fetches.Load()
	t.Logf("1000 distinct subjects in 10 s: %d token calls (%d served)", calls, served)
	// Burst of 2×rate, then rate per second.
	if calls > 20+10*10 || calls < 10*10 {
		t.Errorf("token calls in 10 s = %d, want between 100 and 120", calls)
	}
	if n := s.noticeCount(NoticeRateLimited); n != 1 {
		t.Errorf("rate-limit notices = %d, want 1 for one sustained overload", n)
	}
	_, err := s.c.Token(context.Background(), "one-more")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, errRateLimited) {
		t.Fatalf("refused caller: err = %v, want UnavailableError wrapping errRateLimited", err)
	}
	// Cached subjects are never limited.
	if _, err := s.c.Token(context.Background(), "user-0"); err != nil {
		t.Fatalf("cached subject: %v", err)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 4)
	for i := range 4 {
		if next, _ := l.take(t0); !next.IsZero() {
			t.Fatalf("take %d within the burst refused", i)
		}
	}
	next, first := l.take(t0)
	if next != t0.Add(500*time.Millisecond) || !first {
		t.Fatalf("empty bucket: next %s first %v; want t0+500ms, true", next.Sub(t0), first)
	}
	if _, first := l.take(t0); first {
		t.Error("second refusal of the same period reported as first")
	}
	if next, _ := l.take(t0.Add(500 * time.Millisecond)); !next.IsZero() {
		t.Error("no token after refilling one")
	}
	if next, _ := l.take(t0.Add(-time.Hour)); next.IsZero() {
		t.Error("a clock stepping back refilled the bucket")
	}
	// Full again: the next refusal starts a new period.
	for range 4 {
		l.take(t0.Add(time.Hour))
	}
	if _, first := l.take(t0.Add(time.Hour)); !first {
		t.Error("refusal after a full recovery not reported as first")
	}
}

// TestInvalidateAtMostOncePerInterval: an upstream path that always answers
// 401 caused one token call per request (issue 8 item 4). Now a subject's
// token is dropped at most once per ReauthInterval; in between the 401
// belongs to the app.
func TestInvalidateAtMostOncePerInterval(t *testing.T) {
	s := newSim(t, Options{}, func(now time.Time, _ string) (*oauth.Token, error) {
		return tokenFor(fmt.Sprintf("t-%d", now.UnixNano()), now, time.Hour), nil
	})
	replays := 0
	// 50 requests over 10 s, each answered 401 by the upstream: the
	// pipeline invalidates and, when told to, replays with a new token.
	for i := range 50 {
		s.clock.Set(t0.Add(time.Duration(i) * 200 * time.Millisecond))
		tok, err := s.c.Token(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if s.c.Invalidate("", tok) {
			replays++
			if _, err := s.c.Token(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	calls := s.fetches.Load()
	t.Logf("upstream always 401, 50 requests in 10 s: %d token calls, %d replays", calls, replays)
	if calls != 2 || replays != 1 {
		t.Fatalf("token calls = %d, replays = %d; want 2 and 1", calls, replays)
	}
	// After ReauthInterval one more drop is allowed.
	s.clock.Set(t0.Add(DefaultReauthInterval + 10*time.Second))
	tok, _ := s.c.Token(context.Background(), "")
	if !s.c.Invalidate("", tok) {
		t.Fatal("no drop allowed after ReauthInterval")
	}
}
