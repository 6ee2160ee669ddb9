package refresher

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// askPending asks for subject's token while its fetch is (or becomes)
// pending and checks the caller is told so after WaitLimit. newFetch says
// whether this call must start a fetch; the fetch request is returned.
func (h *harness) askPending(t *testing.T, subject string, newFetch bool) fetchReq {
	t.Helper()
	ch := h.tokenAsync(context.Background(), subject)
	var req fetchReq
	if newFetch {
		req = h.fetch.next(t)
		if req.subject != subject {
			t.Fatalf("fetch for %q, want %q", req.subject, subject)
		}
	}
	h.timers.next(t).fire()
	r := recv(t, ch)
	var ue *UnavailableError
	if !errors.As(r.err, &ue) || !ue.Pending {
		t.Fatalf("Token(%q) = %v, %v; want UnavailableError{Pending: true}", subject, r.tok, r.err)
	}
	return req
}

// occupyPending starts a fetch for subject whose caller leaves at once, so
// it holds a pending slot until the test answers it.
func (h *harness) occupyPending(t *testing.T, subject string) fetchReq {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := h.tokenAsync(ctx, subject)
	req := h.fetch.next(t)
	cancel()
	recv(t, gaveUp)
	return req
}

// cached returns subject's token and fails if getting it needed a fetch or
// a wait: it must come straight from the cache.
func (h *harness) cached(t *testing.T, subject string) *oauth.Token {
	t.Helper()
	ch := h.tokenAsync(context.Background(), subject)
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Token(%q) = %v, want a cached token", subject, r.err)
		}
		return r.tok
	case req := <-h.fetch.reqs:
		t.Fatalf("Token(%q) started a fetch (for %q) instead of using the cached token", subject, req.subject)
	case <-h.timers.reqs:
		t.Fatalf("Token(%q) waits for a fetch instead of using the cached token", subject)
	case <-time.After(guard):
		t.Fatalf("Token(%q) did not return", subject)
	}
	return nil
}

// TestPendingIsNotEvicted: a subject whose fetch (a CIBA authorization) is in
// flight stays reachable however many other subjects pass through the LRU,
// so asking again joins it instead of starting a second authorization (a
// second consent prompt), and its result is kept when it arrives.
func TestPendingIsNotEvicted(t *testing.T) {
	h := newHarness(t, Options{MaxSubjects: 2, WaitLimit: 30 * time.Second})
	var reqs []fetchReq
	for i := range 5 {
		reqs = append(reqs, h.askPending(t, fmt.Sprintf("user-%d", i), true))
	}
	// user-0 went through the LRU first; asking again must join its fetch.
	h.askPending(t, "user-0", false)
	h.fetch.noMore(t, 5)

	tok := tokenFor("approved-0", t0, time.Hour)
	reqs[0].answer(tok, nil)
	h.event(t)
	if got := h.cached(t, "user-0"); got != tok {
		t.Fatalf("Token(user-0) after approval = %v, want the approved token", got)
	}
	h.fetch.noMore(t, 5)
	for _, r := range reqs[1:] {
		r.answer(nil, errors.New("expired_token"))
		h.event(t)
	}
}

// TestMaxPending: 40 distinct subjects with 4 LRU slots and at most 8
// fetches in flight start exactly 8 fetches; the other 32 callers get a
// PendingLimitError at once. A finished fetch (approved or failed) frees its
// slot, and its token is served without another fetch.
func TestMaxPending(t *testing.T) {
	const maxPending = 8
	h := newHarness(t, Options{MaxSubjects: 4, MaxPending: maxPending, WaitLimit: 30 * time.Second})
	reqs := map[string]fetchReq{}
	for i := range 40 {
		s := fmt.Sprintf("tel:+3460000%04d", i)
		if i < maxPending {
			reqs[s] = h.askPending(t, s, true)
			continue
		}
		_, err := h.c.Token(context.Background(), s)
		var pl *PendingLimitError
		if !errors.As(err, &pl) || pl.Limit != maxPending || pl.RetryAfter < time.Second {
			t.Fatalf("Token(%s) with %d pending: err = %v, want PendingLimitError{Limit: %d, RetryAfter >= 1s}", s, maxPending, err, maxPending)
		}
		var ue *UnavailableError
		if errors.As(err, &ue) {
			t.Fatalf("PendingLimitError must not look like a token-endpoint failure: %v", err)
		}
	}
	h.fetch.noMore(t, maxPending)
	if n := h.c.Pending(); n != maxPending {
		t.Fatalf("Pending() = %d, want %d", n, maxPending)
	}
	// Every pending subject can still be asked about without a new fetch.
	for s := range reqs {
		h.askPending(t, s, false)
	}
	h.fetch.noMore(t, maxPending)

	approved := "tel:+34600000003"
	tok := tokenFor("approved", t0, time.Hour)
	reqs[approved].answer(tok, nil)
	h.event(t)
	failed := "tel:+34600000005"
	reqs[failed].answer(nil, &oauth.Error{StatusCode: 400, Code: "access_denied"})
	h.event(t)
	if n := h.c.Pending(); n != maxPending-2 {
		t.Fatalf("Pending() after one approval and one failure = %d, want %d", n, maxPending-2)
	}
	if got := h.cached(t, approved); got != tok {
		t.Fatalf("Token(%s) = %v, want the approved token", approved, got)
	}
	// The freed slots take new subjects.
	reqs["tel:+34600000020"] = h.askPending(t, "tel:+34600000020", true)
	reqs["tel:+34600000021"] = h.askPending(t, "tel:+34600000021", true)
	if _, err := h.c.Token(context.Background(), "tel:+34600000022"); !errors.As(err, new(*PendingLimitError)) {
		t.Fatalf("a ninth pending subject: err = %v, want PendingLimitError", err)
	}
	h.fetch.noMore(t, maxPending+2)
	for s, r := range reqs {
		if s != approved && s != failed {
			r.answer(nil, errors.New("expired_token"))
			h.event(t)
		}
	}
	if n := h.c.Pending(); n != 0 {
		t.Fatalf("Pending() after every fetch ended = %d, want 0", n)
	}
}

// TestPendingLimitKeepsServingCachedTokens: a subject with a usable token is
// served from the cache even when its refresh cannot start because the
// pending table is full.
func TestPendingLimitKeepsServingCachedTokens(t *testing.T) {
	h := newHarness(t, Options{MaxSubjects: 4, MaxPending: 1})
	tok := tokenFor("a", t0, 10*time.Minute)
	h.seed(t, "a", tok)
	busy := h.occupyPending(t, "b")
	// Past a's refresh point, before its expiry.
	h.clock.Set(t0.Add(9 * time.Minute))
	if got := h.cached(t, "a"); got != tok {
		t.Fatalf("Token(a) = %v, want the cached token", got)
	}
	h.fetch.noMore(t, 2)
	busy.answer(nil, errors.New("expired_token"))
	h.event(t)
}

// TestRefusedSubjectsDoNotEvict: subjects refused by MaxPending leave no
// entry behind, so however many of them arrive, cached tokens stay.
func TestRefusedSubjectsDoNotEvict(t *testing.T) {
	h := newHarness(t, Options{MaxSubjects: 2, MaxPending: 1})
	a, b := tokenFor("a", t0, time.Hour), tokenFor("b", t0, time.Hour)
	h.seed(t, "a", a)
	h.seed(t, "b", b)
	busy := h.occupyPending(t, "c")
	for i := range 10 {
		if _, err := h.c.Token(context.Background(), fmt.Sprintf("refused-%d", i)); !errors.As(err, new(*PendingLimitError)) {
			t.Fatalf("refused-%d: err = %v, want PendingLimitError", i, err)
		}
	}
	if h.cached(t, "a") != a || h.cached(t, "b") != b {
		t.Fatal("cached tokens changed")
	}
	h.fetch.noMore(t, 3)
	busy.answer(nil, errors.New("expired_token"))
	h.event(t)
}

// TestSubjectHerdOneFetch: callers racing for a subject nobody has asked for
// yet share one fetch, even with a single pending slot: the losers of the
// race to create its entry join the winner's fetch instead of being refused.
func TestSubjectHerdOneFetch(t *testing.T) {
	h := newHarness(t, Options{MaxSubjects: 4, MaxPending: 1})
	const callers = 50
	var results []<-chan result
	for range callers {
		results = append(results, h.tokenAsync(context.Background(), "tel:+34600000001"))
	}
	tok := tokenFor("t", t0, time.Hour)
	h.fetch.next(t).answer(tok, nil)
	for _, ch := range results {
		if r := recv(t, ch); r.err != nil || r.tok != tok {
			t.Fatalf("caller got %v, %v; want the one fetch's token", r.tok, r.err)
		}
	}
	h.event(t)
	h.fetch.noMore(t, 1)
}
