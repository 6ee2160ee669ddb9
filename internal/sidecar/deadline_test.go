package sidecar

import (
	"fmt"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// TestDeadlineQueue drives one queue through sequences of starts, finishes,
// clock steps and timer firings, and checks which operations expired, when
// the single timer was armed and for how long.
func TestDeadlineQueue(t *testing.T) {
	const d = 10 * time.Second
	// Steps: "start A", "finish A" (the wanted result follows: "finish A
	// expired" / "finish A ok"), "advance 4s", "fire" (the latest timer).
	cases := []struct {
		name  string
		steps []string
		// wantExpired lists expire calls in order; wantArms the duration
		// of every timer armed.
		wantExpired []string
		wantArms    []time.Duration
	}{
		{
			name:     "finished before its deadline",
			steps:    []string{"start A", "finish A ok", "fire"},
			wantArms: []time.Duration{d},
		},
		{
			name:        "expires when its timer fires",
			steps:       []string{"start A", "fire", "finish A expired"},
			wantExpired: []string{"A"},
			wantArms:    []time.Duration{d},
		},
		{
			name: "the next head gets the rest of its time",
			steps: []string{"start A", "advance 4s", "start B", "advance 6s", "fire", "finish A expired",
				"advance 4s", "fire", "finish B expired"},
			wantExpired: []string{"A", "B"},
			// B started 4s after A: 4s of its 10s are left when A's timer fires.
			wantArms: []time.Duration{d, 4 * time.Second},
		},
		{
			name:        "a timer for a finished head re-arms for the next",
			steps:       []string{"start A", "advance 3s", "start B", "finish A ok", "advance 7s", "fire", "finish B ok"},
			wantArms:    []time.Duration{d, 3 * time.Second},
			wantExpired: nil,
		},
		{
			name:        "everything due expires at once",
			steps:       []string{"start A", "start B", "advance 10s", "fire", "finish A expired", "finish B expired"},
			wantExpired: []string{"A", "B"},
			wantArms:    []time.Duration{d},
		},
		{
			name:        "an empty queue arms again on the next start",
			steps:       []string{"start A", "fire", "finish A expired", "start B", "finish B ok"},
			wantExpired: []string{"A"},
			wantArms:    []time.Duration{d, d},
		},
		{
			name:        "an entry is reused once finished",
			steps:       []string{"start A", "fire", "finish A expired", "start A", "finish A ok"},
			wantExpired: []string{"A"},
			wantArms:    []time.Duration{d, d},
		},
		{
			// A 401 replay reuses its request's entry: the timer still
			// pending for the first attempt must not expire the replay,
			// which gets a whole d of its own.
			name:     "a restarted entry is not expired by its first attempt's timer",
			steps:    []string{"start A", "advance 9s", "finish A ok", "start A", "advance 1s", "fire", "advance 9s", "finish A ok"},
			wantArms: []time.Duration{d, 9 * time.Second},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := testutil.NewClock(time.Unix(1000, 0))
			var arms []time.Duration
			var fires []func()
			var expired []string
			names := map[*deadlineEntry]string{}
			q := newDeadlineQueue(d, func(d time.Duration, f func()) func() bool {
				arms = append(arms, d)
				fires = append(fires, f)
				return func() bool { return false }
			}, func(e *deadlineEntry) { expired = append(expired, names[e]) })
			q.now = clock.Now
			entries := map[string]*deadlineEntry{}
			entry := func(n string) *deadlineEntry {
				if entries[n] == nil {
					entries[n] = &deadlineEntry{}
					names[entries[n]] = n
				}
				return entries[n]
			}
			for _, s := range tc.steps {
				var verb, arg, want string
				fmt.Sscan(s, &verb, &arg, &want)
				switch verb {
				case "start":
					q.start(entry(arg))
				case "finish":
					if got := q.finish(entry(arg)); got != (want == "expired") {
						t.Fatalf("%s: finish reported expired=%v", s, got)
					}
				case "advance":
					step, err := time.ParseDuration(arg)
					if err != nil {
						t.Fatal(err)
					}
					clock.Advance(step)
				case "fire":
					if len(fires) == 0 {
						t.Fatalf("%s: no timer was armed", s)
					}
					f := fires[len(fires)-1]
					fires = fires[:len(fires)-1]
					f()
				default:
					t.Fatalf("bad step %q", s)
				}
			}
			if fmt.Sprint(expired) != fmt.Sprint(tc.wantExpired) {
				t.Errorf("expired %v, want %v", expired, tc.wantExpired)
			}
			if fmt.Sprint(arms) != fmt.Sprint(tc.wantArms) {
				t.Errorf("timers armed for %v, want %v", arms, tc.wantArms)
			}
			if q.head != nil || q.tail != nil {
				t.Errorf("entries left in the queue")
			}
		})
	}
}
