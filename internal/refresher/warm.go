package refresher

import (
	"context"
	"errors"
	"time"
)

// closedChan is always ready: a warm loop given it passes again at once.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Warm fetches subject's token in the background and keeps refreshing it
// ahead of expiry, and again after an Invalidate, until ctx ends or the Cache
// is closed. It returns at once; Ready reports when the first token is in.
// The sidecar warms the client-level token ("") so that /startup passes
// before the first request and requests never wait on a routine refresh.
// Failed fetches are retried at the backoff deadline.
func (c *Cache) Warm(ctx context.Context, subject string) {
	c.goBackground(func() { c.warmLoop(ctx, subject) })
}

func (c *Cache) warmLoop(ctx context.Context, subject string) {
	for {
		changed, wake := c.warmStep(ctx, subject)
		var timer <-chan time.Time
		stop := func() bool { return false }
		if wake > 0 {
			timer, stop = c.after(wake)
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-c.done:
			stop()
			return
		case <-changed:
			stop()
		case <-timer:
		}
	}
}

// warmStep starts a fetch if one is due and says what to wait for next: the
// entry's change signal (a fetch finishing, an Invalidate) and, if wake > 0,
// a timer for the backoff deadline or the refresh point.
func (c *Cache) warmStep(ctx context.Context, subject string) (changed <-chan struct{}, wake time.Duration) {
	// Re-resolved on every pass: a per-user entry may have been evicted.
	e := c.entry(subject)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.o.Now()
	usable := e.usableLocked(now)
	due := !usable || (e.refreshes && !now.Before(e.refreshAt))
	var startErr error
	if due && e.inflight == nil && !now.Before(e.retryAt) {
		_, startErr = c.startFetchLocked(ctx, e)
	}
	var limit *PendingLimitError
	switch {
	case errors.Is(startErr, errStale):
		return closedChan, 0 // look the subject up again at once
	case errors.As(startErr, &limit):
		wake = limit.RetryAfter
	case e.inflight != nil:
		// Its completion signals changed.
	case now.Before(e.retryAt):
		wake = e.retryAt.Sub(now)
	case usable && e.refreshes:
		wake = e.refreshAt.Sub(now)
	}
	return e.changed, wake
}
