// Package refresher is the sidecar's token cache. It keeps one token per
// subject in memory only, refreshes it ahead of expiry, runs at most one fetch
// per subject at a time, backs off exponentially while the authorization
// server fails, and keeps serving a still-valid token through such failures.
//
// Subjects are the client-level token ("") plus per-user keys (a CIBA
// login_hint or a token-exchange subject). Per-user entries live in an LRU so
// that a stream of distinct users cannot grow memory without bound; the
// client-level entry is held outside the LRU and is never evicted. A per-user
// entry whose fetch is in flight (a pending CIBA authorization) leaves the LRU
// for a separate table, bounded by Options.MaxPending, until the fetch ends.
package refresher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// FetchFunc obtains a new token for subject ("" = the client-level token;
// otherwise a CIBA login_hint or a per-user subject). prev is the current
// token, if any, even when it has expired or was invalidated, so that a
// refresh_token grant can use prev.RefreshToken.
//
// The context carries the values of the caller that triggered the fetch but
// not its cancellation; it ends after Options.FetchTimeout or on Close. A
// FetchFunc must honour it: Close waits for running fetches to return.
type FetchFunc func(ctx context.Context, subject string, prev *oauth.Token) (*oauth.Token, error)

// Defaults applied by New to zero Options fields.
const (
	DefaultJitter       = 0.1
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = time.Minute
	DefaultFetchTimeout = 30 * time.Second
	DefaultMaxSubjects  = 1024
)

// Options configures a Cache. Only Fetch is required.
type Options struct {
	Fetch FetchFunc
	// Before is the refresh lead: a token is refreshed at the EARLIER of 80%
	// of its lifetime or Before ahead of its expiry. The refresh point is
	// never earlier than half the lifetime, so that a lead longer than a
	// short-lived token does not turn every request into a fetch.
	Before time.Duration
	// Jitter is the fraction of the lead applied randomly earlier, so that
	// many sidecars started together do not refresh in lockstep. 0 means
	// DefaultJitter; use a Rand that returns 0 to disable it.
	Jitter float64
	// MinBackoff and MaxBackoff bound the delay after a failed fetch. The
	// delay is exponential with full jitter, capped at MaxBackoff and never
	// below MinBackoff so that a down server is not hit at request rate.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// FetchTimeout bounds each fetch. CIBA callers pass one that covers the
	// whole polling period.
	FetchTimeout time.Duration
	// MaxSubjects bounds the per-subject entries (LRU). The "" entry does not
	// count and is never evicted.
	MaxSubjects int
	// MaxPending bounds the per-subject fetches in flight (0: unbounded).
	// For CIBA each one is an authorization waiting for a subscriber, with
	// a goroutine polling for it. A caller that would start one more gets
	// *PendingLimitError; callers for a subject already pending join its
	// fetch. The "" entry does not count. Keep it <= MaxSubjects, so that
	// every finished fetch's token finds a place in the LRU.
	MaxPending int
	// WaitLimit is how long a caller without a usable token waits for the
	// fetch. 0 waits until the caller's context ends. >0 (CIBA maxWait)
	// returns *UnavailableError{Pending: true} after that long while the fetch
	// carries on in the background; a later call returns its token.
	WaitLimit time.Duration
	// Now is the clock (default time.Now). Tests drive time through it.
	Now func() time.Time
	// Rand returns a value in [0,1) for jitter (default math/rand/v2). It is
	// called concurrently for different subjects.
	Rand func() float64
	// Observe, if set, is called after every fetch, outside any lock.
	Observe func(Event)
}

// Event reports one finished fetch, for metrics.
type Event struct {
	// Subject may identify a person (a CIBA login_hint): fine for debug
	// logs through a fingerprint, not as a metric label.
	Subject string
	// Result is "success" or "error".
	Result   string
	Duration time.Duration
	// TTL is the new token's remaining lifetime; 0 when it has no expiry or
	// the fetch failed.
	TTL time.Duration
	Err error
}

// Event results.
const (
	ResultSuccess = "success"
	ResultError   = "error"
)

// ErrClosed is returned by Token after Close when a fetch would be needed.
var ErrClosed = errors.New("refresher: cache is closed")

// errUnusable reports a fetch that "succeeded" without a token that can be
// sent; it is treated as a failure so that it backs off instead of being
// fetched again on every request.
var errUnusable = errors.New("fetch returned no usable token (empty access token or already expired)")

// UnavailableError means no usable token can be returned right now: the
// fetch failed, the subject is backing off, or (Pending) the fetch is still
// running after Options.WaitLimit. The sidecar maps it to a 503 with a
// Retry-After of RetryAfter.
type UnavailableError struct {
	// RetryAfter is the time until the next fetch attempt, rounded up to
	// whole seconds and at least 1s.
	RetryAfter time.Duration
	// Pending is set when a fetch is still running (CIBA authorization
	// pending) rather than failed.
	Pending bool
	Cause   error
}

func (e *UnavailableError) Error() string {
	switch {
	case e.Pending && e.Cause == nil:
		return fmt.Sprintf("token unavailable: fetch still pending, retry after %s", e.RetryAfter)
	case e.Pending:
		return fmt.Sprintf("token unavailable: fetch still pending, retry after %s: %v", e.RetryAfter, e.Cause)
	case e.Cause == nil:
		return fmt.Sprintf("token unavailable: retry after %s", e.RetryAfter)
	default:
		return fmt.Sprintf("token unavailable: retry after %s: %v", e.RetryAfter, e.Cause)
	}
}

// Unwrap returns the fetch error, so errors.Is/As see e.g. an OAuth error
// response such as access_denied.
func (e *UnavailableError) Unwrap() error { return e.Cause }

// Cache is the token cache. Create it with New and stop it with Close.
//
// Concurrency contract: a Cache is safe for concurrent use. At most one fetch
// per subject is in flight at any time (singleflight): N concurrent callers
// on an empty cache cause exactly one fetch and all receive its token. A
// caller for whom a usable token is cached never blocks on a refresh
// (stale-while-revalidate): past the refresh point but before expiry, Token
// returns the cached token and starts one background refresh. Returned tokens
// are shared between callers and must not be modified.
type Cache struct {
	o Options

	root     *entry
	subjects *subjectTable

	// after is the timer seam for WaitLimit and Warm; tests replace it.
	after func(d time.Duration) (<-chan time.Time, func() bool)

	// mu guards closed and the wg.Add that starts background goroutines, so
	// that Close's wg.Wait never races with a new Add.
	mu     sync.Mutex
	closed bool
	done   chan struct{}
	// base ends on Close; fetches are cancelled through it.
	base       context.Context
	cancelBase context.CancelFunc
	wg         sync.WaitGroup
}

// New validates o, applies defaults and returns a Cache.
func New(o Options) (*Cache, error) {
	if o.Fetch == nil {
		return nil, errors.New("refresher: Options.Fetch is required")
	}
	if o.Before < 0 {
		return nil, fmt.Errorf("refresher: Options.Before must not be negative, got %s", o.Before)
	}
	if o.Jitter < 0 || o.Jitter > 1 {
		return nil, fmt.Errorf("refresher: Options.Jitter must be within [0,1], got %g", o.Jitter)
	}
	if o.MinBackoff < 0 {
		return nil, fmt.Errorf("refresher: Options.MinBackoff must not be negative, got %s", o.MinBackoff)
	}
	if o.MaxBackoff < 0 {
		return nil, fmt.Errorf("refresher: Options.MaxBackoff must not be negative, got %s", o.MaxBackoff)
	}
	if o.FetchTimeout < 0 {
		return nil, fmt.Errorf("refresher: Options.FetchTimeout must not be negative, got %s", o.FetchTimeout)
	}
	if o.MaxSubjects < 0 {
		return nil, fmt.Errorf("refresher: Options.MaxSubjects must not be negative, got %d", o.MaxSubjects)
	}
	if o.MaxPending < 0 {
		return nil, fmt.Errorf("refresher: Options.MaxPending must not be negative, got %d", o.MaxPending)
	}
	if o.WaitLimit < 0 {
		return nil, fmt.Errorf("refresher: Options.WaitLimit must not be negative, got %s", o.WaitLimit)
	}
	if o.Jitter == 0 {
		o.Jitter = DefaultJitter
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("refresher: Options.MaxBackoff (%s) must not be below Options.MinBackoff (%s)", o.MaxBackoff, o.MinBackoff)
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MaxSubjects == 0 {
		o.MaxSubjects = DefaultMaxSubjects
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	subjects, err := newSubjectTable(o.MaxSubjects, o.MaxPending)
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	return &Cache{
		o:          o,
		root:       newEntry(""),
		subjects:   subjects,
		after:      realAfter,
		done:       make(chan struct{}),
		base:       base,
		cancelBase: cancel,
	}, nil
}

func realAfter(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Close stops Warm loops, releases callers waiting for a fetch (they get
// ErrClosed), cancels running fetches and waits for all of the Cache's
// goroutines to end. It is idempotent. Cached tokens are dropped with the
// Cache; none were ever written to disk.
func (c *Cache) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	c.cancelBase()
	c.mu.Unlock()
	c.wg.Wait()
}

// goBackground runs f on a goroutine that Close waits for. It reports false,
// without running f, once the Cache is closed.
func (c *Cache) goBackground(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}
