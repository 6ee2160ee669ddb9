package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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
	path := fmt.Sprintf("/proc/%d/status", pid)
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
					s.hwm, _ = readStatusKiB(path, "VmHWM")
					return
				}
				if now.Before(from) {
					continue
				}
				if v, err := readStatusKiB(path, "VmRSS"); err == nil {
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

func readStatusKiB(path, field string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseStatusKiB(data, field)
}

// parseStatusKiB reads a "Field:   1234 kB" line of /proc/<pid>/status.
func parseStatusKiB(data []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: want '<n> kB', got %q", field, strings.TrimSpace(rest))
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("%s: not found in status", field)
}
