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

// deadline runs expire once, d after it starts, unless finish comes first.
// The outcome is decided under one lock, so a deadline that fires while the
// guarded operation completes is reported as expired rather than racing.
type deadline struct {
	mu            sync.Mutex
	done, expired bool
	stop          func() bool
}

func startDeadline(after afterFunc, d time.Duration, expire func()) *deadline {
	x := &deadline{}
	x.stop = after(d, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if !x.done {
			x.expired = true
			expire()
		}
	})
	return x
}

// finish ends the deadline and reports whether it expired first. Once
// finish has returned, expire never runs.
func (x *deadline) finish() (expired bool) {
	x.stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.done = true
	return x.expired
}

var errHeaderTimeout = errors.New("upstream response header timeout")

// headerTimeout bounds the wait for the upstream's response headers. It is
// deliberately not a whole-request timeout: once headers arrive the body may
// stream for as long as the partner sends it (server-sent events, exports).
// It is applied per attempt, so a 401 replay gets its own budget.
type headerTimeout struct {
	next  http.RoundTripper
	d     time.Duration
	after afterFunc
}

func (h *headerTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	// The context must outlive this call because it also governs reading
	// the body; it ends with the app's request.
	ctx, cancel := context.WithCancelCause(req.Context())
	dl := startDeadline(h.after, h.d, func() { cancel(errHeaderTimeout) })
	resp, err := h.next.RoundTrip(req.WithContext(ctx))
	if dl.finish() {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, &proxyError{status: http.StatusGatewayTimeout, code: "upstream_timeout",
			detail: fmt.Sprintf("%s sent no response headers within %s (upstream.responseHeaderTimeout)", req.URL.Host, h.d)}
	}
	if err != nil {
		cancel(err)
		return nil, err
	}
	return resp, nil
}
