package proc

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestStatusKiB(t *testing.T) {
	status := "Name:\tinjector\nVmHWM:\t   20480 kB\nVmRSS:\t   12345 kB\nThreads:\t7\nVmBad:\t x kB\n"
	cases := []struct {
		field   string
		want    int64
		wantErr string
	}{
		{"VmRSS", 12345, ""},
		{"VmHWM", 20480, ""},
		{"VmSwap", 0, "not found"},
		{"Threads", 0, "want '<n> kB'"},
		{"VmBad", 0, "VmBad"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			got, err := StatusKiB([]byte(status), tc.field)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestStatCPU(t *testing.T) {
	// A real line from this machine, with utime 1234 and stime 56 ticks.
	const tail = " R 1319 1319 29268 0 -1 4194304 101 0 0 0 1234 56 7 8 20 0 1 0 303270 3133440 393 18446744073709551615 0 0\n"
	cases := []struct {
		name    string
		stat    string
		clkTck  int
		want    CPU
		wantErr string
	}{
		{"plain", "1330 (injector)" + tail, 100, CPU{12340 * time.Millisecond, 560 * time.Millisecond}, ""},
		{"command with spaces and parens", "1330 (a) b (c))" + tail, 100, CPU{12340 * time.Millisecond, 560 * time.Millisecond}, ""},
		{"other tick rate", "1330 (x)" + tail, 1000, CPU{1234 * time.Millisecond, 56 * time.Millisecond}, ""},
		{"no command", "1330 x R 1", 100, CPU{}, "no ')'"},
		{"truncated", "1330 (x) R 1 2 3", 100, CPU{}, "fields after the command name"},
		{"not a number", "1330 (x) R 1319 1319 29268 0 -1 4194304 101 0 0 0 12x4 56 7", 100, CPU{}, "field 14"},
		{"zero ticks", "1330 (x)" + tail, 0, CPU{}, "must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := StatCPU([]byte(tc.stat), tc.clkTck)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestCPUArithmetic(t *testing.T) {
	a := CPU{User: 3 * time.Second, Sys: time.Second}
	b := CPU{User: 5 * time.Second, Sys: 1500 * time.Millisecond}
	if d := b.Sub(a); d != (CPU{2 * time.Second, 500 * time.Millisecond}) || d.Total() != 2500*time.Millisecond {
		t.Fatalf("Sub = %+v, Total %s", d, d.Total())
	}
}

// TestReadOwnProcess reads this test process's real /proc files: the
// parsers must accept what the kernel writes, and CPU time never decreases.
func TestReadOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	before, err := ReadCPU(0, DefaultClkTck)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ReadCPU(os.Getpid(), DefaultClkTck)
	if err != nil {
		t.Fatal(err)
	}
	if after.User < before.User || after.Sys < before.Sys {
		t.Errorf("CPU went backwards: %+v then %+v", before, after)
	}
	if rss, err := ReadStatusKiB(os.Getpid(), "VmRSS"); err != nil || rss <= 0 {
		t.Errorf("VmRSS = %d, %v", rss, err)
	}
}
