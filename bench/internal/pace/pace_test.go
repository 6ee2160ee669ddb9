package pace

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	start := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	cases := []struct {
		name          string
		rate          float64
		workers, i, k int
		wantFromStart time.Duration
	}{
		{"one worker, first", 100, 1, 0, 0, 0},
		{"one worker, third", 100, 1, 0, 2, 20 * ms},
		{"4 workers share 100/s: 40 ms apart", 100, 4, 0, 1, 40 * ms},
		{"4 workers, staggered by a quarter interval", 100, 4, 1, 0, 10 * ms},
		{"4 workers, last one, second slot", 100, 4, 3, 1, 70 * ms},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Schedule(tc.rate, tc.workers, tc.i, start)(tc.k).Sub(start); got != tc.wantFromStart {
				t.Errorf("got start+%s, want start+%s", got, tc.wantFromStart)
			}
		})
	}
}

func TestClosedLoopIsDueNow(t *testing.T) {
	start := time.Now().Add(-time.Hour)
	before := time.Now()
	if got := Schedule(0, 4, 2, start)(7); got.Before(before) {
		t.Errorf("closed loop: operation due at %s, before the call at %s", got, before)
	}
}
