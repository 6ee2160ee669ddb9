package refresher

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// fakeShared is a SharedLevel with the contract's behaviour and no store: a
// token fresh accepts is served without a call, anything else is fetched
// and kept for the next replica. It counts what the Cache asked of it.
type fakeShared struct {
	mu     sync.Mutex
	tokens map[string]*oauth.Token
	gets   int
	err    error // returned instead of anything, when set
}

func newFakeShared() *fakeShared { return &fakeShared{tokens: map[string]*oauth.Token{}} }

func (f *fakeShared) Get(ctx context.Context, subject string, prev *oauth.Token, fresh func(*oauth.Token) bool, fetch FetchFunc) (*oauth.Token, Source, error) {
	f.mu.Lock()
	f.gets++
	tok, err := f.tokens[subject], f.err
	f.mu.Unlock()
	if err != nil {
		return nil, SourceShared, err
	}
	if tok != nil && fresh(tok) {
		return tok, SourceShared, nil
	}
	tok, err = fetch(ctx, subject, prev)
	if err == nil {
		f.mu.Lock()
		f.tokens[subject] = tok
		f.mu.Unlock()
	}
	return tok, SourceFetch, err
}

func (f *fakeShared) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

// Two replicas behind one shared level: the second is served the first's
// token without a token call, a local hit never asks the shared level, and
// at the refresh point only the replica that gets there first fetches.
func TestSharedLevelSecondReplicaNeedsNoFetch(t *testing.T) {
	shared := newFakeShared()
	o := Options{Shared: shared, Before: 10 * time.Second}
	a, b := newHarness(t, o), newHarness(t, o)
	b.clock = a.clock
	b.c.o.Now = a.clock.Now
	ctx := context.Background()

	a.seed(t, "", tokenFor("t1", t0, time.Minute))
	if r := recv(t, b.tokenAsync(ctx, "")); r.err != nil || r.tok.AccessToken != "t1" {
		t.Fatalf("replica b: %v, %v; want t1 from the shared level", r.tok, r.err)
	}
	if ev := b.event(t); ev.Source != SourceShared || ev.Result != ResultSuccess {
		t.Fatalf("replica b's event %+v, want a shared success", ev)
	}
	b.fetch.noMore(t, 0)
	before := shared.calls()
	for range 100 {
		if _, err := b.c.Token(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := shared.calls() - before; n != 0 {
		t.Fatalf("100 local hits made %d shared-level calls, want 0", n)
	}

	// Past the refresh point (50s) a's background refresh finds t1 in the
	// shared level, the token it already has: not fresh, so it fetches.
	a.clock.Advance(51 * time.Second)
	if r := recv(t, a.tokenAsync(ctx, "")); r.tok.AccessToken != "t1" {
		t.Fatalf("a during the refresh: %v", r.tok)
	}
	req := a.fetch.next(t)
	if req.prev == nil || req.prev.AccessToken != "t1" {
		t.Fatalf("a's fetch got prev %v, want t1", req.prev)
	}
	req.answer(tokenFor("t2", a.clock.Now(), time.Minute), nil)
	if ev := a.event(t); ev.Source != SourceFetch {
		t.Fatalf("a's refresh event %+v, want a fetch", ev)
	}
	// b's refresh finds t2: fresh, no call.
	if r := recv(t, b.tokenAsync(ctx, "")); r.tok.AccessToken != "t1" {
		t.Fatalf("b during its refresh: %v", r.tok)
	}
	if ev := b.event(t); ev.Source != SourceShared {
		t.Fatalf("b's refresh event %+v, want shared", ev)
	}
	if r := recv(t, b.tokenAsync(ctx, "")); r.tok.AccessToken != "t2" {
		t.Fatalf("b after its refresh: %v, want t2", r.tok)
	}
	b.fetch.noMore(t, 0)
}

// fresh decides whether a shared token saves a token call. A token that is
// taken must not be due at once, or every Token call would go back to the
// shared level.
func TestSharedLevelFreshness(t *testing.T) {
	prev := tokenFor("mine", t0.Add(-time.Minute), 2*time.Minute)
	tests := []struct {
		name string
		tok  *oauth.Token
		want bool
	}{
		{"newer and fresh", tokenFor("other", t0, time.Hour), true},
		{"no expiry", tokenFor("other", t0, 0), true},
		{"the token we already have", tokenFor("mine", t0, time.Hour), false},
		{"expired", tokenFor("other", t0.Add(-2*time.Hour), time.Hour), false},
		{"within the expiry skew", tokenFor("other", t0.Add(-55*time.Second), time.Minute), false},
		{"past its refresh point", tokenFor("other", t0.Add(-50*time.Minute), time.Hour), false},
		{"empty access token", &oauth.Token{Expiry: t0.Add(time.Hour)}, false},
	}
	h := newHarness(t, Options{Shared: newFakeShared(), ExpirySkew: 10 * time.Second, Before: 30 * time.Second})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.c.fresh(tt.tok, prev, 0); got != tt.want {
				t.Fatalf("fresh = %v, want %v", got, tt.want)
			}
		})
	}
	// With the largest jitter draw the refresh point comes earlier: a token
	// fresh for one draw may be due for another, and the Cache schedules
	// with the draw it tested.
	edge := tokenFor("edge", t0.Add(-47*time.Minute), time.Hour) // due about 1m from now with r=0, 20s ago with r=1
	if !h.c.fresh(edge, prev, 0) || h.c.fresh(edge, prev, 1) {
		t.Fatal("the jitter draw is not part of the freshness test")
	}
}

// Answers from the shared level cost no token call, so they must not use
// up the binding's rate limit.
func TestSharedLevelAnswersDoNotSpendTheRateLimit(t *testing.T) {
	shared := newFakeShared()
	for _, s := range []string{"u1", "u2", "u3", "u4", "u5"} {
		shared.tokens[s] = tokenFor("shared-"+s, t0, time.Hour)
	}
	h := newHarness(t, Options{Shared: shared, RateLimit: 1}) // burst 2
	ctx := context.Background()
	for _, s := range []string{"u1", "u2", "u3", "u4", "u5"} {
		if r := recv(t, h.tokenAsync(ctx, s)); r.err != nil || r.tok.AccessToken != "shared-"+s {
			t.Fatalf("%s: %v, %v", s, r.tok, r.err)
		}
		h.event(t)
	}
	ch := h.tokenAsync(ctx, "u6")
	h.fetch.next(t).answer(tokenFor("fetched", t0, time.Hour), nil)
	if r := recv(t, ch); r.err != nil {
		t.Fatalf("the first real fetch was refused after 5 shared answers: %v", r.err)
	}
}

// A shared level that refuses (a rotating refresh token it cannot vouch
// for) is a failed fetch like any other: the token in hand keeps serving
// and the failure carries the refusal's code.
func TestSharedLevelRefusalKeepsServing(t *testing.T) {
	shared := newFakeShared()
	h := newHarness(t, Options{Shared: shared, Before: 10 * time.Second})
	ctx := context.Background()
	h.seed(t, "", tokenFor("t1", t0, time.Minute))
	shared.mu.Lock()
	shared.err = codedErr{"shared_cache_unavailable"}
	shared.mu.Unlock()
	h.clock.Advance(51 * time.Second)
	if r := recv(t, h.tokenAsync(ctx, "")); r.err != nil || r.tok.AccessToken != "t1" {
		t.Fatalf("during the refused refresh: %v, %v", r.tok, r.err)
	}
	ev := h.event(t)
	if code, _ := FailureCode(ev.Err); ev.Result != ResultError || ev.Source != SourceShared || code != "shared_cache_unavailable" {
		t.Fatalf("event %+v (code %q)", ev, code)
	}
	if r := recv(t, h.tokenAsync(ctx, "")); r.err != nil || r.tok.AccessToken != "t1" {
		t.Fatalf("after the refusal: %v, %v", r.tok, r.err)
	}
	h.clock.Advance(10 * time.Second) // past the expiry
	var ue *UnavailableError
	if r := recv(t, h.tokenAsync(ctx, "")); !errors.As(r.err, &ue) {
		t.Fatalf("after the expiry: %v, %v; want UnavailableError", r.tok, r.err)
	}
	h.fetch.noMore(t, 1)
}

type codedErr struct{ code string }

func (e codedErr) Error() string       { return "refused: " + e.code }
func (e codedErr) FailureCode() string { return e.code }

func TestCurrent(t *testing.T) {
	h := newHarness(t, Options{})
	if h.c.Current("") != nil || h.c.Current("u") != nil {
		t.Fatal("Current on an empty cache")
	}
	h.seed(t, "u", tokenFor("t", t0, time.Minute))
	if tok := h.c.Current("u"); tok == nil || tok.AccessToken != "t" {
		t.Fatalf("Current = %v", tok)
	}
	h.clock.Advance(2 * time.Minute)
	if h.c.Current("u") != nil {
		t.Fatal("Current returned an expired token")
	}
}

// MinInterval bounds token calls. A token taken from the shared level cost
// none, so it must not hold back this replica's own fetch when that token
// comes due, or callers would be left without one.
func TestSharedLevelAnswersDoNotRaiseTheFloor(t *testing.T) {
	shared := newFakeShared()
	shared.tokens[""] = tokenFor("theirs", t0, 4*time.Second)
	h := newHarness(t, Options{Shared: shared, MinInterval: time.Minute})
	ctx := context.Background()
	if r := recv(t, h.tokenAsync(ctx, "")); r.err != nil || r.tok.AccessToken != "theirs" {
		t.Fatalf("%v, %v", r.tok, r.err)
	}
	h.event(t)
	h.clock.Advance(5 * time.Second) // expired
	ch := h.tokenAsync(ctx, "")
	h.fetch.next(t).answer(tokenFor("mine", h.clock.Now(), time.Hour), nil)
	if r := recv(t, ch); r.err != nil || r.tok.AccessToken != "mine" {
		t.Fatalf("after the shared token expired: %v, %v", r.tok, r.err)
	}
}
