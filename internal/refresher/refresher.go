// Package refresher is the sidecar's token cache. It keeps one token per
// subject in memory only, refreshes it ahead of expiry, runs at most one fetch
// per subject at a time, backs off exponentially while the authorization
// server fails, and keeps serving a still-valid token through such failures.
//
// It also protects the token endpoint: a token stops being handed out a skew
// before it expires, fetches per subject have a floor interval and fetches
// per binding a rate limit, failures that any subject would hit open one
// binding-wide circuit (with a half-open probe for waiting callers), the
// server's Retry-After is a lower bound, and an upstream 401 drops a token
// at most once per ReauthInterval.
//
// Subjects are the client-level token ("") plus per-user keys (a CIBA
// login_hint or a token-exchange subject). Per-user entries live in an LRU so
// that a stream of distinct users cannot grow memory without bound; the
// client-level entry is held outside the LRU and is never evicted. A per-user
// entry whose fetch is in flight (a pending CIBA authorization) leaves the LRU
// for a separate table, bounded by Options.MaxPending, until the fetch ends.
//
// An optional SharedLevel (Options.Shared) sits behind the local cache: a
// local hit never reaches it, and every fetch goes through it, so replicas
// sharing it make one token call per refresh between them.
package refresher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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
	// DefaultMinInterval lets a token with a tiny lifetime cost at most one
	// fetch a second per subject.
	DefaultMinInterval = time.Second
	// DefaultRateLimit bounds fetch starts per binding; bursts may reach
	// twice it.
	DefaultRateLimit = 10
	// DefaultProbeInterval keeps recovery within about two seconds of the
	// server's while callers wait, whatever the backoff has grown to.
	DefaultProbeInterval = 2 * time.Second
	// DefaultReauthInterval: an upstream that answers 401 to every request
	// costs one token call per subject per 30 s, not one per request.
	DefaultReauthInterval = 30 * time.Second
	// MaxServerRetryAfter caps how long a token endpoint's Retry-After can
	// stop all fetching: longer values are more likely a misconfigured
	// gateway than a real maintenance window.
	MaxServerRetryAfter = 5 * time.Minute
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
	// ExpirySkew: a token is not handed out once it is within this long of
	// its expiry (capped at half its lifetime, so a short-lived token is
	// still usable), so that it never reaches the resource server expired
	// through clock differences or request latency. 0: none.
	ExpirySkew time.Duration
	// MinInterval is the least time between the starts of two fetches for
	// one subject that are due to expiry or the refresh point, so that a
	// token with a tiny lifetime cannot make a loop. A fetch after an
	// Invalidate is not held back by it. 0 means DefaultMinInterval.
	MinInterval time.Duration
	// RateLimit bounds fetch starts per second across all subjects, with
	// bursts of up to twice as many. A caller without a usable token that
	// it refuses gets *UnavailableError at once. 0 means DefaultRateLimit.
	RateLimit float64
	// MinBackoff and MaxBackoff bound the delay after a failed fetch. The
	// delay is exponential with full jitter, capped at MaxBackoff and never
	// below MinBackoff so that a down server is not hit at request rate.
	// Failures that any subject would hit (see Event.Scope) back off for
	// the whole Cache; others back off for their subject only. A server's
	// Retry-After (up to MaxServerRetryAfter) is a lower bound for both.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// ProbeInterval: while the binding-wide backoff runs, a caller without
	// a usable token may start one probe fetch this long after the last
	// failure, even when the backoff is longer, so that recovery follows
	// the server while requests wait. Never before the server's
	// Retry-After; one probe at a time. 0 means DefaultProbeInterval.
	ProbeInterval time.Duration
	// ReauthInterval: once Invalidate (an upstream 401) dropped a
	// subject's token, it refuses to drop that subject's token again for
	// this long. 0 means DefaultReauthInterval.
	ReauthInterval time.Duration
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
	// Notice, if set, reports a condition worth one log line (see Notice).
	// It is called with locks held and must not call back into the Cache.
	Notice func(Notice)
	// Shared, if set, is the second cache level (see SharedLevel): every
	// fetch goes through it, with Fetch as the way to obtain a token.
	Shared SharedLevel
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
	// Source is SourceFetch when this replica called the token endpoint,
	// SourceShared when the shared level answered without a call.
	Source Source

	// Scope is the failure state the fetch reports on: ScopeBinding for
	// failures any subject would hit (the endpoint is down or rate limits,
	// the client is rejected, the answer is unusable), which drive the
	// binding-wide backoff; ScopeSubject for failures about one subject
	// (invalid_grant, access_denied, ...). On a success it names the state
	// that recovered, if any.
	Scope string
	// Failures counts consecutive failures in Scope, this one included; on
	// a recovery, the failures that preceded it.
	Failures int
	// NextRetry is, after a failure, when the next fetch in Scope may
	// start without a waiting caller (backoff, at least the Retry-After).
	NextRetry time.Time
	// Changed marks a change of state worth one log line: the first
	// failure, an error code different from the previous failure's, or the
	// first success after failures.
	Changed bool
}

// Event results and scopes.
const (
	ResultSuccess = "success"
	ResultError   = "error"
	ScopeBinding  = "binding"
	ScopeSubject  = "subject"
)

// Notice is a protective limit taking effect, reported once per occurrence
// rather than once per request.
type Notice struct {
	Kind string
	// Lifetime is the usable lifetime of the token (NoticeShortLifetime).
	Lifetime time.Duration
}

// Notice kinds.
const (
	// NoticeShortLifetime: a token's usable lifetime is below MinInterval,
	// so callers will get *UnavailableError between fetches. Reported once
	// per Cache.
	NoticeShortLifetime = "short_lifetime"
	// NoticeRateLimited: RateLimit refused a fetch. Reported again only
	// after the limiter has fully recovered.
	NoticeRateLimited = "rate_limited"
)

// ErrClosed is returned by Token after Close when a fetch would be needed.
var ErrClosed = errors.New("refresher: cache is closed")

// errUnusable reports a fetch that "succeeded" without a token that can be
// sent; it is treated as a failure so that it backs off instead of being
// fetched again on every request.
var errUnusable = errors.New("fetch returned no usable token (empty access token, or expired on arrival: check expires_in, the JWT exp and the clocks)")

// errRateLimited and errTooSoon explain an UnavailableError that no failed
// fetch caused.
var (
	errRateLimited = errors.New("token-call rate limit of the binding reached")
	errTooSoon     = errors.New("the token's lifetime is shorter than the minimum refresh interval")
)

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
	// circuit and limiter are binding-wide: one Cache serves one binding.
	circuit *circuit
	limiter *limiter
	// shortNoticed makes NoticeShortLifetime a one-off.
	shortNoticed atomic.Bool

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
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Before", o.Before}, {"ExpirySkew", o.ExpirySkew}, {"MinInterval", o.MinInterval},
		{"MinBackoff", o.MinBackoff}, {"MaxBackoff", o.MaxBackoff}, {"ProbeInterval", o.ProbeInterval},
		{"FetchTimeout", o.FetchTimeout}, {"WaitLimit", o.WaitLimit}, {"ReauthInterval", o.ReauthInterval},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("refresher: Options.%s must not be negative, got %s", d.name, d.v)
		}
	}
	if o.Jitter < 0 || o.Jitter > 1 {
		return nil, fmt.Errorf("refresher: Options.Jitter must be within [0,1], got %g", o.Jitter)
	}
	if o.MaxSubjects < 0 {
		return nil, fmt.Errorf("refresher: Options.MaxSubjects must not be negative, got %d", o.MaxSubjects)
	}
	if o.MaxPending < 0 {
		return nil, fmt.Errorf("refresher: Options.MaxPending must not be negative, got %d", o.MaxPending)
	}
	if o.RateLimit < 0 || o.RateLimit != o.RateLimit {
		return nil, fmt.Errorf("refresher: Options.RateLimit must be a positive number of calls per second, got %g", o.RateLimit)
	}
	orDefault(&o.Jitter, DefaultJitter)
	orDefault(&o.MinBackoff, DefaultMinBackoff)
	orDefault(&o.MaxBackoff, DefaultMaxBackoff)
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("refresher: Options.MaxBackoff (%s) must not be below Options.MinBackoff (%s)", o.MaxBackoff, o.MinBackoff)
	}
	orDefault(&o.FetchTimeout, DefaultFetchTimeout)
	orDefault(&o.MaxSubjects, DefaultMaxSubjects)
	orDefault(&o.MinInterval, DefaultMinInterval)
	orDefault(&o.RateLimit, DefaultRateLimit)
	orDefault(&o.ProbeInterval, DefaultProbeInterval)
	orDefault(&o.ReauthInterval, DefaultReauthInterval)
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
		circuit:    &circuit{},
		limiter:    newLimiter(o.RateLimit, 2*o.RateLimit),
		after:      realAfter,
		done:       make(chan struct{}),
		base:       base,
		cancelBase: cancel,
	}, nil
}

// orDefault replaces the zero value: every Options field documents 0 as
// "the default".
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
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
