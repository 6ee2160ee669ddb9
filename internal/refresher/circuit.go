package refresher

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// circuit is the binding-wide health of the token endpoint. Per-subject
// backoff alone lets a failing endpoint be hit once per distinct subject;
// the circuit makes every subject wait out one shared backoff after a
// failure that any subject would hit. While it is open, fetches are probes,
// at least ProbeInterval apart: at the backoff deadline, or sooner (once
// ProbeInterval has passed since the last failure or probe) when a caller is
// waiting without a usable token, and never before the server's
// Retry-After. Probes are spaced rather than serialised so that a probe
// that takes minutes (a CIBA approval) cannot hold every other subject back.
type circuit struct {
	mu        sync.Mutex
	failures  int       // consecutive binding-wide failures; 0 = closed
	retryAt   time.Time // background fetches wait for this (backoff, >= serverAt)
	serverAt  time.Time // the server's Retry-After: nothing starts before it
	lastFail  time.Time
	lastProbe time.Time // start of the latest probe
	code      string    // FailureCode of the last failure, for Changed
	lastErr   error
	// gen counts recorded outcomes. A fetch that started before the latest
	// outcome reports stale news: it neither escalates nor reopens.
	gen uint64
}

// ticket is what a fetch carries from acquire to its outcome.
type ticket struct {
	gen   uint64
	probe bool
	at    time.Time // start
}

// acquire lets a fetch start now, or says when one may (next) and why.
// The rate limiter is consulted under the circuit's lock so that a fetch it
// refuses is never recorded as a probe.
func (c *circuit) acquire(now time.Time, waiting bool, probeEvery time.Duration, lim *limiter, notice func(Notice)) (t ticket, next time.Time, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures > 0 {
		if next = c.nextLocked(waiting, probeEvery); now.Before(next) {
			return ticket{}, next, c.lastErr
		}
	}
	if next, first := lim.take(now); !next.IsZero() {
		if first && notice != nil {
			notice(Notice{Kind: NoticeRateLimited})
		}
		return ticket{}, next, errRateLimited
	}
	t = ticket{gen: c.gen, probe: c.failures > 0, at: now}
	if t.probe {
		c.lastProbe = now
	}
	return t, time.Time{}, nil
}

// nextLocked is when a fetch may start while the circuit is open.
func (c *circuit) nextLocked(waiting bool, probeEvery time.Duration) time.Time {
	next := c.retryAt
	if waiting {
		next = earliest(next, latest(c.lastFail, c.lastProbe).Add(probeEvery))
	}
	if !c.lastProbe.IsZero() {
		next = latest(next, c.lastProbe.Add(probeEvery))
	}
	return latest(next, c.serverAt)
}

// failure records a binding-wide failure at now and returns the state the
// Event reports, plus when a waiting caller may try again.
func (c *circuit) failure(now time.Time, t ticket, err error, backoffFor func(int) time.Duration, probeEvery time.Duration) (ev Event, waitingRetry time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev = Event{Scope: ScopeBinding}
	if t.gen != c.gen {
		// Stale: another outcome was recorded since this fetch began (a
		// concurrent failure already opened the circuit, or a success
		// closed it); this one changes nothing.
		if c.failures == 0 {
			return ev, time.Time{}
		}
		ev.Failures, ev.NextRetry = c.failures, c.retryAt
		return ev, c.nextLocked(true, probeEvery)
	}
	code, _ := FailureCode(err)
	ev.Changed = c.failures == 0 || code != c.code
	c.failures++
	c.gen++
	ra := serverRetryAfter(err)
	c.serverAt = latest(c.serverAt, now.Add(ra))
	c.retryAt = latest(now.Add(max(backoffFor(c.failures), ra)), c.serverAt)
	c.lastFail = now
	c.code, c.lastErr = code, err
	ev.Failures, ev.NextRetry = c.failures, c.retryAt
	return ev, c.nextLocked(true, probeEvery)
}

// success closes the circuit, whenever the fetch began: the endpoint
// answered. It returns how many failures preceded it.
func (c *circuit) success() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.failures
	c.failures, c.gen = 0, c.gen+1
	c.retryAt, c.serverAt, c.lastFail, c.lastProbe = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	c.code, c.lastErr = "", nil
	return prev
}

// release ends a probe that told nothing about the endpoint's health (it
// never started, was cancelled, or got an answer about its subject only),
// so the next waiting caller may probe at once.
func (c *circuit) release(t ticket) {
	if !t.probe {
		return
	}
	c.mu.Lock()
	if c.lastProbe.Equal(t.at) {
		c.lastProbe = time.Time{}
	}
	c.mu.Unlock()
}

// bindingWide reports whether err is a failure every subject would hit, as
// opposed to one about this subject (a denied CIBA request, a rejected
// subject token, a malformed login_hint), which must not block the others.
func bindingWide(err error) bool {
	if errors.Is(err, oauth.ErrInvalidLoginHint) {
		return false
	}
	var oe *oauth.Error
	if errors.As(err, &oe) {
		switch oe.Code {
		case "authorization_pending", "slow_down":
			return false
		case "invalid_client", "unauthorized_client":
			return true // the client itself is refused, whoever the subject
		}
		return oe.Retryable()
	}
	// Transport failures, timeouts, unusable or malformed answers.
	return true
}

// serverRetryAfter is the server's Retry-After carried by err, capped.
func serverRetryAfter(err error) time.Duration {
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.RetryAfter > 0 {
		return min(oe.RetryAfter, MaxServerRetryAfter)
	}
	return 0
}

// FailureCode names a fetch failure for logs and for telling one failure
// state from the next: the OAuth error code and HTTP status when the server
// sent one, otherwise a short kind. It never includes server text.
func FailureCode(err error) (code string, status int) {
	var oe *oauth.Error
	var ne net.Error
	var coded interface{ FailureCode() string }
	switch {
	case err == nil:
		return "", 0
	case errors.As(err, &oe):
		return oe.Code, oe.StatusCode
	case errors.As(err, &coded):
		// A shared level's refusal names itself.
		return coded.FailureCode(), 0
	case errors.Is(err, errUnusable):
		return "unusable_token", 0
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", 0
	case errors.As(err, &ne):
		return "network_error", 0
	default:
		return "fetch_error", 0
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
