package sharedcache

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

const phone = "tel:+34655555555"

// Two bindings sharing one server cannot read each other's entries: their
// names differ (namespace, binding, client id and key all go into them), and
// a value copied under the other's name fails to open (AAD + key). A raw dump
// of the server holds no token and no phone number.
func TestIsolationBetweenBindings(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	scopeB := Scope{Namespace: "team-b", Binding: "opengateway", ClientID: "client-1"}
	cases := []struct {
		name   string
		keyA   []byte
		keyB   []byte
		scopeB Scope
	}{
		{"other namespace, other key", testKey(1), testKey(2), scopeB},
		{"other namespace, same key", testKey(1), testKey(1), scopeB},
		{"same namespace, other binding, same key", testKey(1), testKey(1), Scope{Namespace: "team-a", Binding: "other", ClientID: "client-1"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := func(o *Options) { o.KeyPrefix = "iso" + string(rune('a'+i)) + ":" }
			a := newReplica(t, srv, scopeA, ring(t, tc.keyA), prefix)
			b := newReplica(t, srv, tc.scopeB, ring(t, tc.keyB), prefix)
			la, err := a.Acquire(ctx, phone)
			if err != nil {
				t.Fatal(err)
			}
			if err := la.PutToken(ctx, token("access-of-A", time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := la.PutRefresh(ctx, RefreshState{Token: "refresh-of-A"}); err != nil {
				t.Fatal(err)
			}
			// B's lock on the same subject is its own.
			if _, err := b.Acquire(ctx, phone); err != nil {
				t.Fatalf("B's lock collides with A's: %v", err)
			}
			if tok, _, err := b.Token(ctx, phone); err != nil || tok != nil {
				t.Fatalf("B read A's token: %v, %v", tok, err)
			}
			if rt, _, err := refreshOf(ctx, b.Store, phone); err != nil || rt != "" {
				t.Fatalf("B read A's refresh token: %q, %v", rt, err)
			}

			// Copy A's sealed entry under B's name, as an attacker with
			// write access to the store could.
			admin := srv.Admin(t)
			from := a.names.names(a.keyring(), KindToken, phone)[0]
			to := b.names.names(b.keyring(), KindToken, phone)[0]
			fields, err := admin.HGetAll(ctx, from).Result()
			if err != nil || len(fields) == 0 {
				t.Fatalf("A's entry: %v %v", fields, err)
			}
			if err := admin.HSet(ctx, to, "f", fields["f"], "v", fields["v"]).Err(); err != nil {
				t.Fatal(err)
			}
			if tok, _, err := b.Token(ctx, phone); err != nil || tok != nil {
				t.Fatalf("B opened A's value copied under its key: %v, %v", tok, err)
			}
			if b.m.get(func(c *counters) int { return c.errs["open"] }) != 1 {
				t.Fatalf("the copied value was not counted as failing to open: %v", b.m.errs)
			}
			if tok, _, err := a.Token(ctx, phone); err != nil || tok == nil || tok.AccessToken != "access-of-A" {
				t.Fatalf("A reads its own token: %v, %v", tok, err)
			}
		})
	}
	t.Run("raw dump holds no token or phone number", func(t *testing.T) {
		admin := srv.Admin(t)
		keys, err := admin.Keys(ctx, "*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys %v, %v", keys, err)
		}
		var dump strings.Builder
		for _, k := range keys {
			dump.WriteString(k + "\n")
			switch typ := admin.Type(ctx, k).Val(); typ {
			case "hash":
				for f, v := range admin.HGetAll(ctx, k).Val() {
					dump.WriteString(f + "=" + v + "\n")
				}
			case "string":
				dump.WriteString(admin.Get(ctx, k).Val() + "\n")
			default:
				t.Fatalf("unexpected %s key %s", typ, k)
			}
		}
		for _, secret := range []string{"access-of-A", "refresh-of-A", "34655555555", "team-a", "opengateway", "client-1"} {
			if strings.Contains(dump.String(), secret) {
				t.Errorf("the store dump contains %q", secret)
			}
		}
	})
}

// A stalled holder whose lock expired cannot overwrite the result of the
// holder that took over; in the other order its older write is simply
// overwritten.
func TestFencedWrites(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	r := newReplica(t, srv, scopeA, ring(t, testKey(1)), nil)
	admin := srv.Admin(t)
	expireLock := func(subject string) {
		t.Helper()
		if err := admin.Del(ctx, r.names.names(r.keyring(), kindLock, subject)...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, staleFirst := range []bool{false, true} {
		subject := "newer-first"
		if staleFirst {
			subject = "stale-first"
		}
		t.Run(subject, func(t *testing.T) {
			stalled, err := r.Acquire(ctx, subject)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Acquire(ctx, subject); !errors.Is(err, ErrHeld) {
				t.Fatalf("second Acquire: %v, want ErrHeld", err)
			}
			expireLock(subject)
			newer, err := r.Acquire(ctx, subject)
			if err != nil {
				t.Fatal(err)
			}
			if newer.Fence() <= stalled.Fence() {
				t.Fatalf("fences %d then %d: not increasing", stalled.Fence(), newer.Fence())
			}
			if err := stalled.Extend(ctx); !errors.Is(err, ErrLockLost) {
				t.Fatalf("the stalled holder extended a lock it lost: %v", err)
			}
			if staleFirst {
				if err := stalled.PutToken(ctx, token("old", time.Hour)); err != nil {
					t.Fatalf("a stale write before any newer one: %v", err)
				}
			}
			if err := newer.PutToken(ctx, token("new", time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := stalled.PutToken(ctx, token("old", time.Hour)); !errors.Is(err, ErrStale) {
				t.Fatalf("stalled write after the newer one: %v, want ErrStale", err)
			}
			tok, fence, err := r.Token(ctx, subject)
			if err != nil || tok.AccessToken != "new" || fence != newer.Fence() {
				t.Fatalf("store holds %v (fence %d), %v", tok, fence, err)
			}
			// Releasing a lost lock must not free the newer holder's.
			if err := stalled.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Acquire(ctx, subject); !errors.Is(err, ErrHeld) {
				t.Fatalf("the stalled holder's Release freed the newer lock: %v", err)
			}
		})
	}
	if n := r.m.get(func(c *counters) int { return c.stale[KindToken] }); n != 2 {
		t.Fatalf("stale writes counted %d, want 2", n)
	}
}

// During a key rotation (current+previous keyrings) every operation spans
// the names of all keys, so replicas at adjacent rotation steps still share
// one lock and read each other's writes.
func TestRotationStepsShareLocksAndEntries(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	old, nw := testKey(1), testKey(2)
	steps := []struct {
		name string
		kr   *Keyring
	}{
		{"before: old", ring(t, old)},
		{"step 1: old seals, new opens", ring(t, old, nw)},
		{"step 2: new seals, old opens", ring(t, nw, old)},
		{"after: new", ring(t, nw)},
	}
	for i := 0; i+1 < len(steps); i++ {
		a, b := steps[i], steps[i+1]
		t.Run(a.name+" / "+b.name, func(t *testing.T) {
			subject := "subject-" + string(rune('0'+i))
			ra := newReplica(t, srv, scopeA, a.kr, nil)
			rb := newReplica(t, srv, scopeA, b.kr, nil)
			for _, pair := range [][2]*replica{{ra, rb}, {rb, ra}} {
				holder, other := pair[0], pair[1]
				l, err := holder.Acquire(ctx, subject)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := other.Acquire(ctx, subject); !errors.Is(err, ErrHeld) {
					t.Fatalf("replicas at adjacent rotation steps both got the lock: %v", err)
				}
				want := "token-" + holder.keyring().KeyIDs()[0]
				if err := l.PutToken(ctx, token(want, time.Hour)); err != nil {
					t.Fatal(err)
				}
				if err := l.Release(ctx); err != nil {
					t.Fatal(err)
				}
				tok, _, err := other.Token(ctx, subject)
				if err != nil || tok == nil || tok.AccessToken != want {
					t.Fatalf("the other step reads %v, %v; want %s", tok, err, want)
				}
			}
		})
	}
}

// The rotated refresh token is written before use; when the store is down at
// that moment the write fails fast with ErrUnavailable, the caller keeps the
// token, and the same lease publishes it once the store is back, even though
// the restarted store lost everything (lock and fence counter included). A
// stale write-back from an older lease then loses, and new leases get fences
// above the one written back.
func TestRefreshTokenRotationAcrossAStoreRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	a, b := pair(t, srv, nil)

	older, err := b.Acquire(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := older.PutRefresh(ctx, RefreshState{Token: "rt-1"}); err != nil {
		t.Fatal(err)
	}
	if err := older.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lease, err := a.Acquire(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	err = lease.PutRefresh(ctx, RefreshState{Token: "rt-2"})
	var se *StoreError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &se) || se.Op != "put" {
		t.Fatalf("write with the store down: %v, want a StoreError matching ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "rt-2") {
		t.Fatal("the error carries the refresh token")
	}

	srv.Restart()
	eventually(t, "write-back after the restart", func() bool { return lease.PutRefresh(ctx, RefreshState{Token: "rt-2"}) == nil })
	if err := older.PutRefresh(ctx, RefreshState{Token: "rt-1"}); !errors.Is(err, ErrStale) {
		t.Fatalf("an older lease's write-back: %v, want ErrStale", err)
	}
	rt, fence, err := refreshOf(ctx, b.Store, "")
	if err != nil || rt != "rt-2" || fence != lease.Fence() {
		t.Fatalf("after the restart the store holds %q (fence %d), %v", rt, fence, err)
	}
	next, err := b.Acquire(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if next.Fence() <= lease.Fence() {
		t.Fatalf("fence %d after a write-back of %d: a new holder could not overwrite it", next.Fence(), lease.Fence())
	}
}

// Store down: calls fail with a typed error, one log line and one state
// callback per change; after a restart on the same port the client
// reconnects by itself.
func TestStoreDownAndBack(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	states := make(chan bool, 8)
	r := newReplica(t, srv, scopeA, ring(t, testKey(1)), func(o *Options) { o.OnStateChange = func(up bool) { states <- up } })
	l, err := r.Acquire(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PutToken(ctx, token("a1", time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for range 3 {
		_, _, err := r.Token(ctx, phone)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Token with the store down: %v, want ErrUnavailable", err)
		}
	}
	if r.Up() || <-states != false {
		t.Fatal("the store is not reported down")
	}
	if n := r.logs.FilterMessageSnippet("shared cache unavailable").Len(); n != 1 {
		t.Fatalf("%d unavailable log lines for 3 failed calls, want 1", n)
	}
	if n := r.m.get(func(c *counters) int { return c.errs["get"] }); n != 3 {
		t.Fatalf("errors counted %d, want 3", n)
	}

	srv.Restart()
	eventually(t, "reconnect", func() bool { _, _, err := r.Token(ctx, phone); return err == nil })
	if !r.Up() || <-states != true {
		t.Fatal("the store is not reported up again")
	}
	if n := r.logs.FilterMessageSnippet("reachable again").Len(); n != 1 {
		t.Fatalf("%d 'reachable again' log lines, want 1", n)
	}
	// The restarted store is empty (no persistence): a miss, not an error.
	if tok, _, err := r.Token(ctx, phone); err != nil || tok != nil {
		t.Fatalf("after restart: %v, %v", tok, err)
	}
	for _, e := range r.logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, "a1") {
				t.Fatalf("a log line carries the token: %v", e)
			}
		}
	}
}

// A store that accepts connections but does not answer fails the call at
// the configured timeout with a typed error, instead of holding the request.
func TestSlowStoreTimesOut(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	r := newReplica(t, srv, scopeA, ring(t, testKey(1)), func(o *Options) { o.Timeout = 100 * time.Millisecond })
	if _, _, err := r.Token(ctx, phone); err != nil {
		t.Fatal(err) // warm a pooled connection
	}
	// The pause holds every client, this test's admin included, so it
	// cannot be lifted early; 2s leaves a busy machine room to issue the
	// call while it lasts.
	if err := srv.Admin(t).Do(ctx, "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	_, _, err := r.Token(ctx, phone)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("Token on a paused store: %v, want ErrUnavailable after the timeout", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the caller's context ended first")
	}
}

// A caller that gives up is not a store failure.
func TestCallerCancellationIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newReplica(t, srv, scopeA, ring(t, testKey(1)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Token(ctx, phone); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if !r.Up() || r.logs.Len() != 0 {
		t.Fatal("a cancelled caller marked the store down")
	}
}

func TestPendingCIBA(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	a, b := pair(t, srv, nil)
	l, err := a.Acquire(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	if err := l.PutPendingCIBA(ctx, PendingCIBA{AuthReqID: "req-1", Expiry: exp, Interval: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	p, err := b.PendingCIBA(ctx, phone)
	if err != nil || p == nil || p.AuthReqID != "req-1" || !p.Expiry.Equal(exp) || p.Interval != 5*time.Second {
		t.Fatalf("B reads %+v, %v", p, err)
	}
	if err := l.PutPendingCIBA(ctx, PendingCIBA{AuthReqID: "x", Expiry: time.Now().Add(-time.Second)}); err == nil {
		t.Fatal("an expired authorization was shared")
	}
	if err := l.ClearPendingCIBA(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := b.PendingCIBA(ctx, phone); err != nil || p != nil {
		t.Fatalf("after Clear: %+v, %v", p, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	kr := ring(t, testKey(1))
	ok := Options{Addr: "127.0.0.1:1", Keyring: kr, Scope: scopeA}
	cases := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"no address", func(o *Options) { o.Addr = "" }, "Options.Addr is required"},
		{"no keyring", func(o *Options) { o.Keyring = nil }, "Options.Keyring is required"},
		{"no binding", func(o *Options) { o.Scope.Binding = "" }, "Options.Scope.Binding is required"},
		{"bad prefix", func(o *Options) { o.KeyPrefix = "a b" }, "must not contain spaces"},
		{"negative timeout", func(o *Options) { o.Timeout = -1 }, "Options.Timeout must not be negative"},
		{"sub-millisecond timeout", func(o *Options) { o.Timeout = time.Microsecond }, "Options.Timeout must be at least 1ms"},
		{"lock shorter than three timeouts", func(o *Options) { o.Timeout = time.Second; o.LockTTL = 2 * time.Second }, "Options.LockTTL (2s) must be at least 3×Timeout (1s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
