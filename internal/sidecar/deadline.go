package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// afterFunc schedules f to run once d has passed and returns a stop
// function with time.Timer.Stop's meaning. It is the real-time seam of the
// request path: tests fire deadlines by hand instead of waiting for them.
type afterFunc func(d time.Duration, f func()) (stop func() bool)

func realAfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// deadlineQueue bounds many concurrent operations by one fixed timeout d
// with a single timer. Every operation waits the same d, so they expire in
// the order they started: the queue is first-in first-out and its head is
// always the next to expire. The timer is armed for the head only; an
// operation that finishes first is unlinked and the timer left alone, and
// when it fires for an operation that is gone it re-arms for the new head.
// Starting and finishing an operation is one lock and a few pointer
// updates: no timer, closure or goroutine per request, and at a steady rate
// the timer wakes the process about once per d instead of being created
// and stopped per request.
//
// Each outcome is decided under the queue's lock, so a deadline that
// passes while the operation completes is reported as expired rather than
// racing, and once finish has returned expire is never called for it.
type deadlineQueue struct {
	d      time.Duration
	after  afterFunc
	now    func() time.Time
	expire func(*deadlineEntry)
	fireFn func() // q.fire, bound once

	mu         sync.Mutex
	head, tail *deadlineEntry
	// armedFor is the entry the pending timer was armed for; nil when no
	// timer is pending, which happens only while the queue is empty, and
	// noEntry once that entry has finished (it may be restarted, and the
	// timer must not count as its new deadline).
	armedFor *deadlineEntry
}

// noEntry stands for "a timer is pending but its entry finished".
var noEntry = new(deadlineEntry)

// deadlineEntry is one operation in a deadlineQueue. It lives in the
// operation's own state (no allocation) and may be reused once finished.
type deadlineEntry struct {
	prev, next      *deadlineEntry
	at              time.Time
	queued, expired bool
	// What expire acts on: the operation's context, or the connection
	// whose read must stop.
	cancel context.CancelCauseFunc
	w      http.ResponseWriter
}

func newDeadlineQueue(d time.Duration, after afterFunc, expire func(*deadlineEntry)) *deadlineQueue {
	q := &deadlineQueue{d: d, after: after, now: time.Now, expire: expire}
	q.fireFn = q.fire
	return q
}

// start puts e at the tail; e expires d from now unless finish comes first.
func (q *deadlineQueue) start(e *deadlineEntry) {
	at := q.now().Add(q.d)
	q.mu.Lock()
	defer q.mu.Unlock()
	e.at, e.expired, e.queued = at, false, true
	e.prev, e.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = e
	} else {
		q.head = e
	}
	q.tail = e
	if q.armedFor == nil {
		// No timer pending means the queue was empty: e is the head.
		q.armedFor = e
		q.after(q.d, q.fireFn)
	}
}

// finish ends e and reports whether its deadline passed first.
func (q *deadlineQueue) finish(e *deadlineEntry) (expired bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.queued {
		q.unlink(e)
	}
	if e == q.armedFor {
		q.armedFor = noEntry
	}
	return e.expired
}

func (q *deadlineQueue) unlink(e *deadlineEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next, e.queued = nil, nil, false
}

// fire runs when the timer armed for q.armedFor goes off. That entry, if
// it has not finished since, is the head (it was the head when armed and
// only younger ones were added since) and expires whatever the clock says,
// so a test's hand-fired timer means "d has passed"; every other entry,
// including one finished and started again, expires when the clock says it
// is due. Then the timer is re-armed for the new head.
func (q *deadlineQueue) fire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	target := q.armedFor
	q.armedFor = nil
	now := q.now()
	for e := q.head; e != nil && (e == target || !e.at.After(now)); e = q.head {
		q.unlink(e)
		e.expired = true
		q.expire(e)
	}
	if q.head != nil {
		q.armedFor = q.head
		q.after(max(q.head.at.Sub(now), 0), q.fireFn)
	}
}

var errHeaderTimeout = errors.New("upstream response header timeout")

// headerTimeout bounds the wait for the upstream's response headers. It is
// deliberately not a whole-request timeout: once headers arrive the body may
// stream for as long as the partner sends it (server-sent events, exports).
// It is applied per attempt, so a 401 replay gets its own budget. The clock
// starts before the connection is taken or dialled and covers writing the
// request, as the documented setting says ("the partner has
// responseHeaderTimeout to start answering");
// http.Transport.ResponseHeaderTimeout would start only once the request is
// written, so a partner that stops reading an upload would hold it forever.
type headerTimeout struct {
	next    http.RoundTripper
	pending *deadlineQueue
}

func newHeaderTimeout(next http.RoundTripper, d time.Duration, after afterFunc) *headerTimeout {
	return &headerTimeout{next: next, pending: newDeadlineQueue(d, after, func(e *deadlineEntry) { e.cancel(errHeaderTimeout) })}
}

// roundTrip sends req, which must be the sidecar's own outbound request:
// its context is replaced in place (a copy would cost an allocation per
// request) by one derived from base that the deadline can cancel, carrying
// trace when there is one. e is the caller's deadline slot.
func (h *headerTimeout) roundTrip(req *http.Request, base context.Context, trace *clientTrace, e *deadlineEntry) (*http.Response, error) {
	// The context must outlive this call because it also governs reading
	// the body; it ends with the app's request.
	ctx, cancel := context.WithCancelCause(base)
	if trace != nil {
		ctx = trace.with(ctx)
	}
	*req = *req.WithContext(ctx)
	e.cancel = cancel
	h.pending.start(e)
	resp, err := h.next.RoundTrip(req)
	if h.pending.finish(e) {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, &proxyError{status: http.StatusGatewayTimeout, code: "upstream_timeout",
			detail: fmt.Sprintf("%s sent no response headers within %s (upstream.responseHeaderTimeout)", req.URL.Host, h.pending.d)}
	}
	if err != nil {
		cancel(err)
		return nil, err
	}
	return resp, nil
}
