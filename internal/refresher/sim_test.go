package refresher

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// sim drives a Cache whose fetches answer at once, on a simulated clock, so
// that token calls over simulated seconds can be counted exactly.
type sim struct {
	c       *Cache
	clock   *testutil.Clock
	fetches atomic.Int64
	mu      sync.Mutex
	notices []Notice
	events  []Event
}

// answer decides one fetch at the simulated time now.
type answer func(now time.Time, subject string) (*oauth.Token, error)

func newSim(t *testing.T, o Options, ans answer) *sim {
	t.Helper()
	s := &sim{clock: newClock()}
	o.Now = s.clock.Now
	if o.Rand == nil {
		o.Rand = func() float64 { return 1 } // backoff at its ceiling: exact deadlines
	}
	o.Fetch = func(_ context.Context, subject string, _ *oauth.Token) (*oauth.Token, error) {
		s.fetches.Add(1)
		return ans(s.clock.Now(), subject)
	}
	o.Notice = func(n Notice) { s.mu.Lock(); s.notices = append(s.notices, n); s.mu.Unlock() }
	o.Observe = func(ev Event) { s.mu.Lock(); s.events = append(s.events, ev); s.mu.Unlock() }
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	s.c = c
	return s
}

// drive calls Token every step from `from` until `to` (exclusive) of
// simulated time, subject(i) naming the caller's subject, and returns how
// many calls got a token.
func (s *sim) drive(from, to, step time.Duration, subject func(i int) string) (ok int) {
	i := 0
	for at := from; at < to; at += step {
		s.clock.Set(t0.Add(at))
		if _, err := s.c.Token(context.Background(), subject(i)); err == nil {
			ok++
		}
		i++
	}
	return ok
}

func (s *sim) noticeCount(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.notices {
		if x.Kind == kind {
			n++
		}
	}
	return n
}

func clientLevel(int) string { return "" }

func lifetime(d time.Duration) answer {
	return func(now time.Time, subject string) (*oauth.Token, error) {
		return tokenFor("t-"+subject, now, d), nil
	}
}
