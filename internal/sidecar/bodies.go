package sidecar

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultBodyBudget bounds buffered bodies when the container's memory limit
// is unknown (the sidecar runs outside Kubernetes).
const DefaultBodyBudget = 64 << 20

// bodyBudgetShare is the part of the memory limit buffered bodies may hold.
// The rest is for the Go runtime, connection buffers, the copies signing and
// form placement make, and the garbage collector's headroom.
const bodyBudgetShare = 4

// BodyBudget returns the bytes that buffered request bodies may hold at once
// in a container with the given memory limit (0 when unknown).
func BodyBudget(memoryLimit int64) int64 {
	if memoryLimit <= 0 {
		return DefaultBodyBudget
	}
	return memoryLimit / bodyBudgetShare
}

func budgetSource(memoryLimit int64) string {
	if memoryLimit <= 0 {
		return "the default when the memory limit is unknown"
	}
	return fmt.Sprintf("a quarter of the %d byte memory limit", memoryLimit)
}

// bodyBuffer reads the request bodies a signature or the token placement
// covers. Those must stay in memory until the partner answers (a 401 replays
// them), so it bounds two things a misbehaving app could otherwise push
// without limit: the bytes held across all bindings at once (a weighted
// semaphore; an OOM kill would lose every cached token) and the time one
// body may take to arrive (a trickled body would hold its share forever).
type bodyBuffer struct {
	budget *semaphore.Weighted
	size   int64
	reads  *deadlineQueue
}

func newBodyBuffer(size int64, timeout time.Duration, after afterFunc) *bodyBuffer {
	return &bodyBuffer{budget: semaphore.NewWeighted(size), size: size,
		reads: newDeadlineQueue(timeout, after, func(e *deadlineEntry) {
			_ = http.NewResponseController(e.w).SetReadDeadline(readDeadlinePast)
		})}
}

// readDeadlinePast is any instant in the past: setting it as the read
// deadline makes a blocked read return at once.
var readDeadlinePast = time.Unix(1, 0)

// read buffers r's body of at most limit bytes; dl is the request's
// deadline slot. The caller must call release once the body is no longer
// needed (after the upstream round trip).
func (bb *bodyBuffer) read(w http.ResponseWriter, r *http.Request, limit int64, dl *deadlineEntry) (body []byte, release func(), err error) {
	if r.ContentLength > limit {
		return nil, nil, errBodyTooLarge(limit)
	}
	// Reserve the worst case before reading: the declared length, or the
	// limit for a chunked body; the surplus is returned once it is known.
	reserved := limit
	if r.ContentLength >= 0 {
		reserved = r.ContentLength
	}
	if !bb.budget.TryAcquire(reserved) {
		return nil, nil, &proxyError{status: http.StatusServiceUnavailable, code: "body_buffer_full", retryAfter: time.Second,
			detail: fmt.Sprintf("the sidecar is already buffering its limit of %d bytes of signed request bodies; retry shortly", bb.size)}
	}
	dl.w = w
	bb.reads.start(dl)
	body, err = readBody(r, limit)
	if bb.reads.finish(dl) {
		bb.budget.Release(reserved)
		return nil, nil, &proxyError{status: http.StatusRequestTimeout, code: "body_timeout",
			detail: fmt.Sprintf("the request body did not arrive within bodyReadTimeout (%s); it must be buffered because the sidecar signs it or rewrites its form parameters", bb.reads.d)}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	if err != nil {
		bb.budget.Release(reserved)
		return nil, nil, err
	}
	if held := int64(len(body)); held < reserved {
		bb.budget.Release(reserved - held)
		reserved = held
	}
	return body, func() { bb.budget.Release(reserved) }, nil
}

// readBody reads into a buffer of the declared size when there is one, so a
// 1 MiB body costs 1 MiB and not the doublings io.ReadAll goes through.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength >= 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, errBodyRead(err)
		}
		return buf, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errBodyRead(err)
	}
	if int64(len(data)) > limit {
		return nil, errBodyTooLarge(limit)
	}
	return data, nil
}

func errBodyRead(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("the app closed the body before Content-Length bytes arrived")
	}
	return newProxyError(http.StatusBadRequest, "body_read_failed", "reading the request body: "+err.Error())
}

func errBodyTooLarge(limit int64) error {
	return newProxyError(http.StatusRequestEntityTooLarge, "body_too_large",
		fmt.Sprintf("the request body exceeds pop.maxBodyBytes (%d bytes); it must be buffered because the sidecar signs it or rewrites its form parameters", limit))
}
