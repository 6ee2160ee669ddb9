package sharedcache

import (
	"context"
	"errors"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// FetchFunc obtains a new token while the caller holds lease. shared is the
// store's newest token for the subject, possibly expired, or nil. A CIBA
// fetch records its authorization with lease.PutPendingCIBA, and first looks
// for one left by a holder that died (Store.PendingCIBA), so that it polls
// instead of prompting again. A refresh-token grant runs Chain.Refresh,
// which writes the rotated refresh token before it returns.
type FetchFunc func(ctx context.Context, lease *Lease, shared *oauth.Token) (*oauth.Token, error)

// Filled is the outcome of Fill.
type Filled struct {
	// Token is usable: read from the store or fetched by this call. A token
	// read from the store has no RefreshToken: refresh tokens live in their
	// own entry (Chain).
	Token *oauth.Token
	// Fence is the fence Token was written under (or fetched with).
	Fence int64
	// Lease is set when this call fetched. It may be used after Fill
	// returns to retry a failed publish: the fence decides the write.
	Lease *Lease
	// PublishErr is set when this call fetched a token but could not write
	// it to the store. Token is still good to use; the other replicas fetch
	// their own or wait for the next holder. ErrStale means a newer lease has
	// already written a newer result.
	PublishErr error
}

// Fill returns a usable token for subject, running fetch at most once across
// all replicas sharing the store: the store's token when usable(tok) holds;
// otherwise the result of whichever replica takes the subject's lock (this
// one runs fetch, the others wait for its result and read it). usable nil
// means "not expired".
//
// Errors matching ErrUnavailable come from the store: the caller falls back
// to its own fetch. Any other error is fetch's. Fill waits for another
// replica's result as long as ctx allows.
func (s *Store) Fill(ctx context.Context, subject string, usable func(*oauth.Token) bool, fetch FetchFunc) (*Filled, error) {
	if usable == nil {
		usable = func(t *oauth.Token) bool { return t.Valid(s.o.Now()) }
	}
	var seen int64
	for waited := false; ; {
		tok, fence, err := s.Token(ctx, subject)
		if err != nil {
			return nil, err
		}
		if tok != nil && usable(tok) {
			return &Filled{Token: tok, Fence: fence}, nil
		}
		seen = max(seen, fence)
		lease, err := s.Acquire(ctx, subject)
		if err == nil {
			return s.fillLocked(ctx, lease, usable, fetch)
		}
		if !errors.Is(err, ErrHeld) {
			return nil, err
		}
		if !waited { // the metric counts fills that waited, once each
			s.o.Metrics.LockWait()
			waited = true
		}
		f, err := s.await(ctx, KindToken, subject, seen)
		if errors.Is(err, errNoResult) {
			continue // the holder gave up; try to take the lock
		}
		if err != nil {
			return nil, err
		}
		seen = f.fence
		if tok, err := decodeToken(f.plain); err == nil && usable(tok) {
			return &Filled{Token: tok, Fence: f.fence}, nil
		}
	}
}

func (s *Store) fillLocked(ctx context.Context, lease *Lease, usable func(*oauth.Token) bool, fetch FetchFunc) (*Filled, error) {
	// Release even when the caller has given up, so that the others need
	// not wait for the TTL.
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()

	// Another replica may have finished between our read and our lock.
	tok, fence, err := s.Token(ctx, lease.subject)
	if err != nil {
		return nil, err
	}
	if tok != nil && usable(tok) {
		return &Filled{Token: tok, Fence: fence}, nil
	}
	stop := s.keepAlive(ctx, lease)
	got, err := fetch(ctx, lease, tok)
	stop()
	if err != nil {
		return nil, err
	}
	// A rotated refresh token is already written (Chain.Refresh does it
	// before it returns), so the access token may become visible now.
	return &Filled{Token: got, Fence: lease.fence, Lease: lease, PublishErr: lease.PutToken(ctx, got)}, nil
}

// keepAlive extends the lease every third of its TTL until stop is called,
// so that a long fetch (CIBA polling) keeps the lock while a crashed holder
// loses it within one TTL. A failed extension is not fatal: the fence still
// protects the holder's writes.
func (s *Store) keepAlive(ctx context.Context, lease *Lease) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.o.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = lease.Extend(context.WithoutCancel(ctx))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
