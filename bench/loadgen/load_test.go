package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

func TestParseStatusKiB(t *testing.T) {
	status := "Name:\tinjector\nVmHWM:\t   20480 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	cases := []struct {
		field   string
		want    int64
		wantErr string
	}{
		{"VmRSS", 12345, ""},
		{"VmHWM", 20480, ""},
		{"VmSwap", 0, "not found"},
		{"Threads", 0, "want '<n> kB'"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			got, err := parseStatusKiB([]byte(status), tc.field)
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
		Rate: 200, Timeout: 30 * time.Second, Header: http.Header{"X-Bench": {"1"}}, RSSPid: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || hits.Load() != 100 || res.Errors != 0 || res.Non2xx != 0 {
		t.Fatalf("requests=%d hits=%d errors=%d non2xx=%d, want 100/100/0/0", res.Requests, hits.Load(), res.Errors, res.Non2xx)
	}
	if got := hdr.Load(); got != "1" {
		t.Errorf("X-Bench header = %v, want 1", got)
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
