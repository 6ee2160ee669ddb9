// Package pace owns the open-loop schedule that bench/loadgen sends
// requests on and bench/signrate signs on, so that both offer a rate the
// same way.
package pace

import "time"

// Schedule returns when worker i of workers, which share rate operations
// per second, is due to start its k-th operation (k from 0). The workers
// are staggered across one interval, so the total rate is smooth rather
// than workers operations in a burst. Operations are due on the schedule
// whatever the previous one took, so a worker that falls behind catches up
// back to back. Rate 0 is closed loop: every operation is due now.
func Schedule(rate float64, workers, i int, start time.Time) func(k int) time.Time {
	if rate == 0 {
		return func(int) time.Time { return time.Now() }
	}
	interval := time.Duration(float64(workers) / rate * float64(time.Second))
	offset := interval * time.Duration(i) / time.Duration(workers)
	return func(k int) time.Time { return start.Add(offset + time.Duration(k)*interval) }
}
