package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/bench/internal/proc"
)

func TestPercentiles(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	seq := make([]int, 100)
	for i := range seq {
		seq[i] = 100 - i // unsorted on purpose
	}
	cases := []struct {
		name string
		in   []time.Duration
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", ms(7), Percentiles{7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond}},
		{"1..100", ms(seq...), Percentiles{50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}},
		{"four", ms(4, 1, 3, 2), Percentiles{2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentiles(tc.in); got != tc.want {
				t.Errorf("percentiles = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"relative url", Config{URL: "/x", Concurrency: 1, Duration: time.Second}, "-url"},
		{"ftp url", Config{URL: "ftp://h/x", Concurrency: 1, Duration: time.Second}, "-url"},
		{"zero concurrency", Config{URL: "http://h/", Concurrency: 0, Duration: time.Second}, "-c 0"},
		{"zero duration", Config{URL: "http://h/", Concurrency: 1}, "-d"},
		{"negative rate", Config{URL: "http://h/", Concurrency: 1, Duration: time.Second, Rate: -1}, "negative"},
		{"cpu without clock ticks", Config{URL: "http://h/", Concurrency: 1, Duration: time.Second, CPUPid: 1}, "-clk-tck 0"},
		{"ok", Config{URL: "http://h/", Concurrency: 1, Duration: time.Second}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.check()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestRunOpenLoopCount relies on the schedule, not on timing: with 4 workers
// at 200 req/s over 500 ms, exactly 100 send times fall in the window.
func TestRunOpenLoopCount(t *testing.T) {
	var hits atomic.Int64
	var hdr atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		hdr.Store(r.Header.Get("X-Bench"))
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Concurrency: 4, Duration: 500 * time.Millisecond,
		Rate: 200, Timeout: 30 * time.Second, Header: http.Header{"X-Bench": {"1"}}, RSSPid: os.Getpid(), CPUPid: os.Getpid(), ClkTck: proc.DefaultClkTck})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || hits.Load() != 100 || res.Errors != 0 || res.Non2xx != 0 {
		t.Fatalf("requests=%d hits=%d errors=%d non2xx=%d, want 100/100/0/0", res.Requests, hits.Load(), res.Errors, res.Non2xx)
	}
	if got := hdr.Load(); got != "1" {
		t.Errorf("X-Bench header = %v, want 1", got)
	}
	if res.Completed <= 0 || res.Completed > res.Requests {
		t.Errorf("completed in the window = %d, want 1..%d", res.Completed, res.Requests)
	}
	if !res.CPUSampled {
		t.Error("CPUPid set but no CPU figure")
	}
	if res.RSSHWMKiB <= 0 || (res.RSSSamples > 0 && res.RSSPeakKiB > res.RSSHWMKiB) {
		t.Errorf("rss peak=%d hwm=%d samples=%d: want hwm > 0 and peak <= hwm", res.RSSPeakKiB, res.RSSHWMKiB, res.RSSSamples)
	}
}

func TestRunCountsFailures(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	res, err := Run(context.Background(), Config{URL: srv.URL, Concurrency: 1, Duration: 200 * time.Millisecond, Rate: 50, Timeout: 30 * time.Second})
	srv.Close()
	if err != nil {
		t.Fatal(err)
	}
	// 10 scheduled sends; every second one is a 502.
	if res.Requests != 10 || res.Non2xx != 5 || res.Errors != 0 {
		t.Fatalf("requests=%d non2xx=%d errors=%d, want 10/5/0", res.Requests, res.Non2xx, res.Errors)
	}

	// Against a closed server every request is a transport error.
	res, err = Run(context.Background(), Config{URL: srv.URL, Concurrency: 1, Duration: 100 * time.Millisecond, Rate: 50, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 5 {
		t.Fatalf("closed server: requests=%d errors=%d, want 0/5", res.Requests, res.Errors)
	}
}

func TestMainErrFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"bad header", []string{"-url", "http://127.0.0.1:1/", "-H", "nocolon"}, "want 'Name: value'"},
		{"missing url", []string{"-d", "1s"}, "-url"},
		{"extra arg", []string{"-url", "http://h/", "extra"}, "unexpected argument"},
		{"bad clock ticks", []string{"-url", "http://h/", "-cpu-pid", "1", "-clk-tck", "0"}, "-clk-tck"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := mainErr(tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestCPUSampler feeds the sampler a fake CPU clock: the result is the
// difference between the reads at the window's start and end.
func TestCPUSampler(t *testing.T) {
	readings := []proc.CPU{{User: time.Second, Sys: 200 * time.Millisecond}, {User: 1750 * time.Millisecond, Sys: 450 * time.Millisecond}}
	cases := []struct {
		name     string
		failAt   int // read number that fails; -1 none
		want     proc.CPU
		wantErr  string
		canceled bool
	}{
		{name: "difference of the two reads", failAt: -1, want: proc.CPU{User: 750 * time.Millisecond, Sys: 250 * time.Millisecond}},
		{name: "first read fails", failAt: 0, wantErr: "no stat"},
		{name: "second read fails", failAt: 1, wantErr: "no stat"},
		{name: "canceled before the window", failAt: -1, canceled: true, wantErr: "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			read := func() (proc.CPU, error) {
				defer func() { n++ }()
				if n == tc.failAt {
					return proc.CPU{}, errors.New("no stat")
				}
				return readings[n], nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			from, until := time.Now(), time.Now() // both due: no waiting
			if tc.canceled {
				cancel()
				from, until = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
			}
			got, err := startCPUSampler(ctx, read, from, until).wait()
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

func TestResultPrint(t *testing.T) {
	base := Result{Requests: 2000, Completed: 1600, Elapsed: 2 * time.Second, Latencies: Percentiles{P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond}}
	withCPU := base
	withCPU.CPU, withCPU.CPUSampled = proc.CPU{User: 150 * time.Millisecond, Sys: 50 * time.Millisecond}, true
	withRSS := base
	withRSS.RSSSamples, withRSS.RSSPeakKiB, withRSS.RSSHWMKiB = 3, 15000, 16000
	common := "requests: 2000\nduration_s: 2.000\nrps: 1000.0\ndone_rps: 800.0\np50_ms: 1.000\np90_ms: 2.000\np99_ms: 3.000\nmax_ms: 4.000\nerrors: 0\nnon2xx: 0\n"
	cases := []struct {
		name string
		r    Result
		want string
	}{
		{"plain", base, common},
		{"cpu: 0.2 s over 2 s is 0.1 vCPU, 125 us per request completed in the window", withCPU,
			common + "cpu_user_s: 0.150\ncpu_sys_s: 0.050\nvcpu: 0.1000\ncpu_per_req_us: 125.0\n"},
		{"rss", withRSS, common + "rss_samples: 3\nrss_peak_kib: 15000\nrss_hwm_kib: 16000\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.r.Print(&b)
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}
