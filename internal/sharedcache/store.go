// Package sharedcache is a binding's optional second-level token cache on a
// Redis-protocol server (Redis or Valkey), shared by every replica of a
// workload. It owns what replicas must agree on: access tokens per subject,
// the current refresh token of a rotating grant, and pending CIBA
// authorizations, plus a cross-replica single-flight lock whose fencing
// token keeps a stalled holder from overwriting a newer result (Fill), and
// the rules that keep a rotating refresh token from being sent twice
// through store outages and data loss (Chain).
//
// Everything it writes is sealed with AES-256-GCM under the binding's
// keyring and bound (AAD) to the store key it is written under. Store key
// names are HMACs of the namespace, binding, client id, kind and subject, so
// neither a token nor a subject (a phone number) is ever in the store in
// clear.
//
// Every call is bounded by Options.Timeout and fails with an error that
// matches ErrUnavailable, so the caller can fall back to its local cache and
// its own fetch. The client reconnects by itself once the server is back.
package sharedcache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultTimeout = config.DefaultSharedCacheTimeout
	// DefaultLockTTL bounds how long a crashed holder blocks the other
	// replicas. A live holder extends its lock while it fetches, so the TTL
	// does not bound the fetch itself.
	DefaultLockTTL = 10 * time.Second
	// DefaultRefreshTokenTTL drops a refresh token nobody has used for this
	// long, so per-subject entries cannot pile up forever. A grant in use is
	// rewritten on every refresh.
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	// DefaultPollInterval is the longest wait between two looks at the store
	// while another replica holds the lock. Polls start faster and back off
	// to it.
	DefaultPollInterval = 100 * time.Millisecond
	// DefaultClaimTTL bounds how long the other replicas wait for a holder
	// that may hold the newest refresh token without having written it (it
	// sent the old one and was cut off from the store, or the store lost
	// its data). Past it they go on with the newest refresh token the store
	// has: if that holder died with the only good one, the grant needs a new
	// consent whatever they do. It is far longer than a token call.
	DefaultClaimTTL = 2 * time.Minute
	// DefaultSettle is how long a replica that finds the store lost its
	// data waits before it refreshes, so that replicas holding a refresh
	// token the store no longer has write it back first.
	DefaultSettle = 2 * time.Second
	// DefaultWriteBackInterval paces a replica's retries of a refresh token
	// it could not write; far below DefaultSettle, so that after a data loss
	// it is written back before the others go on.
	DefaultWriteBackInterval = 250 * time.Millisecond
)

// Options configures a Store. Addr, Keyring and Scope are required.
type Options struct {
	// Addr is host:port of the Redis or Valkey server.
	Addr string
	// Credentials returns the ACL user (may be empty) and password; it is
	// called on every new connection so that a rotated password file takes
	// effect without a restart. Nil means no AUTH.
	Credentials func() (username, password string, err error)
	// TLS, when set, is used for every connection.
	TLS *tls.Config
	// KeyPrefix starts every store key. Default DefaultKeyPrefix.
	KeyPrefix string
	Keyring   *Keyring
	Scope     Scope
	// Timeout bounds every store call, including dialling. Default
	// DefaultTimeout.
	Timeout time.Duration
	// LockTTL is the lock's lifetime without an extension. Default
	// DefaultLockTTL.
	LockTTL time.Duration
	// RefreshTokenTTL is the lifetime of a refresh-token entry. Default
	// DefaultRefreshTokenTTL.
	RefreshTokenTTL time.Duration
	// PollInterval caps the backoff of a replica waiting for the lock
	// holder's result. Default DefaultPollInterval.
	PollInterval time.Duration
	// ClaimTTL, Settle and WriteBackInterval pace a rotating refresh token
	// across faults (see Chain). Defaults DefaultClaimTTL, DefaultSettle,
	// DefaultWriteBackInterval.
	ClaimTTL          time.Duration
	Settle            time.Duration
	WriteBackInterval time.Duration
	// Logger receives one line per change of reachability. Default no-op.
	Logger *zap.Logger
	// Metrics receives counters. Default no-op.
	Metrics Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnStateChange, if set, is called (outside any lock, on the calling
	// goroutine) when the store becomes unreachable (up=false) or reachable
	// again (up=true); a caller resynchronises on the latter.
	OnStateChange func(up bool)
}

// Metrics receives the store's counters. Implementations must be safe for
// concurrent use and must not block.
type Metrics interface {
	// Call counts one round trip to the server, whatever its outcome; op
	// is a fixed name such as "get" or "lock".
	Call(op string)
	// Lookup counts a read of kind that found an entry (hit) or none.
	Lookup(kind Kind, hit bool)
	// Error counts a failed store call; op is a fixed name such as "get".
	Error(op string)
	// LockWait counts a caller that found the lock held by another replica
	// and waited for its result.
	LockWait()
	// StaleWrite counts a write refused because a newer holder had already
	// written (its fencing token was higher).
	StaleWrite(kind Kind)
}

type nopMetrics struct{}

func (nopMetrics) Call(string)       {}
func (nopMetrics) Lookup(Kind, bool) {}
func (nopMetrics) Error(string)      {}
func (nopMetrics) LockWait()         {}
func (nopMetrics) StaleWrite(Kind)   {}

// ErrUnavailable is matched (errors.Is) by every error caused by the store
// being unreachable, slow or refusing a command. The caller falls back to its
// local cache and its own fetch.
var ErrUnavailable = errors.New("shared cache unavailable")

// ErrHeld means another replica holds the subject's lock.
var ErrHeld = errors.New("sharedcache: lock held by another replica")

// ErrStale means a write was refused because a holder with a newer fencing
// token has already written the entry; the writer's result is outdated.
var ErrStale = errors.New("sharedcache: a newer lock holder has written this entry")

// StoreError is a failed store call.
type StoreError struct {
	Op   string
	Addr string
	Err  error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("shared cache %s on %s: %v", e.Op, e.Addr, e.Err)
}

func (e *StoreError) Unwrap() error { return e.Err }

// Is makes every StoreError match ErrUnavailable.
func (e *StoreError) Is(target error) bool { return target == ErrUnavailable }

// Store is one binding's view of the shared cache. It is safe for concurrent
// use. Create it with New and release it with Close.
type Store struct {
	o     Options
	rdb   *redis.Client
	names namer
	kr    atomic.Pointer[Keyring]
	// down is 1 while the last call failed for lack of the server; it
	// drives the one-line-per-change log and OnStateChange.
	down atomic.Bool
}

// New validates o and returns a Store. It does not contact the server: a
// store that is down at start only means the binding runs on its local cache
// until the store is reachable.
func New(o Options) (*Store, error) {
	if o.Addr == "" {
		return nil, errors.New("sharedcache: Options.Addr is required")
	}
	if o.Keyring == nil || len(o.Keyring.keys) == 0 {
		return nil, errors.New("sharedcache: Options.Keyring is required")
	}
	if o.Scope.Binding == "" {
		return nil, errors.New("sharedcache: Options.Scope.Binding is required")
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if err := config.CheckSharedCacheKeyPrefix(o.KeyPrefix); err != nil {
		return nil, fmt.Errorf("sharedcache: Options.KeyPrefix: %w", err)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, DefaultTimeout},
		{"LockTTL", &o.LockTTL, DefaultLockTTL},
		{"RefreshTokenTTL", &o.RefreshTokenTTL, DefaultRefreshTokenTTL},
		{"PollInterval", &o.PollInterval, DefaultPollInterval},
		{"ClaimTTL", &o.ClaimTTL, DefaultClaimTTL},
		{"Settle", &o.Settle, DefaultSettle},
		{"WriteBackInterval", &o.WriteBackInterval, DefaultWriteBackInterval},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("sharedcache: Options.%s must not be negative, got %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.Timeout < time.Millisecond {
		return nil, fmt.Errorf("sharedcache: Options.Timeout must be at least 1ms, got %s", o.Timeout)
	}
	if o.LockTTL < 3*o.Timeout {
		return nil, fmt.Errorf("sharedcache: Options.LockTTL (%s) must be at least 3×Timeout (%s), or a holder could lose its lock between two extensions", o.LockTTL, o.Timeout)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ro := &redis.Options{
		Addr:      o.Addr,
		TLSConfig: o.TLS,
		// Every call carries its own deadline (Timeout); the socket
		// timeouts only back it up.
		ContextTimeoutEnabled: true,
		DialTimeout:           o.Timeout,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		// One dial per call: a refused connection must fail the call at
		// once rather than retry inside the caller's budget. After PoolSize
		// failed dials the client fails fast and probes the server in the
		// background once a second; that probe is the reconnect.
		DialerRetries: 1,
		// One retry lets a call that hit a connection the server closed
		// (a restart) go through on a fresh one, still within Timeout.
		MaxRetries:      1,
		MinRetryBackoff: time.Millisecond,
		MaxRetryBackoff: 5 * time.Millisecond,
		PoolSize:        8,
		PoolTimeout:     o.Timeout,
		// CLIENT SETINFO is noise on servers that lack it; skip it.
		DisableIdentity: true,
	}
	if o.Credentials != nil {
		ro.CredentialsProviderContext = func(context.Context) (string, string, error) {
			return o.Credentials()
		}
	}
	s := &Store{o: o, rdb: redis.NewClient(ro), names: namer{prefix: o.KeyPrefix, scope: o.Scope}}
	s.kr.Store(o.Keyring)
	return s, nil
}

// SetKeyring replaces the keyring, for a key file that changed on disk.
// Leases already held keep the keyring they were acquired with.
func (s *Store) SetKeyring(kr *Keyring) error {
	if kr == nil || len(kr.keys) == 0 {
		return errors.New("sharedcache: SetKeyring needs at least one key")
	}
	s.kr.Store(kr)
	return nil
}

func (s *Store) keyring() *Keyring { return s.kr.Load() }

// KeyIDs returns the ids of the keys in use, current first (see
// Keyring.KeyIDs).
func (s *Store) KeyIDs() []string { return s.keyring().KeyIDs() }

// Close releases the connections.
func (s *Store) Close() error {
	return s.rdb.Close()
}

// Up reports whether the last store call reached the server.
func (s *Store) Up() bool { return !s.down.Load() }

// do runs one bounded store call and records its outcome. redis.Nil (no such
// key) is a success and is returned as is.
func (s *Store) do(parent context.Context, op string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, s.o.Timeout)
	defer cancel()
	s.o.Metrics.Call(op)
	err := f(ctx)
	if err == nil || errors.Is(err, redis.Nil) {
		s.setDown(false, nil)
		return err
	}
	if parent.Err() != nil {
		// The caller gave up; that says nothing about the server.
		return &StoreError{Op: op, Addr: s.o.Addr, Err: context.Cause(parent)}
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within %s: %w", s.o.Timeout, err)
	}
	s.o.Metrics.Error(op)
	s.setDown(true, err)
	return &StoreError{Op: op, Addr: s.o.Addr, Err: err}
}

func (s *Store) setDown(down bool, err error) {
	if s.down.Load() == down || !s.down.CompareAndSwap(!down, down) {
		return
	}
	if down {
		s.o.Logger.Warn("shared cache unavailable; serving from the local cache and fetching locally",
			zap.String("address", s.o.Addr), zap.Error(err))
	} else {
		s.o.Logger.Info("shared cache reachable again", zap.String("address", s.o.Addr))
	}
	if s.o.OnStateChange != nil {
		s.o.OnStateChange(!down)
	}
}
