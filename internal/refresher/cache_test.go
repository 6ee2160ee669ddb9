package refresher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

func TestNewValidation(t *testing.T) {
	fetch := func(context.Context, string, *oauth.Token) (*oauth.Token, error) { return nil, nil }
	tests := []struct {
		name    string
		o       Options
		wantErr string // "" = valid
	}{
		{"minimal", Options{Fetch: fetch}, ""},
		{"no fetch", Options{}, "Options.Fetch"},
		{"negative Before", Options{Fetch: fetch, Before: -1}, "Options.Before"},
		{"negative Jitter", Options{Fetch: fetch, Jitter: -0.1}, "Options.Jitter"},
		{"Jitter above 1", Options{Fetch: fetch, Jitter: 1.5}, "Options.Jitter"},
		{"negative MinBackoff", Options{Fetch: fetch, MinBackoff: -1}, "Options.MinBackoff"},
		{"negative MaxBackoff", Options{Fetch: fetch, MaxBackoff: -1}, "Options.MaxBackoff"},
		{"MaxBackoff below MinBackoff", Options{Fetch: fetch, MinBackoff: time.Minute, MaxBackoff: time.Second}, "Options.MaxBackoff"},
		{"MaxBackoff below default MinBackoff", Options{Fetch: fetch, MaxBackoff: time.Millisecond}, "Options.MaxBackoff"},
		{"negative FetchTimeout", Options{Fetch: fetch, FetchTimeout: -1}, "Options.FetchTimeout"},
		{"negative MaxSubjects", Options{Fetch: fetch, MaxSubjects: -1}, "Options.MaxSubjects"},
		{"negative WaitLimit", Options{Fetch: fetch, WaitLimit: -1}, "Options.WaitLimit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				defer c.Close()
				if c.o.Jitter != DefaultJitter || c.o.MinBackoff != DefaultMinBackoff || c.o.MaxBackoff != DefaultMaxBackoff ||
					c.o.FetchTimeout != DefaultFetchTimeout || c.o.MaxSubjects != DefaultMaxSubjects || c.o.Now == nil || c.o.Rand == nil {
					t.Errorf("defaults not applied: %+v", c.o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestColdStartHerd: many callers on an empty cache share one fetch.
func TestColdStartHerd(t *testing.T) {
	for _, subject := range []string{"", "user-1"} {
		t.Run(fmt.Sprintf("subject=%q", subject), func(t *testing.T) {
			const callers = 1000
			release := make(chan struct{})
			var fetches atomic.Int64
			want := &oauth.Token{AccessToken: "herd", Expiry: t0.Add(time.Hour), IssuedAt: t0}
			c, err := New(Options{
				Now: func() time.Time { return t0 },
				Fetch: func(ctx context.Context, _ string, _ *oauth.Token) (*oauth.Token, error) {
					fetches.Add(1)
					<-release // a broken singleflight's extra fetches are released too, and counted
					return want, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			var started, done sync.WaitGroup
			started.Add(callers)
			done.Add(callers)
			got := make([]*oauth.Token, callers)
			errs := make([]error, callers)
			for i := range callers {
				go func() {
					defer done.Done()
					started.Done()
					got[i], errs[i] = c.Token(context.Background(), subject)
				}()
			}
			started.Wait()
			close(release)
			done.Wait()

			if n := fetches.Load(); n != 1 {
				t.Fatalf("fetches = %d, want 1", n)
			}
			for i := range callers {
				if errs[i] != nil || got[i] != want {
					t.Fatalf("caller %d got %v, %v; want the one fetched token", i, got[i], errs[i])
				}
			}
		})
	}
}

// TestRefreshSchedule checks through the cache that nothing is fetched
// before the refresh point and that one background fetch starts at it.
func TestRefreshSchedule(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		before   time.Duration
		r        float64
		want     time.Duration // refresh point after issue
	}{
		{"80% of an hour", time.Hour, 30 * time.Second, 0, 48 * time.Minute},
		{"Before on a short token", 100 * time.Second, 30 * time.Second, 0, 70 * time.Second},
		{"jitter 10% of the lead", 100 * time.Second, 30 * time.Second, 1, 67 * time.Second},
		{"Before beyond lifetime capped at half", 20 * time.Second, 30 * time.Second, 0, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Before: tt.before, Rand: func() float64 { return tt.r }})
			old := tokenFor("old", t0, tt.lifetime)
			h.seed(t, "", old)

			h.clock.Set(t0.Add(tt.want - time.Nanosecond))
			if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != old {
				t.Fatalf("before the refresh point: %v, %v", tok, err)
			}
			if inflight(h.c, "") {
				t.Fatal("a refresh started before the refresh point")
			}
			h.fetch.noMore(t, 1)

			h.clock.Set(t0.Add(tt.want))
			if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != old {
				t.Fatalf("at the refresh point: %v, %v; want the cached token", tok, err)
			}
			if !inflight(h.c, "") {
				t.Fatal("no refresh started at the refresh point")
			}
			req := h.fetch.next(t)
			if req.prev != old {
				t.Errorf("fetch prev = %v, want the cached token", req.prev)
			}
			req.answer(tokenFor("new", t0.Add(tt.want), tt.lifetime), nil)
			h.event(t)
		})
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	h := newHarness(t, Options{Before: 10 * time.Second})
	old := tokenFor("old", t0, 100*time.Second) // refresh point t0+80s
	h.seed(t, "", old)

	h.clock.Set(t0.Add(90 * time.Second))
	// The fetch below is never answered until all these calls returned, so
	// returning at all proves they did not block on the refresh.
	for range 50 {
		if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != old {
			t.Fatalf("Token during refresh = %v, %v; want the cached token", tok, err)
		}
	}
	req := h.fetch.next(t)
	h.fetch.noMore(t, 2)
	if h.c.Ready("") != true {
		t.Error("Ready during a refresh of a valid token = false")
	}

	fresh := tokenFor("fresh", h.clock.Now(), 100*time.Second)
	req.answer(fresh, nil)
	if ev := h.event(t); ev.Result != ResultSuccess || ev.TTL != 100*time.Second || ev.Subject != "" {
		t.Errorf("event = %+v", ev)
	}
	if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != fresh {
		t.Fatalf("after the refresh: %v, %v; want the new token", tok, err)
	}
	h.fetch.noMore(t, 2)
}

var errDown = errors.New("token endpoint: 503")

func TestOutage(t *testing.T) {
	h := newHarness(t, Options{
		Before:     10 * time.Second,
		MinBackoff: time.Second,
		MaxBackoff: 10 * time.Second,
		// r=1: the backoff is the full exponential ceiling, so deadlines are exact.
		Rand: func() float64 { return 1 },
	})
	// Lifetime 200s, lead 40s+4s jitter: refresh point t0+156s, expiry t0+200s.
	old := tokenFor("old", t0, 200*time.Second)
	h.seed(t, "", old)

	// Each step: at `at` a Token call starts a refresh, which fails; the next
	// attempt may not start before `deadline`.
	steps := []struct{ at, deadline time.Duration }{
		{156 * time.Second, 157 * time.Second},
		{157 * time.Second, 159 * time.Second},
		{159 * time.Second, 163 * time.Second},
		{163 * time.Second, 171 * time.Second},
		{171 * time.Second, 181 * time.Second}, // 16s capped at 10s
		{181 * time.Second, 191 * time.Second},
		{191 * time.Second, 201 * time.Second}, // past expiry
	}
	fetches := int64(1)
	for i, s := range steps {
		h.clock.Set(t0.Add(s.at))
		if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != old {
			t.Fatalf("step %d: Token = %v, %v; want the still-valid token", i, tok, err)
		}
		h.fetch.next(t).answer(nil, errDown)
		fetches++
		if ev := h.event(t); ev.Result != ResultError || !errors.Is(ev.Err, errDown) {
			t.Fatalf("step %d: event = %+v", i, ev)
		}
		if got := retryAt(h.c, ""); !got.Equal(t0.Add(s.deadline)) {
			t.Fatalf("step %d: next attempt at t0+%s, want t0+%s", i, got.Sub(t0), s.deadline)
		}
		// Just before the deadline the old token is served and nothing is fetched.
		h.clock.Set(t0.Add(min(s.deadline, 200*time.Second) - time.Millisecond))
		if tok, err := h.c.Token(context.Background(), ""); err != nil || tok != old {
			t.Fatalf("step %d: Token in backoff = %v, %v; want the still-valid token", i, tok, err)
		}
		h.fetch.noMore(t, fetches)
	}

	// Expired: a caller now waits without a token, so one probe may go
	// ProbeInterval (2s) after the last failure at t0+191s, although the
	// backoff runs to t0+201s (issue 8 item 6). It fails, and the caller is
	// told to come back when the next probe may go.
	h.clock.Set(t0.Add(200 * time.Second))
	ch := h.tokenAsync(context.Background(), "")
	h.fetch.next(t).answer(nil, errDown)
	fetches++
	h.event(t)
	r := recv(t, ch)
	var ue *UnavailableError
	if !errors.As(r.err, &ue) || ue.RetryAfter != 2*time.Second || !errors.Is(r.err, errDown) {
		t.Fatalf("failed probe: err = %v, want UnavailableError{RetryAfter: 2s}", r.err)
	}
	// Until the next probe: fail fast, no fetch.
	for _, tc := range []struct {
		at, want time.Duration
	}{
		{200*time.Second + 300*time.Millisecond, 2 * time.Second},
		{202*time.Second - time.Millisecond, time.Second},
	} {
		h.clock.Set(t0.Add(tc.at))
		_, err := h.c.Token(context.Background(), "")
		if !errors.As(err, &ue) || ue.Pending || ue.RetryAfter != tc.want || !errors.Is(err, errDown) {
			t.Fatalf("at t0+%s: err = %v, want UnavailableError{RetryAfter: %s} wrapping the fetch error", tc.at, err, tc.want)
		}
		if ready := h.c.Ready(""); ready {
			t.Fatal("Ready with an expired token")
		}
	}
	h.fetch.noMore(t, fetches)

	// Recovery: the server is back for the next probe.
	h.clock.Set(t0.Add(202 * time.Second))
	ch = h.tokenAsync(context.Background(), "")
	back := tokenFor("back", h.clock.Now(), 200*time.Second)
	req := h.fetch.next(t)
	if req.prev != old {
		t.Error("the expired token was not passed as prev")
	}
	req.answer(back, nil)
	h.event(t)
	if r := recv(t, ch); r.err != nil || r.tok != back {
		t.Fatalf("after recovery: %v, %v", r.tok, r.err)
	}
	if got := retryAt(h.c, ""); !got.IsZero() {
		t.Errorf("backoff not reset by success: next attempt at %s", got)
	}
	// The next failure starts from MinBackoff again.
	h.clock.Set(t0.Add(202*time.Second + 156*time.Second))
	_, _ = h.c.Token(context.Background(), "")
	h.fetch.next(t).answer(nil, errDown)
	h.event(t)
	if got, want := retryAt(h.c, ""), h.clock.Now().Add(time.Second); !got.Equal(want) {
		t.Errorf("first failure after recovery: next attempt at %s, want %s", got, want)
	}
}

func TestUnusableFetchResultBacksOff(t *testing.T) {
	tests := []struct {
		name string
		tok  *oauth.Token
	}{
		{"nil token", nil},
		{"empty access token", &oauth.Token{Expiry: t0.Add(time.Hour)}},
		{"already expired", &oauth.Token{AccessToken: "x", Expiry: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			ch := h.tokenAsync(context.Background(), "")
			h.fetch.next(t).answer(tt.tok, nil)
			h.event(t)
			var ue *UnavailableError
			if r := recv(t, ch); !errors.As(r.err, &ue) || !errors.Is(r.err, errUnusable) {
				t.Fatalf("err = %v, want UnavailableError wrapping errUnusable", r.err)
			}
			// Backing off: no immediate second fetch.
			if _, err := h.c.Token(context.Background(), ""); !errors.As(err, &ue) {
				t.Fatalf("second call err = %v, want UnavailableError", err)
			}
			h.fetch.noMore(t, 1)
		})
	}
}

func TestNoExpiryIsKeptUntilInvalidated(t *testing.T) {
	h := newHarness(t, Options{Before: time.Minute})
	tok := tokenFor("forever", t0, 0)
	h.seed(t, "", tok)
	h.clock.Set(t0.Add(10000 * time.Hour))
	if got, err := h.c.Token(context.Background(), ""); err != nil || got != tok {
		t.Fatalf("Token = %v, %v", got, err)
	}
	if inflight(h.c, "") {
		t.Fatal("a token without expiry was refreshed")
	}
	h.fetch.noMore(t, 1)

	h.c.Invalidate("", tok)
	ch := h.tokenAsync(context.Background(), "")
	h.fetch.next(t).answer(tokenFor("next", h.clock.Now(), 0), nil)
	h.event(t)
	if r := recv(t, ch); r.err != nil || r.tok.AccessToken != "next" {
		t.Fatalf("after Invalidate: %v, %v", r.tok, r.err)
	}
}
