package refresher

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// TestRetryAfterIsALowerBound: a 429/503 Retry-After holds every fetch
// back, probes included, up to MaxServerRetryAfter (issue 8 item 3). The
// original code retried after its own 1 s backoff.
func TestRetryAfterIsALowerBound(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter time.Duration
		wantNext   time.Duration // first attempt after the failure at t0
	}{
		{"30s", 30 * time.Second, 30 * time.Second},
		{"capped at MaxServerRetryAfter", 24 * time.Hour, MaxServerRetryAfter},
		{"absent: own backoff (1s)", 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var up atomic.Bool
			s := newSim(t, Options{}, func(now time.Time, _ string) (*oauth.Token, error) {
				if up.Load() {
					return tokenFor("back", now, time.Hour), nil
				}
				return nil, &oauth.Error{StatusCode: 429, Code: "http_429", RetryAfter: tt.retryAfter}
			})
			// Waiting callers every 100ms for the whole window.
			s.drive(0, tt.wantNext, 100*time.Millisecond, clientLevel)
			if n := s.fetches.Load(); n != 1 {
				t.Fatalf("token calls before Retry-After ran out = %d, want 1", n)
			}
			if tt.retryAfter == 30*time.Second {
				t.Logf("429 with Retry-After 30: %d token call(s) in the first 10 s", s.fetches.Load())
			}
			_, err := s.c.Token(context.Background(), "")
			var ue *UnavailableError
			if !errors.As(err, &ue) || ue.RetryAfter < time.Second {
				t.Fatalf("in Retry-After: err = %v", err)
			}
			up.Store(true)
			s.clock.Set(t0.Add(tt.wantNext))
			if _, err := s.c.Token(context.Background(), ""); err != nil {
				t.Fatalf("at Retry-After: %v", err)
			}
			if n := s.fetches.Load(); n != 2 {
				t.Fatalf("token calls = %d, want the second one at Retry-After", n)
			}
		})
	}
}

// TestSubjectRetryAfter: a Retry-After on a failure about one subject is a
// lower bound for that subject's backoff.
func TestSubjectRetryAfter(t *testing.T) {
	h := newHarness(t, Options{})
	ch := h.tokenAsync(context.Background(), "alice")
	h.fetch.next(t).answer(nil, &oauth.Error{StatusCode: 400, Code: "invalid_grant", RetryAfter: 20 * time.Second})
	h.event(t)
	recv(t, ch)
	if got := retryAt(h.c, "alice"); !got.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("alice's next attempt at t0+%s, want t0+20s", got.Sub(t0))
	}
}

// TestCircuitAcrossSubjects: with a failing token endpoint, 200 distinct
// subjects made 200 token calls in about 4 s (issue 8 item 5). Failures any
// subject would hit now back off the whole binding; failures about one
// subject do not hold the others back.
func TestCircuitAcrossSubjects(t *testing.T) {
	users := func(i int) string { return fmt.Sprintf("user-%d", i) }
	t.Run("failing endpoint", func(t *testing.T) {
		s := newSim(t, Options{}, func(time.Time, string) (*oauth.Token, error) {
			return nil, &oauth.Error{StatusCode: 503, Code: "http_503"}
		})
		// 200 subjects in 4 s, then the same rate up to 10 s.
		s.drive(0, 4*time.Second, 20*time.Millisecond, users)
		in4 := s.fetches.Load()
		s.drive(4*time.Second, 10*time.Second, 20*time.Millisecond, func(i int) string { return users(200 + i) })
		in10 := s.fetches.Load()
		t.Logf("failing endpoint, 50 new subjects/s: %d token calls in 4 s, %d per 10 s", in4, in10)
		// Failures at 0, 1 (1s backoff) and 3 s, then a probe every 2 s.
		if in4 != 3 || in10 != 6 {
			t.Errorf("token calls = %d in 4 s, %d in 10 s; want 3 and 6", in4, in10)
		}
	})
	t.Run("subject failures stay with their subject", func(t *testing.T) {
		s := newSim(t, Options{}, func(now time.Time, subject string) (*oauth.Token, error) {
			if subject == "denied" {
				return nil, &oauth.Error{StatusCode: 400, Code: "access_denied"}
			}
			return tokenFor(subject, now, time.Hour), nil
		})
		if _, err := s.c.Token(context.Background(), "denied"); err == nil {
			t.Fatal("denied subject got a token")
		}
		if _, err := s.c.Token(context.Background(), "alice"); err != nil {
			t.Fatalf("another subject was held back by a subject failure: %v", err)
		}
		if _, err := s.c.Token(context.Background(), "denied"); err == nil || s.fetches.Load() != 2 {
			t.Fatalf("the denied subject is not backing off: err %v, %d calls", err, s.fetches.Load())
		}
	})
}

func TestBindingWide(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&oauth.Error{StatusCode: 503, Code: "http_503"}, true},
		{&oauth.Error{StatusCode: 429, Code: "http_429"}, true},
		{&oauth.Error{StatusCode: 400, Code: "temporarily_unavailable"}, true},
		{&oauth.Error{StatusCode: 401, Code: "invalid_client"}, true},
		{&oauth.Error{StatusCode: 400, Code: "unauthorized_client"}, true},
		{&oauth.Error{StatusCode: 400, Code: "invalid_grant"}, false},
		{&oauth.Error{StatusCode: 403, Code: "access_denied"}, false},
		{&oauth.Error{StatusCode: 400, Code: "unknown_user_id"}, false},
		{&oauth.Error{Code: "expired_token"}, false},
		{&oauth.Error{StatusCode: 400, Code: "authorization_pending"}, false},
		{&oauth.Error{StatusCode: 400, Code: "slow_down"}, false},
		{fmt.Errorf("oauth: ciba: %w", oauth.ErrInvalidLoginHint), false},
		{errUnusable, true},
		{errDown, true},
		{context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		if got := bindingWide(tt.err); got != tt.want {
			t.Errorf("bindingWide(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestRecoveryFollowsServer: after a long outage the backoff reached its
// 60 s cap, and requests kept failing for up to that long after the server
// came back (issue 8 item 6). Waiting callers now probe every
// ProbeInterval; the background (no caller waiting) still keeps to the
// backoff.
func TestRecoveryFollowsServer(t *testing.T) {
	var up atomic.Bool
	s := newSim(t, Options{Before: time.Nanosecond}, func(now time.Time, _ string) (*oauth.Token, error) {
		if up.Load() {
			return tokenFor("back", now, time.Hour), nil
		}
		return nil, &oauth.Error{StatusCode: 503, Code: "http_503"}
	})
	// Five minutes of outage: the backoff reaches its 60 s cap.
	s.drive(0, 5*time.Minute, 100*time.Millisecond, clientLevel)
	outage := s.fetches.Load()
	if got := retryAt(s.c, "").Sub(s.clock.Now()); got < 30*time.Second {
		t.Fatalf("backoff after 5 min of outage is %s; the test needs it near the cap", got)
	}
	// The server is back 50 ms after the last failed probe.
	back := s.clock.Now().Sub(t0) + 50*time.Millisecond
	up.Store(true)
	var recovered time.Duration
	for at := back; at < back+2*time.Minute; at += 100 * time.Millisecond {
		s.clock.Set(t0.Add(at))
		if _, err := s.c.Token(context.Background(), ""); err == nil {
			recovered = at - back
			break
		}
	}
	t.Logf("outage: %d token calls in 5 min (%.1f per 10 s); recovery %s after the server came back",
		outage, float64(outage)/30, recovered)
	if recovered == 0 || recovered > DefaultProbeInterval {
		t.Fatalf("recovered %s after the server came back, want within ProbeInterval (%s)", recovered, DefaultProbeInterval)
	}
	if perTen := float64(outage) / 30; perTen > 5.5 {
		t.Errorf("%.1f token calls per 10 s during the outage, want at most one probe per 2 s", perTen)
	}
}

// TestBackgroundKeepsBackoff: with no caller waiting (a still-valid token
// past its refresh point), the circuit does not probe early.
func TestBackgroundKeepsBackoff(t *testing.T) {
	h := newHarness(t, Options{Before: 10 * time.Second, MaxBackoff: time.Minute, Rand: func() float64 { return 1 }})
	tok := tokenFor("long", t0, time.Hour)
	h.seed(t, "", tok)
	at := 46*time.Minute + 48*time.Second // the refresh point: lead 12 min + 10% jitter
	for i, gap := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute} {
		h.clock.Set(t0.Add(at))
		if got, err := h.c.Token(context.Background(), ""); err != nil || got != tok {
			t.Fatalf("step %d: %v, %v", i, got, err)
		}
		h.fetch.next(t).answer(nil, errDown)
		h.event(t)
		if got := retryAt(h.c, ""); !got.Equal(t0.Add(at + gap)) {
			t.Fatalf("step %d: next attempt at t0+%s, want t0+%s", i, got.Sub(t0), at+gap)
		}
		// Just before the backoff deadline nothing starts, even when that
		// is well past ProbeInterval: nobody is waiting.
		h.clock.Set(t0.Add(at + gap - time.Nanosecond))
		if got, err := h.c.Token(context.Background(), ""); err != nil || got != tok {
			t.Fatalf("step %d: %v, %v", i, got, err)
		}
		if inflight(h.c, "") {
			t.Fatalf("step %d: a background refresh started before the backoff deadline", i)
		}
		at += gap
	}
	h.fetch.noMore(t, 8)
}

// TestEventsReportStateChanges: the sidecar logs one line per Changed
// event, so a failing endpoint is reported once, not per request or per
// fetch (issue 8 item 20).
func TestEventsReportStateChanges(t *testing.T) {
	var script []error
	s := newSim(t, Options{}, func(now time.Time, _ string) (*oauth.Token, error) {
		err := script[0]
		script = script[1:]
		if err != nil {
			return nil, err
		}
		return tokenFor("ok", now, time.Hour), nil
	})
	e503 := &oauth.Error{StatusCode: 503, Code: "http_503"}
	e429 := &oauth.Error{StatusCode: 429, Code: "http_429", RetryAfter: 5 * time.Second}
	script = []error{e503, e503, e429, nil}
	steps := []struct {
		at       time.Duration
		scope    string
		failures int
		changed  bool
		next     time.Duration // NextRetry - t0; -1: none
	}{
		{0, ScopeBinding, 1, true, time.Second},
		{time.Second, ScopeBinding, 2, false, 3 * time.Second},
		{3 * time.Second, ScopeBinding, 3, true, 8 * time.Second}, // a new code; Retry-After 5s beats the 4s backoff
		{8 * time.Second, ScopeBinding, 3, true, -1},              // recovery after 3 failures
	}
	for i, st := range steps {
		s.clock.Set(t0.Add(st.at))
		_, _ = s.c.Token(context.Background(), "")
		s.mu.Lock()
		if len(s.events) != i+1 {
			s.mu.Unlock()
			t.Fatalf("step %d: %d events, want %d", i, len(s.events), i+1)
		}
		ev := s.events[i]
		s.mu.Unlock()
		if ev.Scope != st.scope || ev.Failures != st.failures || ev.Changed != st.changed {
			t.Errorf("step %d: event scope %q failures %d changed %v; want %q %d %v", i, ev.Scope, ev.Failures, ev.Changed, st.scope, st.failures, st.changed)
		}
		if st.next >= 0 && !ev.NextRetry.Equal(t0.Add(st.next)) {
			t.Errorf("step %d: NextRetry t0+%s, want t0+%s", i, ev.NextRetry.Sub(t0), st.next)
		}
	}
}

func TestFailureCode(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{&oauth.Error{StatusCode: 401, Code: "invalid_client"}, "invalid_client", 401},
		{fmt.Errorf("wrapped: %w", &oauth.Error{StatusCode: 503, Code: "http_503"}), "http_503", 503},
		{errUnusable, "unusable_token", 0},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout", 0},
		{errDown, "fetch_error", 0},
		{nil, "", 0},
	}
	for _, tt := range tests {
		if code, status := FailureCode(tt.err); code != tt.code || status != tt.status {
			t.Errorf("FailureCode(%v) = %q, %d; want %q, %d", tt.err, code, status, tt.code, tt.status)
		}
	}
}

// TestSlowProbeDoesNotHoldOthersBack: a probe may take minutes (a CIBA
// approval); other waiting subjects may probe again ProbeInterval after
// it started, while probes stay that far apart.
func TestSlowProbeDoesNotHoldOthersBack(t *testing.T) {
	h := newHarness(t, Options{Rand: func() float64 { return 1 }, MaxBackoff: time.Minute})
	// Open the circuit, then let the backoff grow beyond the probe interval.
	for i, at := range []time.Duration{0, time.Second, 3 * time.Second, 5 * time.Second} {
		h.clock.Set(t0.Add(at))
		ch := h.tokenAsync(context.Background(), fmt.Sprintf("opener-%d", i))
		h.fetch.next(t).answer(nil, errDown)
		h.event(t)
		recv(t, ch)
	}
	// Backoff to t0+13s; a waiting caller may probe from t0+7s.
	h.clock.Set(t0.Add(7 * time.Second))
	slow := h.tokenAsync(context.Background(), "slow")
	probe := h.fetch.next(t) // left running, like a CIBA approval

	h.clock.Set(t0.Add(9*time.Second - time.Nanosecond))
	_, err := h.c.Token(context.Background(), "other")
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.RetryAfter != time.Second {
		t.Fatalf("inside the probe spacing: err = %v, want UnavailableError{RetryAfter: 1s}", err)
	}
	h.clock.Set(t0.Add(9 * time.Second))
	other := h.tokenAsync(context.Background(), "other")
	second := h.fetch.next(t)
	if second.subject != "other" {
		t.Fatalf("second probe for %q, want other", second.subject)
	}
	second.answer(tokenFor("other", h.clock.Now(), time.Hour), nil)
	if ev := h.event(t); ev.Scope != ScopeBinding || !ev.Changed {
		t.Errorf("recovery event = %+v", ev)
	}
	if r := recv(t, other); r.err != nil {
		t.Fatalf("other: %v", r.err)
	}
	probe.answer(tokenFor("slow", h.clock.Now(), time.Hour), nil)
	h.event(t)
	if r := recv(t, slow); r.err != nil {
		t.Fatalf("slow: %v", r.err)
	}
	h.fetch.noMore(t, 6)
}

// TestCircuitStaleOutcomes: fetches that were already running when an
// outcome was recorded neither escalate the backoff nor reopen the circuit,
// so a herd of concurrent failures counts (and is logged) once.
func TestCircuitStaleOutcomes(t *testing.T) {
	e503 := &oauth.Error{StatusCode: 503, Code: "http_503"}
	h := newHarness(t, Options{Rand: func() float64 { return 1 }})
	a := h.tokenAsync(context.Background(), "a")
	ra := h.fetch.next(t)
	b := h.tokenAsync(context.Background(), "b")
	rb := h.fetch.next(t)
	c := h.tokenAsync(context.Background(), "c")
	rc := h.fetch.next(t)

	ra.answer(nil, e503)
	if ev := h.event(t); !ev.Changed || ev.Failures != 1 {
		t.Fatalf("first failure: %+v", ev)
	}
	rb.answer(nil, e503)
	if ev := h.event(t); ev.Changed || ev.Failures != 1 {
		t.Fatalf("concurrent failure: %+v; want no change and one failure counted", ev)
	}
	if got := retryAt(h.c, ""); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("backoff escalated by a stale failure: next attempt at t0+%s", got.Sub(t0))
	}
	rc.answer(tokenFor("c", t0, time.Hour), nil)
	if ev := h.event(t); !ev.Changed || ev.Scope != ScopeBinding || ev.Failures != 1 {
		t.Fatalf("success: %+v; want the recovery", ev)
	}
	for _, ch := range []<-chan result{a, b, c} {
		recv(t, ch)
	}
	// Closed again: a new subject fetches at once.
	d := h.tokenAsync(context.Background(), "d")
	h.fetch.next(t).answer(tokenFor("d", t0, time.Hour), nil)
	h.event(t)
	if r := recv(t, d); r.err != nil {
		t.Fatal(r.err)
	}
}
