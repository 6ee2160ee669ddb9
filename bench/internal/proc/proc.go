// Package proc reads the two /proc figures the load benchmarks report: a
// process's resident memory (/proc/<pid>/status) and the CPU time it has
// used (/proc/<pid>/stat), so every CPU figure in bench/ is measured the
// same way, whether of the sidecar under load or of the raw-sign program.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultClkTck is USER_HZ, the unit of the CPU times in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports in practice; callers
// that can ask (getconf CLK_TCK) pass the real value.
const DefaultClkTck = 100

// StatusKiB reads a "Field:   1234 kB" line of /proc/<pid>/status.
func StatusKiB(data []byte, field string) (int64, error) {
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

// ReadStatusKiB reads field from /proc/<pid>/status.
func ReadStatusKiB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return StatusKiB(data, field)
}

// CPU is a process's CPU time so far, summed over all its threads.
type CPU struct {
	User, Sys time.Duration
}

// Total is user plus system time.
func (c CPU) Total() time.Duration { return c.User + c.Sys }

// Sub is the CPU time used between an earlier reading and c.
func (c CPU) Sub(earlier CPU) CPU {
	return CPU{User: c.User - earlier.User, Sys: c.Sys - earlier.Sys}
}

// StatCPU parses utime and stime (fields 14 and 15, in clock ticks) from the
// contents of /proc/<pid>/stat. The command name (field 2) is in parentheses
// and may itself contain spaces and ")", so fields are counted from the last
// ")".
func StatCPU(data []byte, clkTck int) (CPU, error) {
	if clkTck <= 0 {
		return CPU{}, fmt.Errorf("clock ticks per second must be positive, got %d", clkTck)
	}
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return CPU{}, errors.New("stat: no ')' after the command name")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(data[end+1:]))
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(f) <= stimeIdx {
		return CPU{}, fmt.Errorf("stat: %d fields after the command name, want at least %d", len(f), stimeIdx+1)
	}
	var ticks [2]time.Duration
	for i, idx := range []int{utimeIdx, stimeIdx} {
		v, err := strconv.ParseUint(f[idx], 10, 63)
		if err != nil {
			return CPU{}, fmt.Errorf("stat: field %d: %w", idx+3, err)
		}
		ticks[i] = time.Duration(v) * time.Second / time.Duration(clkTck)
	}
	return CPU{User: ticks[0], Sys: ticks[1]}, nil
}

// ReadCPU reads the CPU time of pid (0 means this process).
func ReadCPU(pid, clkTck int) (CPU, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return CPU{}, err
	}
	return StatCPU(data, clkTck)
}
