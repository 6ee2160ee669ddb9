package main

import (
	"context"
	"time"

	"github.com/oauth-injector/oauth-injector/bench/internal/proc"
)

// rssSampler polls /proc/<pid>/status. VmRSS is sampled for the peak seen
// under load; VmHWM (the kernel's own high-water mark) is read at the end
// and also covers start-up, which the samples do not.
type rssSampler struct {
	done      chan struct{}
	peak, hwm int64
	samples   int
}

func startRSSSampler(ctx context.Context, pid int, from, until time.Time) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if now.After(until) {
					s.hwm, _ = proc.ReadStatusKiB(pid, "VmHWM")
					return
				}
				if now.Before(from) {
					continue
				}
				if v, err := proc.ReadStatusKiB(pid, "VmRSS"); err == nil {
					s.samples++
					s.peak = max(s.peak, v)
				}
			}
		}
	}()
	return s
}

func (s *rssSampler) wait() (peak, hwm int64, samples int) {
	<-s.done
	return s.peak, s.hwm, s.samples
}

// cpuSampler reads a process's CPU time when the measured window opens and
// when it closes. The window is the scheduled one (the same denominator as
// req/s); the two reads happen within a timer tick of it.
type cpuSampler struct {
	done chan struct{}
	used proc.CPU
	err  error
}

func startCPUSampler(ctx context.Context, read func() (proc.CPU, error), from, until time.Time) *cpuSampler {
	s := &cpuSampler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var first proc.CPU
		for i, at := range []time.Time{from, until} {
			t := time.NewTimer(time.Until(at))
			select {
			case <-ctx.Done():
				t.Stop()
				s.err = ctx.Err()
				return
			case <-t.C:
			}
			c, err := read()
			if err != nil {
				s.err = err
				return
			}
			if i == 0 {
				first = c
			} else {
				s.used = c.Sub(first)
			}
		}
	}()
	return s
}

func (s *cpuSampler) wait() (proc.CPU, error) {
	<-s.done
	return s.used, s.err
}
