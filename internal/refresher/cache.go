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
	// now is before refreshAt (which is never after expiry).
	hot atomic.Pointer[hotToken]

	mu sync.Mutex
	// tok is kept after it expires or is invalidated so that the next fetch
	// can use its refresh token.
	tok       *oauth.Token
	invalid   bool
	refreshAt time.Time
	refreshes bool // false: no expiry, keep until invalidated
	inflight  *call
	failures  int
	retryAt   time.Time // no fetch starts before this (backoff)
	lastErr   error
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
	tok     *oauth.Token
	err     error
	retryAt time.Time
}

func newEntry(subject string) *entry {
	return &entry{subject: subject, changed: make(chan struct{})}
}

func (e *entry) usableLocked(now time.Time) bool {
	return !e.invalid && e.tok.Valid(now)
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
// Pending). A fetch is never cancelled by a caller's ctx. While the subject
// is backing off after a failed fetch, Token returns *UnavailableError at
// once instead of contacting the server.
func (c *Cache) Token(ctx context.Context, subject string) (*oauth.Token, error) {
	e := c.entry(subject)
	now := c.o.Now()
	if h := e.hot.Load(); h != nil && (!h.refreshes || now.Before(h.refreshAt)) {
		return h.tok, nil
	}

	e.mu.Lock()
	if e.usableLocked(now) {
		tok := e.tok
		if e.refreshes && !now.Before(e.refreshAt) && !now.Before(e.retryAt) {
			// The token is still good whether or not a refresh can start
			// (after Close, or with MaxPending fetches in flight).
			_, _ = c.startFetchLocked(ctx, e)
		}
		e.mu.Unlock()
		return tok, nil
	}
	if e.inflight == nil && now.Before(e.retryAt) {
		err := &UnavailableError{RetryAfter: retryAfter(e.retryAt.Sub(now)), Cause: e.lastErr}
		e.mu.Unlock()
		return nil, err
	}
	cl, err := c.startFetchLocked(ctx, e)
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

// startFetchLocked returns the subject's fetch in flight, starting one if
// there is none. It fails with ErrClosed after Close, *PendingLimitError when
// MaxPending fetches are in flight, or errStale when e was evicted and
// replaced.
func (c *Cache) startFetchLocked(ctx context.Context, e *entry) (*call, error) {
	if e.inflight != nil {
		return e.inflight, nil
	}
	if e != c.root {
		if err := c.subjects.pin(e); err != nil {
			return nil, err
		}
	}
	cl := &call{done: make(chan struct{})}
	prev := e.tok
	// The goroutine needs e.mu to publish its result, so it cannot finish
	// before e.inflight is set below.
	if !c.goBackground(func() { c.fetch(ctx, e, cl, prev) }) {
		c.subjects.unpin(e)
		return nil, ErrClosed
	}
	e.inflight = cl
	return cl, nil
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
	tok, err := c.o.Fetch(ctx, e.subject, prev)
	stop()
	cancel()
	now := c.o.Now()

	if err == nil && !tok.Valid(now) {
		err = errUnusable
	}
	if err == nil && tok.RefreshToken == "" && prev != nil && prev.RefreshToken != "" {
		// RFC 6749 §6: without a new refresh token the client keeps the old
		// one. Copy rather than modify the fetcher's token.
		cp := *tok
		cp.RefreshToken = prev.RefreshToken
		tok = &cp
	}
	ev := Event{Subject: e.subject, Duration: now.Sub(start)}

	e.mu.Lock()
	if err == nil {
		e.tok, e.invalid = tok, false
		e.failures, e.retryAt, e.lastErr = 0, time.Time{}, nil
		e.refreshAt, e.refreshes = refreshPoint(tok, now, c.o.Before, c.o.Jitter, c.o.Rand())
		e.hot.Store(&hotToken{tok: tok, refreshAt: e.refreshAt, refreshes: e.refreshes})
		cl.tok = tok
		ev.Result = ResultSuccess
		if !tok.Expiry.IsZero() {
			ev.TTL = tok.Expiry.Sub(now)
		}
	} else {
		e.failures++
		e.retryAt = now.Add(backoff(e.failures, c.o.MinBackoff, c.o.MaxBackoff, c.o.Rand()))
		e.lastErr = err
		cl.err, cl.retryAt = err, e.retryAt
		ev.Result, ev.Err = ResultError, err
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

// Invalidate drops tok for subject if it is still the cached token (after an
// upstream 401), so that the next Token call fetches. The comparison (same
// pointer or same access token) keeps a token that another caller already
// refreshed from being dropped by a late 401 for its predecessor. The
// dropped token's refresh token is still passed to the next fetch as prev.
func (c *Cache) Invalidate(subject string, tok *oauth.Token) {
	if tok == nil {
		return
	}
	e, ok := c.peekEntry(subject)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tok == nil || e.invalid || (e.tok != tok && e.tok.AccessToken != tok.AccessToken) {
		return
	}
	e.invalid = true
	e.hot.Store(nil)
	e.signalLocked()
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
