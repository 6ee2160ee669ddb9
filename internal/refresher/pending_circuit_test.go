package refresher

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

func wantPendingLimit(t *testing.T, h *harness, subject string) {
	t.Helper()
	if _, err := h.c.Token(context.Background(), subject); !errors.As(err, new(*PendingLimitError)) {
		t.Fatalf("Token(%s) with the pending table full: err = %v, want PendingLimitError", subject, err)
	}
}

// TestPendingRefusalIsNoFailure: callers refused by MaxPending made no token
// call, so they neither count as failures for the binding's circuit nor use
// up its rate limit, and a pending subject's own failure (the subscriber
// refused, an unknown login hint) holds no other subject back: once its slot
// is free, the next subject's fetch starts at once.
func TestPendingRefusalIsNoFailure(t *testing.T) {
	for _, code := range []string{"access_denied", "unknown_user_id", "expired_login_hint_token"} {
		t.Run(code, func(t *testing.T) {
			// RateLimit 1 allows a burst of 2: the pending fetch and the
			// next subject's, if refusals spend nothing.
			h := newHarness(t, Options{MaxSubjects: 4, MaxPending: 1, RateLimit: 1})
			busy := h.occupyPending(t, "tel:+34600000001")
			for i := range 5 {
				wantPendingLimit(t, h, fmt.Sprintf("tel:+3460000010%d", i))
			}
			select {
			case ev := <-h.events:
				t.Fatalf("a refused caller produced an event: %+v", ev)
			default:
			}
			busy.answer(nil, &oauth.Error{StatusCode: 400, Code: code})
			if ev := h.event(t); ev.Scope != ScopeSubject {
				t.Fatalf("%s: event scope = %v, want ScopeSubject", code, ev.Scope)
			}
			ch := h.tokenAsync(context.Background(), "tel:+34600000100")
			tok := tokenFor("next", t0, time.Hour)
			h.fetch.next(t).answer(tok, nil)
			if r := recv(t, ch); r.err != nil || r.tok != tok {
				t.Fatalf("the next subject after %s: %v, %v; want its token at once", code, r.tok, r.err)
			}
			if ev := h.event(t); ev.Changed {
				t.Fatalf("the next subject's success reports a recovery: %+v", ev)
			}
			h.fetch.noMore(t, 2)
		})
	}
}

// TestPendingRefusalKeepsTheProbe: while the circuit is open, a waiting
// caller refused by MaxPending does not use up the early probe, so the
// client-level token (outside the pending table) still probes at once.
func TestPendingRefusalKeepsTheProbe(t *testing.T) {
	h := newHarness(t, Options{MaxSubjects: 4, MaxPending: 1, MinBackoff: time.Minute, MaxBackoff: time.Minute})
	busy := h.occupyPending(t, "tel:+34600000001")
	ch := h.tokenAsync(context.Background(), "")
	h.fetch.next(t).answer(nil, &oauth.Error{StatusCode: 503, Code: "http_503"})
	if ev := h.event(t); ev.Scope != ScopeBinding {
		t.Fatalf("503: event scope = %v, want ScopeBinding", ev.Scope)
	}
	recv(t, ch)

	h.clock.Set(t0.Add(DefaultProbeInterval))
	wantPendingLimit(t, h, "tel:+34600000002")
	ch = h.tokenAsync(context.Background(), "")
	tok := tokenFor("back", h.clock.Now(), time.Hour)
	select {
	case r := <-ch:
		t.Fatalf("client-level Token when a probe is due: %v, %v; want a probe", r.tok, r.err)
	case req := <-h.fetch.reqs:
		req.answer(tok, nil)
	case <-time.After(guard):
		t.Fatal("client-level Token neither probed nor returned")
	}
	if r := recv(t, ch); r.err != nil || r.tok != tok {
		t.Fatalf("client-level probe after a pending refusal: %v, %v; want the probe's token", r.tok, r.err)
	}
	if ev := h.event(t); ev.Scope != ScopeBinding || !ev.Changed {
		t.Fatalf("probe success: %+v, want the binding's recovery", ev)
	}
	busy.answer(nil, &oauth.Error{StatusCode: 400, Code: "expired_token"})
	h.event(t)
	h.fetch.noMore(t, 3)
}
