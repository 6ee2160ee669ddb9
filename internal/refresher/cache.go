package refresher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// entry is one subject's state.
type entry struct {
	subject string

	// hot is a lock-free snapshot for the hit path; it is set on every
	// successful fetch and cleared by Invalidate. A reader may use it while
	// now is before refreshAt (which is never after until).
	hot atomic.Pointer[hotToken]

	mu sync.Mutex
	// tok is kept after it expires or is invalidated so that the next fetch
	// can use its refresh token.
	tok       *oauth.Token
	until     time.Time // tok is handed out before this (ExpirySkew); zero: no expiry
	invalid   bool
	refreshAt time.Time
	refreshes bool // false: no expiry, keep until invalidated
	inflight  *call
	// Failures about this subject only; binding-wide ones are the
	// circuit's business.
	failures int
	retryAt  time.Time // no fetch starts before this (backoff)
	lastErr  error
	failCode string
	// floorAt holds back a fetch due to expiry or the refresh point
	// (MinInterval); reauthAt is when Invalidate last dropped the token.
	floorAt  time.Time
	reauthAt time.Time
	// changed is closed and replaced whenever the entry's state changes, so
	// that Warm can wait for "something happened" without polling.
	changed chan struct{}
}

type hotToken struct {
	tok       *oauth.Token
	refreshAt time.Time
	refreshes bool
}

// call is one fetch in flight; done is closed when tok/err are set.
type call struct {
	done    chan struct{}
	ticket  ticket
	start   time.Time
	tok     *oauth.Token
	err     error
	retryAt time.Time // when a waiting caller may try again after err
}

func newEntry(subject string) *entry {
	return &entry{subject: subject, changed: make(chan struct{})}
}

func (e *entry) usableLocked(now time.Time) bool {
	return !e.invalid && e.tok.Valid(now) && (e.until.IsZero() || now.Before(e.until))
}

func (e *entry) signalLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Token returns a valid token for subject.
//
// It is safe for concurrent use. At most one fetch per subject is in flight
// (singleflight): N concurrent callers on an empty cache cause exactly one
// fetch and all get its token. A caller for whom a usable token is cached
// never blocks on a refresh (stale-while-revalidate): past the refresh point
// but before expiry it gets the cached token and one background refresh
// starts.
//
// Without a usable token, the caller waits for the fetch until ctx ends or,
// with Options.WaitLimit, at most that long (then *UnavailableError with
// Pending). A fetch is never cancelled by a caller's ctx. When no fetch may
// start yet (the subject or the binding is backing off, MinInterval, the
// rate limit), Token returns *UnavailableError at once instead of
// contacting the server.
func (c *Cache) Token(ctx context.Context, subject string) (*oauth.Token, error) {
	e := c.entry(subject)
	now := c.o.Now()
	if h := e.hot.Load(); h != nil && (!h.refreshes || now.Before(h.refreshAt)) {
		return h.tok, nil
	}

	e.mu.Lock()
	if e.usableLocked(now) {
		tok := e.tok
		if e.refreshes && !now.Before(e.refreshAt) {
			// Whether or not a refresh may start (backoff, the circuit,
			// the rate limit, MaxPending fetches in flight, or the Cache
			// is closed), the token is still good.
			_, _, _ = c.startFetchLocked(ctx, e, now, false)
		}
		e.mu.Unlock()
		return tok, nil
	}
	cl, _, err := c.startFetchLocked(ctx, e, now, true)
	e.mu.Unlock()
	if errors.Is(err, errStale) {
		// e was evicted meanwhile; the subject's current entry decides.
		return c.Token(ctx, subject)
	}
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, cl)
}

// startFetchLocked returns the subject's fetch in flight, or starts one if
// the subject's backoff and MinInterval, the binding's circuit and its rate
// limit, and MaxPending allow. Otherwise it returns *UnavailableError and the
// exact time a fetch may start, *PendingLimitError, errStale when e was
// evicted and replaced, or ErrClosed. waiting says a caller has no usable
// token, which lets the circuit probe early.
func (c *Cache) startFetchLocked(ctx context.Context, e *entry, now time.Time, waiting bool) (*call, time.Time, error) {
	if e.inflight != nil {
		return e.inflight, time.Time{}, nil
	}
	t, next, cause := c.admitLocked(e, now, waiting)
	if !next.IsZero() {
		return nil, next, &UnavailableError{RetryAfter: retryAfter(next.Sub(now)), Cause: cause}
	}
	if e != c.root {
		// Admitted, but no fetch starts without a pending slot. The
		// refusal says nothing about the token endpoint, so it gives the
		// probe and the rate-limit token back: subjects refused by
		// MaxPending neither probe for the circuit nor use up the calls
		// of subjects that can start.
		if err := c.subjects.pin(e); err != nil {
			c.circuit.release(t)
			c.limiter.refund()
			return nil, time.Time{}, err
		}
	}
	cl := &call{done: make(chan struct{}), ticket: t, start: now}
	prev := e.tok
	// The goroutine needs e.mu to publish its result, so it cannot finish
	// before e.inflight is set below.
	if !c.goBackground(func() { c.fetch(ctx, e, cl, prev) }) {
		c.circuit.release(t)
		if e != c.root {
			c.subjects.unpin(e)
		}
		return nil, time.Time{}, ErrClosed
	}
	e.inflight = cl
	return cl, time.Time{}, nil
}

// admitLocked says whether a fetch for e may start now (zero next) or when
// it may, and why not now.
func (c *Cache) admitLocked(e *entry, now time.Time, waiting bool) (t ticket, next time.Time, cause error) {
	if now.Before(e.retryAt) {
		return ticket{}, e.retryAt, e.lastErr
	}
	// After an Invalidate the token is known bad: the floor, meant for
	// tokens that expire too fast, does not apply.
	if !e.invalid && now.Before(e.floorAt) {
		return ticket{}, e.floorAt, errTooSoon
	}
	return c.circuit.acquire(now, waiting, c.o.ProbeInterval, c.limiter, c.o.Notice)
}

func (c *Cache) wait(ctx context.Context, cl *call) (*oauth.Token, error) {
	select {
	case <-cl.done:
		return c.result(cl)
	default:
	}
	var limit <-chan time.Time
	if c.o.WaitLimit > 0 {
		ch, stop := c.after(c.o.WaitLimit)
		defer stop()
		limit = ch
	}
	select {
	case <-cl.done:
		return c.result(cl)
	case <-ctx.Done():
		return nil, fmt.Errorf("refresher: waiting for a token fetch: %w", context.Cause(ctx))
	case <-limit:
		// The fetch goes on; the next call for this subject joins it or
		// finds its token. There is no better estimate than "soon".
		return nil, &UnavailableError{RetryAfter: time.Second, Pending: true}
	case <-c.done:
		return nil, ErrClosed
	}
}

func (c *Cache) result(cl *call) (*oauth.Token, error) {
	if cl.err == nil {
		return cl.tok, nil
	}
	return nil, &UnavailableError{RetryAfter: retryAfter(cl.retryAt.Sub(c.o.Now())), Cause: cl.err}
}

// fetch runs one fetch for e and publishes its outcome. Its context keeps the
// triggering caller's values but not its cancellation: waiters that give up
// must not take the shared fetch down with them.
func (c *Cache) fetch(parent context.Context, e *entry, cl *call, prev *oauth.Token) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), c.o.FetchTimeout)
	stop := context.AfterFunc(c.base, cancel)
	start := c.o.Now()
	// One draw serves the shared level's freshness test and the schedule.
	r := c.o.Rand()
	tok, src, err := c.get(ctx, e.subject, prev, r)
	stop()
	cancel()
	now := c.o.Now()

	var until time.Time
	if err == nil {
		until = usableUntil(tok, now, c.o.ExpirySkew)
		if !tok.Valid(now) || (!until.IsZero() && !now.Before(until)) {
			err = errUnusable
		}
	}
	if err == nil && tok.RefreshToken == "" && prev != nil && prev.RefreshToken != "" {
		// RFC 6749 §6: without a new refresh token the client keeps the old
		// one. Copy rather than modify the fetcher's token.
		cp := *tok
		cp.RefreshToken = prev.RefreshToken
		tok = &cp
	}
	ev := Event{Subject: e.subject, Duration: now.Sub(start), Source: src}
	if src == SourceShared {
		// No token call was made: the binding's call budget is untouched.
		c.limiter.refund()
	}

	e.mu.Lock()
	if err == nil {
		c.storeLocked(e, cl, tok, until, now, r, &ev)
	} else {
		c.failLocked(e, cl, err, now, &ev)
	}
	e.inflight = nil
	if e != c.root {
		c.subjects.unpin(e)
	}
	close(cl.done)
	e.signalLocked()
	e.mu.Unlock()

	if c.o.Observe != nil {
		c.o.Observe(ev)
	}
}

func (c *Cache) storeLocked(e *entry, cl *call, tok *oauth.Token, until, now time.Time, r float64, ev *Event) {
	subjectFailures := e.failures
	e.tok, e.until, e.invalid = tok, until, false
	e.failures, e.retryAt, e.lastErr, e.failCode = 0, time.Time{}, nil, ""
	if ev.Source != SourceShared {
		// The floor bounds token calls; a shared answer made none, and
		// holding back the next fetch after it would only leave callers
		// without a token once the shared one ends.
		e.floorAt = cl.start.Add(c.o.MinInterval)
	}
	e.refreshAt, e.refreshes = refreshPoint(scheduled(tok, until), now, c.o.Before, c.o.Jitter, r)
	e.hot.Store(&hotToken{tok: tok, refreshAt: e.refreshAt, refreshes: e.refreshes})
	cl.tok = tok
	ev.Result = ResultSuccess
	if !tok.Expiry.IsZero() {
		ev.TTL = tok.Expiry.Sub(now)
	}
	if n := c.circuit.success(); n > 0 {
		ev.Scope, ev.Failures, ev.Changed = ScopeBinding, n, true
	} else if subjectFailures > 0 {
		ev.Scope, ev.Failures, ev.Changed = ScopeSubject, subjectFailures, true
	}
	if e.refreshes && until.Sub(now) < c.o.MinInterval && c.o.Notice != nil && c.shortNoticed.CompareAndSwap(false, true) {
		c.o.Notice(Notice{Kind: NoticeShortLifetime, Lifetime: until.Sub(now)})
	}
}

func (c *Cache) failLocked(e *entry, cl *call, err error, now time.Time, ev *Event) {
	ev.Result, ev.Err = ResultError, err
	cl.err = err
	if c.base.Err() != nil {
		// Cancelled by Close: says nothing about the server.
		c.circuit.release(cl.ticket)
		return
	}
	if bindingWide(err) {
		cev, retry := c.circuit.failure(now, cl.ticket, err, c.backoffFor, c.o.ProbeInterval)
		ev.Scope, ev.Failures, ev.NextRetry, ev.Changed = cev.Scope, cev.Failures, cev.NextRetry, cev.Changed
		cl.retryAt = retry
		return
	}
	// The endpoint answered properly, so the binding's circuit learns
	// nothing; only this subject backs off.
	c.circuit.release(cl.ticket)
	code, _ := FailureCode(err)
	e.failures++
	e.retryAt = now.Add(max(c.backoffFor(e.failures), serverRetryAfter(err)))
	ev.Scope, ev.Failures, ev.NextRetry = ScopeSubject, e.failures, e.retryAt
	ev.Changed = e.failures == 1 || code != e.failCode
	e.lastErr, e.failCode = err, code
	cl.retryAt = e.retryAt
}

func (c *Cache) backoffFor(failures int) time.Duration {
	return backoff(failures, c.o.MinBackoff, c.o.MaxBackoff, c.o.Rand())
}

// Invalidate drops tok for subject after an upstream 401, so that the next
// Token call fetches, and reports whether replaying the request is worth
// it: true when tok was dropped now or had already been replaced or
// dropped; false when tok is kept, because this subject's token was already
// dropped within ReauthInterval: an upstream that keeps answering 401 is
// then refusing the request, not the token, and gets no more token calls.
// The comparison (same pointer or same access token) keeps a token that
// another caller already refreshed from being dropped by a late 401 for its
// predecessor. The dropped token's refresh token is still passed to the
// next fetch as prev.
func (c *Cache) Invalidate(subject string, tok *oauth.Token) bool {
	if tok == nil {
		return false
	}
	e, ok := c.peekEntry(subject)
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.tok == nil:
		return false
	case e.tok != tok && e.tok.AccessToken != tok.AccessToken, e.invalid:
		return true
	}
	now := c.o.Now()
	if !e.reauthAt.IsZero() && now.Before(e.reauthAt.Add(c.o.ReauthInterval)) {
		return false
	}
	e.invalid, e.reauthAt = true, now
	e.hot.Store(nil)
	e.signalLocked()
	return true
}

// Ready reports whether a usable token for subject is cached now. It does
// not fetch and does not create or refresh the subject's LRU entry.
func (c *Cache) Ready(subject string) bool {
	e, ok := c.peekEntry(subject)
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.usableLocked(c.o.Now())
}
