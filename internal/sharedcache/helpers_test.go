package sharedcache

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

// counters is a Metrics that tests read.
type counters struct {
	mu     sync.Mutex
	hits   map[Kind]int
	misses map[Kind]int
	errs   map[string]int
	calls  map[string]int
	waits  int
	stale  map[Kind]int
	// waited is signalled on every LockWait, for tests that hold a fetch
	// until the others are waiting.
	waited chan struct{}
}

func newCounters() *counters {
	return &counters{hits: map[Kind]int{}, misses: map[Kind]int{}, errs: map[string]int{}, calls: map[string]int{}, stale: map[Kind]int{}, waited: make(chan struct{}, 1024)}
}

func (c *counters) Call(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
}

func (c *counters) Lookup(k Kind, hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hit {
		c.hits[k]++
	} else {
		c.misses[k]++
	}
}

func (c *counters) Error(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs[op]++
}

func (c *counters) LockWait() {
	c.mu.Lock()
	c.waits++
	c.mu.Unlock()
	c.waited <- struct{}{}
}

func (c *counters) StaleWrite(k Kind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stale[k]++
}

func (c *counters) get(f func(c *counters) int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c)
}

// replica is one sidecar's view of the store in a test.
type replica struct {
	*Store
	m    *counters
	logs *observer.ObservedLogs
}

var scopeA = Scope{Namespace: "team-a", Binding: "opengateway", ClientID: "client-1"}

// newReplica connects a Store to srv. edit may change the options.
func newReplica(t *testing.T, srv *redistest.Server, scope Scope, kr *Keyring, edit func(o *Options)) *replica {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	m := newCounters()
	o := Options{Addr: srv.Addr, TLS: srv.TLSConfig(), Keyring: kr, Scope: scope, Logger: zap.New(core), Metrics: m}
	if edit != nil {
		edit(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &replica{Store: s, m: m, logs: logs}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func token(access string, life time.Duration) *oauth.Token {
	now := time.Now()
	return &oauth.Token{AccessToken: access, TokenType: "bearer", IssuedAt: now, Expiry: now.Add(life)}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
}

// pair connects two replicas of the same binding and key.
func pair(t *testing.T, srv *redistest.Server, edit func(o *Options)) (a, b *replica) {
	t.Helper()
	return newReplica(t, srv, scopeA, ring(t, testKey(1)), edit), newReplica(t, srv, scopeA, ring(t, testKey(1)), edit)
}

// short makes locks expire quickly, for tests that need a lock to lapse.
func short(o *Options) { o.Timeout = 100 * time.Millisecond; o.LockTTL = 300 * time.Millisecond }

// refreshOf reads the subject's refresh token, "" when there is none.
func refreshOf(ctx context.Context, s *Store, subject string) (string, int64, error) {
	st, fence, err := s.Refresh(ctx, subject)
	if err != nil || st == nil {
		return "", fence, err
	}
	return st.Token, fence, nil
}
