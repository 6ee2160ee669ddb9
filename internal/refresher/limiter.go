package refresher

import (
	"sync"
	"time"
)

// limiter is a token bucket on the Cache's clock. It bounds fetch starts
// for the whole binding, whatever the number of subjects, so that neither a
// tiny token lifetime nor a stream of new subjects can run the token
// endpoint at request rate.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	// limited is set by the first refusal and cleared once the bucket is
	// full again, so a sustained overload is reported once.
	limited bool
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: max(1, burst), tokens: max(1, burst)}
}

// take spends one token at now. When none is left it returns when one will
// be, and first reports the first refusal of a limited period.
func (l *limiter) take(now time.Time) (next time.Time, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.last = now
	}
	if now.After(l.last) { // a clock that steps back refills nothing
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
	}
	if l.tokens >= l.burst {
		l.limited = false
	}
	if l.tokens >= 1 {
		l.tokens--
		return time.Time{}, false
	}
	wait := time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	first = !l.limited
	l.limited = true
	return now.Add(max(wait, time.Nanosecond)), first
}

// refund gives back a token that take spent on a fetch that then did not
// start, so that only calls to the token endpoint count against the limit.
func (l *limiter) refund() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = min(l.burst, l.tokens+1)
}
