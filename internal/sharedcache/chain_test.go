package sharedcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

// rotatingServer is the refresh_token grant of a server that rotates
// refresh tokens as oidc-provider does: each refresh token works once, and a
// retired one that comes back is refused with invalid_grant and revokes the
// whole grant (reuse detection), so that even the newest token stops
// working. consent starts a new grant, as a person consenting again does;
// tokens of older grants are refused without counting as reuse.
type rotatingServer struct {
	mu      sync.Mutex
	grant   int
	current string
	used    map[string]int // refresh token -> grant it belonged to
	revoked bool
	n       int
	calls   int
	reuses  int
}

func newRotatingServer(first string) *rotatingServer {
	s := &rotatingServer{used: map[string]int{}}
	s.consent(first)
	return s
}

func (s *rotatingServer) consent(rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grant++
	s.current, s.revoked = rt, false
}

func (s *rotatingServer) refresh(_ context.Context, rt string) (*oauth.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	invalid := &oauth.Error{Code: "invalid_grant", StatusCode: 400}
	switch g, known := s.used[rt]; {
	case s.revoked:
		return nil, invalid
	case known && g == s.grant:
		s.reuses++
		s.revoked = true
		return nil, invalid
	case rt != s.current:
		return nil, invalid
	}
	s.used[rt] = s.grant
	s.n++
	s.current = fmt.Sprintf("rt-%d", s.n)
	tok := token(fmt.Sprintf("at-%d", s.n), time.Hour)
	tok.RefreshToken = s.current
	return tok, nil
}

func (s *rotatingServer) counts() (calls, reuses int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.reuses
}

// chained is one replica of a refresh-token binding.
type chained struct {
	*replica
	chain *Chain
	boot  Bootstrap
}

func newChained(t *testing.T, srv *redistest.Server, boot Bootstrap, edit func(o *Options)) *chained {
	t.Helper()
	r := newReplica(t, srv, scopeA, ring(t, testKey(1)), edit)
	c := &chained{replica: r, chain: r.NewChain(""), boot: boot}
	t.Cleanup(c.chain.Close)
	return c
}

// refresh is what the sidecar does at a refresh point: anything but the
// token it has (have) is fresh; otherwise the chain refreshes under the lock.
func (c *chained) refresh(ctx context.Context, have string, call RefreshFunc) (*Filled, error) {
	fresh := func(t *oauth.Token) bool { return t.AccessToken != have && t.Valid(time.Now()) }
	return c.Fill(ctx, "", fresh, func(ctx context.Context, lease *Lease, _ *oauth.Token) (*oauth.Token, error) {
		return c.chain.Refresh(ctx, lease, c.boot, call)
	})
}

func waitCode(t *testing.T, err error, code string) {
	t.Helper()
	var we *WaitError
	if !errors.As(err, &we) || we.Code != code || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want a WaitError %s (not ErrUnavailable: the caller must not fall back)", err, code)
	}
}

var boot0 = Bootstrap{Token: "rt-0", Origin: "consent-0"}

// Replicas taking turns refresh with the newest refresh token every time:
// the server never sees one twice, and the store's entry is unclaimed
// between refreshes.
func TestChainRotatesAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	as := newRotatingServer("rt-0")
	rs := []*chained{newChained(t, srv, boot0, nil), newChained(t, srv, boot0, nil), newChained(t, srv, boot0, nil)}
	have := ""
	for i := range 9 {
		f, err := rs[i%3].refresh(ctx, have, as.refresh)
		if err != nil || f.PublishErr != nil {
			t.Fatalf("refresh %d on replica %d: %+v, %v", i+1, i%3, f, err)
		}
		if want := fmt.Sprintf("at-%d", i+1); f.Token.AccessToken != want {
			t.Fatalf("refresh %d got %s, want %s", i+1, f.Token.AccessToken, want)
		}
		have = f.Token.AccessToken
	}
	if calls, reuses := as.counts(); calls != 9 || reuses != 0 {
		t.Fatalf("%d calls, %d reuses; want 9 and 0", calls, reuses)
	}
	st, _, err := rs[0].Refresh(ctx, "")
	if err != nil || st.Token != "rt-9" || st.Claim != 0 || st.Origin != boot0.Origin {
		t.Fatalf("store entry %+v, %v", st, err)
	}
}

// The holder loses the store between sending the refresh token and writing
// the rotated one, and the store keeps its data. The claim in the store
// stops the other replica from sending the retired token; the holder keeps
// refreshing alone and writes back once it reaches the store again.
func TestChainHolderCutOffAtRotation(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	as := newRotatingServer("rt-0")
	p := srv.Proxy(t)
	a := newChained(t, srv, boot0, func(o *Options) { short(o); o.Addr = p.Addr; o.WriteBackInterval = 20 * time.Millisecond })
	b := newChained(t, srv, boot0, short)

	f, err := b.refresh(ctx, "", as.refresh)
	if err != nil || f.Token.AccessToken != "at-1" {
		t.Fatalf("seed: %+v, %v", f, err)
	}
	cutDuringCall := func(ctx context.Context, rt string) (*oauth.Token, error) {
		p.Cut()
		return as.refresh(ctx, rt)
	}
	f, err = a.refresh(ctx, "at-1", cutDuringCall)
	if err != nil || f.Token.AccessToken != "at-2" || !errors.Is(f.PublishErr, ErrUnavailable) || !a.chain.Unwritten() {
		t.Fatalf("a's refresh: %+v, %v, unwritten %v", f, err, a.chain.Unwritten())
	}

	// b waits out a's lock (it could not release it), then finds the claim.
	_, err = b.refresh(ctx, "at-1", as.refresh)
	waitCode(t, err, CodeInUse)
	_, err = b.chain.RefreshLocal(ctx, as.refresh)
	waitCode(t, err, CodeStoreNeeded)
	if calls, _ := as.counts(); calls != 2 {
		t.Fatalf("%d token calls, want 2: b sent something", calls)
	}

	// a, cut off, falls back to refreshing alone with what it holds.
	if _, err := a.refresh(ctx, "at-2", as.refresh); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a through the cut: %v", err)
	}
	tok, err := a.chain.RefreshLocal(ctx, as.refresh)
	if err != nil || tok.AccessToken != "at-3" {
		t.Fatalf("a refreshing alone: %v, %v", tok, err)
	}

	p.Restore()
	eventually(t, "a writes back", func() bool {
		st, _, err := b.Refresh(ctx, "")
		return err == nil && st != nil && st.Token == "rt-3" && st.Claim == 0
	})
	f, err = b.refresh(ctx, "at-1", as.refresh)
	if err != nil || f.Token.AccessToken != "at-4" {
		t.Fatalf("b after the write-back: %+v, %v", f, err)
	}
	if calls, reuses := as.counts(); calls != 4 || reuses != 0 {
		t.Fatalf("%d calls, %d reuses; want 4 and 0", calls, reuses)
	}
	if a.logs.FilterMessageSnippet("could not write the refresh token").Len() != 1 ||
		a.logs.FilterMessageSnippet("refresh token written back to").Len() != 1 ||
		b.logs.FilterMessageSnippet("has not written back").Len() != 1 {
		t.Fatalf("want one log line per change; a: %v b: %v", a.logs.All(), b.logs.All())
	}
}

// The store restarts empty while the holder of the newest refresh token is
// cut off from it. Another replica recognises the loss by its fence counter
// going back, writes back what it holds, and refreshes only after Settle and
// once an entry as new as the newest it had seen is back: the holder's.
func TestChainStoreLostItsData(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	as := newRotatingServer("rt-0")
	p := srv.Proxy(t)
	clock := testutil.NewClock(time.Now())
	a := newChained(t, srv, boot0, func(o *Options) { short(o); o.Addr = p.Addr; o.WriteBackInterval = 20 * time.Millisecond })
	b := newChained(t, srv, boot0, func(o *Options) { short(o); o.Now = clock.Now })

	for i, r := range []*chained{b, a, b} { // fences climb; b sees the newest token entry
		if _, err := r.refresh(ctx, fmt.Sprintf("at-%d", i), as.refresh); err != nil {
			t.Fatal(err)
		}
	}
	if tok, fence, err := b.Token(ctx, ""); err != nil || tok.AccessToken != "at-3" {
		t.Fatalf("%v %v", tok, err)
	} else {
		b.chain.Observe(fence)
	}
	f, err := a.refresh(ctx, "at-3", func(ctx context.Context, rt string) (*oauth.Token, error) {
		p.Cut()
		return as.refresh(ctx, rt)
	})
	if err != nil || f.Token.AccessToken != "at-4" || !a.chain.Unwritten() {
		t.Fatalf("a's refresh: %+v, %v", f, err)
	}
	srv.Stop()
	srv.Restart()

	_, err = b.refresh(ctx, "at-3", as.refresh)
	waitCode(t, err, CodeRecovering)
	eventually(t, "b writes back what it holds", func() bool { rt, _, _ := refreshOf(ctx, b.Store, ""); return rt == "rt-3" })
	_, err = b.refresh(ctx, "at-3", as.refresh)
	waitCode(t, err, CodeRecovering) // Settle has not passed on b's clock

	p.Restore()
	eventually(t, "a writes back the newest", func() bool { rt, _, _ := refreshOf(ctx, b.Store, ""); return rt == "rt-4" })
	clock.Advance(DefaultSettle)
	f, err = b.refresh(ctx, "at-3", as.refresh)
	if err != nil || f.Token.AccessToken != "at-5" {
		t.Fatalf("b after the recovery: %+v, %v", f, err)
	}
	if calls, reuses := as.counts(); calls != 5 || reuses != 0 {
		t.Fatalf("%d calls, %d reuses; want 5 and 0", calls, reuses)
	}
	if b.logs.FilterMessageSnippet("lost its data").Len() != 1 {
		t.Fatalf("want one loss log line: %v", b.logs.All())
	}
}

// When the chain's refresh token is refused and the Secret holds another
// consent, the chain starts over from the Secret's; when the Secret holds
// the consent the chain descends from, its token is retired and is never
// sent (that would be a reuse).
func TestChainNewConsentInTheSecret(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	as := newRotatingServer("rt-0")
	a := newChained(t, srv, boot0, nil)
	if _, err := a.refresh(ctx, "", as.refresh); err != nil {
		t.Fatal(err)
	}
	as.consent("fresh-consent") // the old grant ends; a person consented again

	// The Secret still holds the old consent: the refusal is final.
	if _, err := a.refresh(ctx, "at-1", as.refresh); err == nil {
		t.Fatal("a revoked chain refreshed")
	}
	if calls, _ := as.counts(); calls != 2 {
		t.Fatalf("%d calls, want 2: the retired bootstrap token was sent", calls)
	}

	a.boot = Bootstrap{Token: "fresh-consent", Origin: "consent-1"}
	f, err := a.refresh(ctx, "at-1", as.refresh)
	if err != nil || f.Token.AccessToken != "at-2" {
		t.Fatalf("after the new consent: %+v, %v", f, err)
	}
	st, _, err := a.Refresh(ctx, "")
	if err != nil || st.Token != "rt-2" || st.Origin != "consent-1" || st.Claim != 0 {
		t.Fatalf("store entry %+v, %v", st, err)
	}
	if _, reuses := as.counts(); reuses != 0 {
		t.Fatalf("%d reuses", reuses)
	}
}

// Two scope sets of one provider are two token caches with their own
// entries and locks, and one rotating refresh token between them. While
// replica a refreshes scope set A through the chain, replica b's refresh
// of scope set B waits for the chain's lock instead of sending the refresh
// token a just sent: the server never sees one twice, and B's token comes
// from the rotated one.
func TestChainSharedByScopeSets(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := ctxT(t)
	as := newRotatingServer("rt-0")
	chainSubject := Sourced("", "refresh-token-of", "p")
	subjA, subjB := Sourced("", "scopes", "a"), Sourced("", "scopes", "b")
	a := newReplica(t, srv, scopeA, ring(t, testKey(1)), nil)
	b := newReplica(t, srv, scopeA, ring(t, testKey(1)), nil)
	chainA, chainB := a.NewChain(chainSubject), b.NewChain(chainSubject)
	t.Cleanup(chainA.Close)
	t.Cleanup(chainB.Close)

	aSent, bReached := make(chan struct{}), make(chan struct{}, 1)
	aCall := func(ctx context.Context, rt string) (*oauth.Token, error) {
		tok, err := as.refresh(ctx, rt)
		close(aSent)
		// Hold the chain until b either waits for it or (wrongly) reaches
		// the server.
		select {
		case <-b.m.waited:
		case <-bReached:
		case <-ctx.Done():
		}
		return tok, err
	}
	bCall := func(ctx context.Context, rt string) (*oauth.Token, error) {
		select {
		case bReached <- struct{}{}:
		default:
		}
		return as.refresh(ctx, rt)
	}
	fill := func(r *replica, c *Chain, subject string, call RefreshFunc) (*Filled, error) {
		return r.Fill(ctx, subject, nil, func(ctx context.Context, lease *Lease, _ *oauth.Token) (*oauth.Token, error) {
			return c.Refresh(ctx, lease, boot0, call)
		})
	}
	type result struct {
		f   *Filled
		err error
	}
	aDone := make(chan result, 1)
	go func() {
		f, err := fill(a, chainA, subjA, aCall)
		aDone <- result{f, err}
	}()
	<-aSent
	fb, errB := fill(b, chainB, subjB, bCall)
	ra := <-aDone
	if ra.err != nil || errB != nil {
		t.Fatalf("a: %v, b: %v", ra.err, errB)
	}
	if calls, reuses := as.counts(); calls != 2 || reuses != 0 {
		t.Fatalf("%d calls, %d reuses; want 2 and 0 (b sent the refresh token a had just sent)", calls, reuses)
	}
	if ra.f.Token.AccessToken != "at-1" || fb.Token.AccessToken != "at-2" {
		t.Fatalf("a got %s, b got %s; want at-1 and at-2", ra.f.Token.AccessToken, fb.Token.AccessToken)
	}
	for _, c := range []struct{ subject, want string }{{subjA, "at-1"}, {subjB, "at-2"}} {
		if tok, _, err := a.Token(ctx, c.subject); err != nil || tok == nil || tok.AccessToken != c.want {
			t.Errorf("the store's token for %q: %v, %v; want %s", c.subject, tok, err, c.want)
		}
	}
	st, _, err := a.Refresh(ctx, chainSubject)
	if err != nil || st == nil || st.Token != "rt-2" || st.Claim != 0 {
		t.Fatalf("the chain's refresh token in the store: %+v, %v; want rt-2, unclaimed", st, err)
	}
}
