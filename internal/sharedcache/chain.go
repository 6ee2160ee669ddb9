package sharedcache

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// Bootstrap is the refresh token a person put into the binding's Secret,
// and the Origin that names it (the sidecar uses a hash of it).
type Bootstrap struct {
	Token, Origin string
}

// RefreshFunc sends refresh token rt to the token endpoint.
type RefreshFunc func(ctx context.Context, rt string) (*oauth.Token, error)

// WaitError is a Chain's refusal to refresh right now: every refresh token
// this replica could send might be one the server has already retired, and
// servers with reuse detection revoke the whole grant when one comes back.
// Nothing was sent. The token in hand keeps serving; once it expires the
// caller answers 503 until the refusal lifts.
type WaitError struct {
	// Code names the reason for logs and metrics (FailureCode).
	Code   string
	Reason string
}

// WaitError codes.
const (
	// CodeStoreNeeded: the store is unreachable and this replica does not
	// hold the newest refresh token; another replica may have rotated it.
	CodeStoreNeeded = "shared_cache_unavailable"
	// CodeInUse: another replica sent the current refresh token and has not
	// written back what it got (it lost the store, or died).
	CodeInUse = "refresh_token_in_use"
	// CodeRecovering: the store lost its data; replicas are writing their
	// refresh tokens back.
	CodeRecovering = "shared_cache_recovering"
)

func (e *WaitError) Error() string { return "sharedcache: not refreshing now: " + e.Reason }

// FailureCode names the refusal (see refresher.FailureCode).
func (e *WaitError) FailureCode() string { return e.Code }

// Chain keeps one subject's rotating refresh token consistent across the
// replicas of a binding, through store faults. The rules, in order:
//
//   - The holder of the subject's lock claims the store's refresh token
//     (writes it back marked as sent, under its fence) before it sends it,
//     and writes what the server returns before the new access token is
//     used anywhere. A claim that is neither cleared nor superseded means
//     the server may have retired the token: nobody else sends it until the
//     claim expires (ClaimTTL).
//   - A rotated refresh token that could not be written (the store went
//     away) is the newest there is, and only its holder has it: the holder
//     keeps refreshing with it without the store (RefreshLocal) and writes
//     it back every WriteBackInterval until the store takes it. Every other
//     replica refuses to refresh while the store is unreachable.
//   - A store that lost its data (its fence counter went back below fences
//     this replica has seen, or the entry vanished) makes every replica
//     write back what it holds and wait Settle, then until the store holds
//     an entry at least as new as the newest this replica has seen, or
//     ClaimTTL. The fenced writes keep the newest.
//   - A refresh token refused with invalid_grant when the Secret holds a
//     different one (a person consented again) starts a new chain from the
//     Secret's.
type Chain struct {
	s       *Store
	subject string
	done    chan struct{}
	wg      sync.WaitGroup

	// turn makes this replica's refreshes through the chain take turns
	// when several caches share it (operations with other scopes refresh
	// from the provider's one refresh token). With the store it is taken
	// after the chain's lock, so it never waits on a replica-wide lock.
	turn sync.Mutex

	mu sync.Mutex
	// held is the newest refresh token this replica knows, nil before its
	// first refresh.
	held *heldRefresh
	// seen is the highest fence this replica has seen for the subject.
	seen int64
	// recovery, when set, is a data loss being waited out.
	recovery *recovery
	looping  bool
	closed   bool
	// inUse is the claim last reported, so a wait is logged once.
	inUse int64
}

type heldRefresh struct {
	state RefreshState // never claimed
	fence int64
	// written: the store has it, as far as this replica knows.
	written bool
}

type recovery struct {
	settleAt, giveUpAt time.Time
	need               int64
}

// NewChain returns the Chain of subject. Close stops its write-back.
func (s *Store) NewChain(subject string) *Chain {
	return &Chain{s: s, subject: subject, done: make(chan struct{})}
}

// Close stops the write-back loop and waits for it.
func (c *Chain) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// Observe records a fence the caller saw on one of the subject's entries
// (a token read from the store). A store that lost its data hands out
// fences below it again, which is how the loss is recognised.
func (c *Chain) Observe(fence int64) {
	c.mu.Lock()
	c.seen = max(c.seen, fence)
	c.mu.Unlock()
}

// Unwritten reports whether this replica holds a refresh token the store
// does not have: while it does, it is the only one that may refresh.
func (c *Chain) Unwritten() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held != nil && !c.held.written
}

// Refresh runs one refresh under lease, as Fill's fetch: it picks the
// refresh token the server expects, claims it, sends it with call and
// writes the result. The returned token carries the new refresh token.
//
// A lease of another subject than the chain's (the access tokens of one
// scope set, while the refresh token is the provider's, shared by all its
// scope sets: see Sourced) is not the chain's lock: Refresh then takes the
// chain's own lock too, waiting while another cache or replica refreshes
// through it, so that one refresh token is never sent twice.
func (c *Chain) Refresh(ctx context.Context, lease *Lease, boot Bootstrap, call RefreshFunc) (*oauth.Token, error) {
	if lease.subject != c.subject {
		own, err := c.s.acquireWait(ctx, c.subject)
		if err != nil {
			return nil, err
		}
		defer func() { _ = own.Release(context.WithoutCancel(ctx)) }()
		stop := c.s.keepAlive(ctx, own)
		defer stop()
		lease = own
	}
	c.turn.Lock()
	defer c.turn.Unlock()
	now := c.s.o.Now()
	if err := c.admit(lease.fence, now); err != nil {
		return nil, err
	}
	st, stFence, err := c.s.Refresh(ctx, c.subject)
	if err != nil {
		return nil, err
	}
	use, err := c.choose(st, stFence, lease.fence, boot, now)
	if err != nil {
		return nil, err
	}
	if err := c.claim(ctx, lease, use, now); err != nil {
		return nil, err
	}
	tok, err := call(ctx, use.Token)
	if reconsented(err, use, boot) {
		c.s.o.Logger.Info("the refresh token in the shared cache was refused and the Secret holds another one: starting over from the Secret's",
			zap.String("subject_kind", subjectKind(c.subject)))
		use = RefreshState{Token: boot.Token, Origin: boot.Origin}
		if err := c.claim(ctx, lease, use, now); err != nil {
			return nil, err
		}
		tok, err = call(ctx, use.Token)
	}
	if err != nil {
		// As far as anyone can tell the server kept the token: clear the
		// claim so that the next holder may send it.
		c.keep(ctx, lease.fence, use)
		return nil, err
	}
	next := use
	if tok.RefreshToken != "" {
		next.Token = tok.RefreshToken
	}
	c.keep(ctx, lease.fence, next)
	return tok, nil
}

// RefreshLocal refreshes without the store, which is unreachable. Only the
// replica holding an unwritten refresh token may: it is the newest, and no
// other replica has it. Any other gets *WaitError (CodeStoreNeeded).
func (c *Chain) RefreshLocal(ctx context.Context, call RefreshFunc) (*oauth.Token, error) {
	c.turn.Lock()
	defer c.turn.Unlock()
	c.mu.Lock()
	h := c.held
	c.mu.Unlock()
	if h == nil || h.written {
		return nil, &WaitError{Code: CodeStoreNeeded, Reason: "the shared cache is unreachable and another replica may have rotated the refresh token; serving the current access token until it expires"}
	}
	tok, err := call(ctx, h.state.Token)
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != h.state.Token {
		c.mu.Lock()
		if c.held == h {
			next := h.state
			next.Token = tok.RefreshToken
			c.held = &heldRefresh{state: next, fence: h.fence}
		}
		c.mu.Unlock()
	}
	return tok, nil
}

// Recovered tells the chain the store is reachable again after an outage:
// a held refresh token is written back at once rather than at the next
// refresh, in case the store came back without its data.
func (c *Chain) Recovered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil {
		c.held = &heldRefresh{state: c.held.state, fence: c.held.fence}
		c.startLoopLocked()
	}
}

// admit records lease's fence and refuses while a data loss is settling. A
// fence at or below one already seen means the store lost its counter, and
// with it the entries.
func (c *Chain) admit(fence int64, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fence <= c.seen {
		c.s.o.Logger.Warn("the shared cache lost its data (its fence counter went back); replicas write their refresh tokens back before anyone refreshes",
			zap.Duration("settle", c.s.o.Settle), zap.Duration("give_up_after", c.s.o.ClaimTTL))
		c.loseLocked(c.seen, now)
	}
	c.seen = max(c.seen, fence)
	if r := c.recovery; r != nil && now.Before(r.settleAt) {
		return &WaitError{Code: CodeRecovering, Reason: "the shared cache lost its data; waiting for replicas to write their refresh tokens back"}
	}
	return nil
}

// loseLocked starts waiting out a data loss: nothing is refreshed before
// Settle, nor from an entry older than need before ClaimTTL; meanwhile the
// held refresh token goes back into the store.
func (c *Chain) loseLocked(need int64, now time.Time) {
	c.seen = 0
	c.recovery = &recovery{settleAt: now.Add(c.s.o.Settle), giveUpAt: now.Add(c.s.o.ClaimTTL), need: need}
	if c.held != nil {
		c.held = &heldRefresh{state: c.held.state, fence: c.held.fence}
		c.startLoopLocked()
	}
}

// choose picks the refresh token to send under fence.
func (c *Chain) choose(st *RefreshState, stFence, fence int64, boot Bootstrap, now time.Time) (RefreshState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = max(c.seen, stFence)
	if r := c.recovery; r != nil {
		if stFence < r.need && now.Before(r.giveUpAt) {
			return RefreshState{}, &WaitError{Code: CodeRecovering, Reason: "the shared cache lost its data and no replica has written back a refresh token as new as the last one seen"}
		}
		if stFence < r.need {
			c.s.o.Logger.Warn("gave up waiting for the newest refresh token to be written back; going on with the newest the shared cache has")
		}
		c.recovery = nil
	}
	h := c.held
	switch {
	case h != nil && !h.written && h.fence >= stFence:
		// Newer than the store's: this replica could not write it.
		return h.state, nil
	case st != nil && st.claimedBy(fence, now):
		if c.inUse != st.Claim {
			c.inUse = st.Claim
			c.s.o.Logger.Warn("another replica sent the refresh token and has not written back what it got; not refreshing until it does",
				zap.Time("claim_expiry", st.ClaimExpiry))
		}
		return RefreshState{}, &WaitError{Code: CodeInUse, Reason: "another replica sent the refresh token and has not written back the one it got"}
	case st != nil:
		return RefreshState{Token: st.Token, Origin: st.Origin}, nil
	case h != nil:
		// This replica had one, the store has none: it lost the entry.
		c.s.o.Logger.Warn("the shared cache no longer holds the refresh token; replicas write theirs back before anyone refreshes")
		c.loseLocked(max(c.seen, h.fence), now)
		return RefreshState{}, &WaitError{Code: CodeRecovering, Reason: "the shared cache lost the refresh token; waiting for replicas to write theirs back"}
	}
	return RefreshState{Token: boot.Token, Origin: boot.Origin}, nil
}

// claim marks use as sent under lease before it is.
func (c *Chain) claim(ctx context.Context, lease *Lease, use RefreshState, now time.Time) error {
	claimed := use
	claimed.Claim, claimed.ClaimExpiry = lease.fence, now.Add(c.s.o.ClaimTTL)
	return lease.PutRefresh(ctx, claimed)
}

// keep makes rs, obtained under fence, the held refresh token and writes
// it (which also clears the claim); if the store does not take it, the
// write-back loop retries and only this replica refreshes meanwhile.
func (c *Chain) keep(ctx context.Context, fence int64, rs RefreshState) {
	h := &heldRefresh{state: rs, fence: fence}
	c.mu.Lock()
	c.held = h
	c.mu.Unlock()
	lease := &Lease{s: c.s, kr: c.s.keyring(), subject: c.subject, fence: fence}
	err := lease.PutRefresh(context.WithoutCancel(ctx), rs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.settleLocked(h, err) {
		return
	}
	c.s.o.Logger.Warn("could not write the refresh token to the shared cache; only this replica refreshes until it is written back",
		zap.Error(err), zap.Duration("retry_every", c.s.o.WriteBackInterval))
	c.startLoopLocked()
}

// settleLocked applies the outcome of writing h and reports whether h
// needs no more writing.
func (c *Chain) settleLocked(h *heldRefresh, err error) bool {
	switch {
	case err == nil:
		if c.held == h {
			h.written = true
		}
		c.seen = max(c.seen, h.fence)
		return true
	case errors.Is(err, ErrStale):
		// A newer holder has written: its refresh token is the one the
		// server expects, and this one is history.
		if c.held == h {
			h.written = true
		}
		return true
	}
	return c.held != h
}

func (c *Chain) startLoopLocked() {
	if c.looping || c.closed {
		return
	}
	c.looping = true
	c.wg.Add(1)
	go c.writeBack()
}

// writeBack retries writing the held refresh token until the store takes
// it (or a newer one), the chain closes, or a newer token replaces it.
func (c *Chain) writeBack() {
	defer c.wg.Done()
	t := time.NewTicker(c.s.o.WriteBackInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			c.mu.Lock()
			c.looping = false
			c.mu.Unlock()
			return
		case <-t.C:
		}
		c.mu.Lock()
		h := c.held
		if h == nil || h.written {
			c.looping = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		lease := &Lease{s: c.s, kr: c.s.keyring(), subject: c.subject, fence: h.fence}
		err := lease.PutRefresh(context.Background(), h.state)
		c.mu.Lock()
		if c.settleLocked(h, err) && c.held == h {
			if err == nil {
				c.s.o.Logger.Info("refresh token written back to the shared cache; the other replicas refresh with it again")
			} else {
				c.s.o.Logger.Warn("a newer refresh token is in the shared cache; dropping this replica's", zap.Error(err))
			}
		}
		c.mu.Unlock()
	}
}

// reconsented reports whether err refused a refresh token of another
// consent than the Secret's, so the Secret's is worth a try.
func reconsented(err error, used RefreshState, boot Bootstrap) bool {
	var oe *oauth.Error
	return errors.As(err, &oe) && oe.Code == "invalid_grant" &&
		boot.Token != "" && boot.Token != used.Token && boot.Origin != used.Origin
}

// subjectKind says whether a log line is about the client or one subject,
// without naming the subject (it may be a phone number).
func subjectKind(subject string) string {
	if unsourced(subject) == "" {
		return "client"
	}
	return "per_subject"
}
