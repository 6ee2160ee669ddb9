package sharedcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

// Five cold replicas, each with many concurrent callers: exactly one fetch.
// The fetch holds until every other caller is waiting on the lock, so the
// herd really is concurrent.
func TestFillHerdAcrossReplicasFetchesOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	const replicas, callers = 5, 20
	shared := newCounters()
	kr := ring(t, testKey(1))
	var rs []*replica
	for range replicas {
		rs = append(rs, newReplica(t, srv, scopeA, kr, func(o *Options) { o.Metrics = shared }))
	}
	var fetches atomic.Int32
	fetch := func(ctx context.Context, _ *Lease, shared0 *oauth.Token) (*oauth.Token, error) {
		fetches.Add(1)
		if shared0 != nil {
			t.Errorf("cold store passed %+v to the fetch", shared0)
		}
		for range replicas*callers - 1 {
			select {
			case <-shared.waited:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return token("the-one-token", time.Hour), nil
	}
	var wg sync.WaitGroup
	got := make(chan string, replicas*callers)
	for _, r := range rs {
		for range callers {
			wg.Go(func() {
				f, err := r.Fill(ctx, phone, nil, fetch)
				if err != nil {
					t.Error(err)
					return
				}
				got <- f.Token.AccessToken
			})
		}
	}
	wg.Wait()
	close(got)
	for a := range got {
		if a != "the-one-token" {
			t.Fatalf("a caller got %q", a)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for %d callers on %d replicas, want 1", n, replicas*callers, replicas)
	}
	// Later callers hit the store without fetching or waiting.
	waits := shared.get(func(c *counters) int { return c.waits })
	if f, err := rs[3].Fill(ctx, phone, nil, fetch); err != nil || f.Lease != nil {
		t.Fatalf("warm Fill: %+v, %v", f, err)
	}
	if fetches.Load() != 1 || shared.get(func(c *counters) int { return c.waits }) != waits {
		t.Fatal("a warm Fill fetched or waited")
	}
	// One miss per caller plus the holder's re-read under the lock; the
	// waiters' polls are not lookups. One hit: the warm Fill.
	if h, m := shared.get(func(c *counters) int { return c.hits[KindToken] }), shared.get(func(c *counters) int { return c.misses[KindToken] }); h != 1 || m != replicas*callers+1 {
		t.Fatalf("token hits %d misses %d, want 1 and %d", h, m, replicas*callers+1)
	}
}

// A holder that dies without writing (or releasing) blocks the others for
// at most the lock TTL; then one of them takes over. A CIBA authorization
// the dead holder recorded is there for the new holder to poll.
func TestFillTakesOverFromADeadHolder(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	dead, b := pair(t, srv, short)
	l, err := dead.Acquire(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PutPendingCIBA(ctx, PendingCIBA{AuthReqID: "req-of-the-dead", Expiry: time.Now().Add(time.Minute), Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
	var polled string
	f, err := b.Fill(ctx, phone, nil, func(ctx context.Context, lease *Lease, _ *oauth.Token) (*oauth.Token, error) {
		p, err := b.PendingCIBA(ctx, phone)
		if err != nil || p == nil {
			return nil, errors.New("no pending authorization to poll")
		}
		polled = p.AuthReqID
		if err := lease.ClearPendingCIBA(ctx); err != nil {
			return nil, err
		}
		return token("from-"+p.AuthReqID, time.Hour), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if polled != "req-of-the-dead" || f.Token.AccessToken != "from-req-of-the-dead" || f.Fence <= l.Fence() {
		t.Fatalf("polled %q, got %+v", polled, f)
	}
	if b.m.get(func(c *counters) int { return c.waits }) == 0 {
		t.Fatal("the caller never waited on the dead holder's lock")
	}
}

// A holder that lives extends its lock while it fetches, so a fetch longer
// than the TTL does not let a second replica in.
func TestFillKeepsTheLockDuringALongFetch(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	a, b := pair(t, srv, short)
	var fetches atomic.Int32
	release := make(chan struct{})
	fetch := func(ctx context.Context, _ *Lease, _ *oauth.Token) (*oauth.Token, error) {
		fetches.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return token("slow", time.Hour), nil
	}
	done := make(chan error, 2)
	go func() { _, err := a.Fill(ctx, "", nil, fetch); done <- err }()
	eventually(t, "the first fetch starts", func() bool { return fetches.Load() == 1 })
	go func() { _, err := b.Fill(ctx, "", nil, fetch); done <- err }()
	eventually(t, "b waits on the lock", func() bool { return b.m.get(func(c *counters) int { return c.waits }) > 0 })
	// Watch six extensions, two TTLs' worth, pass while b polls.
	admin := srv.Admin(t)
	lock := a.names.names(a.keyring(), kindLock, "")[0]
	for range 6 {
		var low time.Duration
		eventually(t, "the lock ages", func() bool { low = admin.PTTL(ctx, lock).Val(); return low > 0 && low < 250*time.Millisecond })
		eventually(t, "the lock is extended", func() bool { return admin.PTTL(ctx, lock).Val() > low })
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: the lock lapsed during the fetch", n)
	}
}

func TestFillErrors(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	r := newReplica(t, srv, scopeA, ring(t, testKey(1)), nil)
	denied := &oauth.Error{Code: "access_denied"}
	var fetches int
	failing := func(context.Context, *Lease, *oauth.Token) (*oauth.Token, error) { fetches++; return nil, denied }
	if _, err := r.Fill(ctx, phone, nil, failing); !errors.Is(err, denied) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("fetch error: %v", err)
	}
	if l, err := r.Acquire(ctx, phone); err != nil {
		t.Fatalf("the lock was not released after a failed fetch: %v", err)
	} else if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := r.Fill(ctx, phone, nil, failing); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("store down: %v, want ErrUnavailable", err)
	}
	if fetches != 1 {
		t.Fatalf("%d fetches, want 1 (none with the store down: the caller falls back)", fetches)
	}
}
