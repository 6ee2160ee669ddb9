package sharedcache

import (
	"context"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

// BenchmarkFillFromAnotherReplica is what a local miss costs when another
// replica has already put a fresh token into the store: one round trip to
// a loopback redis-server and one AES-GCM open, no token call. (A local
// hit costs nothing: TestSharedCacheHitCostsNoStoreCall.)
func BenchmarkFillFromAnotherReplica(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	ctx := context.Background()
	kr, err := NewKeyring(testKey(1))
	if err != nil {
		b.Fatal(err)
	}
	open := func() *Store {
		s, err := New(Options{Addr: srv.Addr, Keyring: kr, Scope: scopeA})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	filler, reader := open(), open()
	l, err := filler.Acquire(ctx, phone)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.PutToken(ctx, token("filled-elsewhere", time.Hour)); err != nil {
		b.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		b.Fatal(err)
	}
	noFetch := func(context.Context, *Lease, *oauth.Token) (*oauth.Token, error) {
		b.Fatal("the store's token was not used")
		return nil, nil
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := reader.Fill(ctx, phone, nil, noFetch); err != nil {
			b.Fatal(err)
		}
	}
}
