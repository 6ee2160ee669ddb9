package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/oauth-injector/oauth-injector/bench/internal/pace"
	"github.com/oauth-injector/oauth-injector/bench/internal/proc"
)

// Config is one load run.
type Config struct {
	URL         string
	Method      string
	Header      http.Header
	Concurrency int
	Duration    time.Duration
	Warmup      time.Duration
	// Rate is the total target rate in requests per second; 0 is closed-loop.
	Rate    float64
	Timeout time.Duration
	// RSSPid, when non-zero, is sampled from /proc during the measured window.
	RSSPid int
	// CPUPid, when non-zero, has its user+sys CPU time read from
	// /proc/<pid>/stat at the start and end of the measured window; ClkTck
	// is the unit of those figures (getconf CLK_TCK).
	CPUPid int
	ClkTck int
}

// Result is what a run measured. Only requests scheduled inside the measured
// window count.
type Result struct {
	Requests int64
	// Completed counts answers that arrived inside the measured window,
	// whenever they were scheduled. Open loop, Requests/Elapsed is the rate
	// offered (a stalled server still gets its late answers counted), while
	// Completed/Elapsed is the rate served: below the target rate, the
	// server did not keep up.
	Completed int64
	Errors    int64 // transport errors and timeouts
	Non2xx    int64
	Elapsed   time.Duration
	Latencies Percentiles
	// RSS figures in KiB; zero when RSSPid was not set.
	RSSPeakKiB int64
	RSSHWMKiB  int64
	RSSSamples int
	// CPU is what CPUPid used in the measured window; CPUSampled says it
	// was measured.
	CPU        proc.CPU
	CPUSampled bool
}

// RPS is completed requests per second over the measured window.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Print writes "key: value" lines; bench/load.sh parses them.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "requests: %d\n", r.Requests)
	fmt.Fprintf(w, "duration_s: %.3f\n", r.Elapsed.Seconds())
	fmt.Fprintf(w, "rps: %.1f\n", r.RPS())
	if r.Elapsed > 0 {
		fmt.Fprintf(w, "done_rps: %.1f\n", float64(r.Completed)/r.Elapsed.Seconds())
	}
	fmt.Fprintf(w, "p50_ms: %.3f\n", ms(r.Latencies.P50))
	fmt.Fprintf(w, "p90_ms: %.3f\n", ms(r.Latencies.P90))
	fmt.Fprintf(w, "p99_ms: %.3f\n", ms(r.Latencies.P99))
	fmt.Fprintf(w, "max_ms: %.3f\n", ms(r.Latencies.Max))
	fmt.Fprintf(w, "errors: %d\n", r.Errors)
	fmt.Fprintf(w, "non2xx: %d\n", r.Non2xx)
	if r.CPUSampled {
		fmt.Fprintf(w, "cpu_user_s: %.3f\n", r.CPU.User.Seconds())
		fmt.Fprintf(w, "cpu_sys_s: %.3f\n", r.CPU.Sys.Seconds())
		if r.Elapsed > 0 {
			fmt.Fprintf(w, "vcpu: %.4f\n", r.CPU.Total().Seconds()/r.Elapsed.Seconds())
		}
		// Per answer served in the same window the CPU was measured over.
		if r.Completed > 0 {
			fmt.Fprintf(w, "cpu_per_req_us: %.1f\n", float64(r.CPU.Total().Microseconds())/float64(r.Completed))
		}
	}
	if r.RSSSamples > 0 {
		fmt.Fprintf(w, "rss_samples: %d\n", r.RSSSamples)
		fmt.Fprintf(w, "rss_peak_kib: %d\n", r.RSSPeakKiB)
		fmt.Fprintf(w, "rss_hwm_kib: %d\n", r.RSSHWMKiB)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (c *Config) check() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want an absolute http(s) URL", c.URL)
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("-c %d: must be at least 1", c.Concurrency)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("-d %s: must be positive", c.Duration)
	}
	if c.Warmup < 0 || c.Rate < 0 || c.Timeout < 0 {
		return errors.New("-warmup, -rate and -timeout must not be negative")
	}
	if c.CPUPid > 0 && c.ClkTck <= 0 {
		return fmt.Errorf("-clk-tck %d: must be positive", c.ClkTck)
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	return nil
}

type workerStats struct {
	lat                       []time.Duration
	errors, non2xx, completed int64
}

// Run drives the target for Warmup+Duration and reports the measured window.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.check(); err != nil {
		return Result{}, err
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.Concurrency,
		MaxIdleConnsPerHost: c.Concurrency,
		MaxConnsPerHost:     c.Concurrency,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: c.Timeout}

	start := time.Now()
	measureFrom := start.Add(c.Warmup)
	end := measureFrom.Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(c.Timeout))
	defer cancel()

	var sampler *rssSampler
	if c.RSSPid > 0 {
		sampler = startRSSSampler(ctx, c.RSSPid, measureFrom, end)
	}
	var cpu *cpuSampler
	if c.CPUPid > 0 {
		cpu = startCPUSampler(ctx, func() (proc.CPU, error) { return proc.ReadCPU(c.CPUPid, c.ClkTck) }, measureFrom, end)
	}

	stats := make([]workerStats, c.Concurrency)
	var wg sync.WaitGroup
	for i := range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &stats[i]
			next := pace.Schedule(c.Rate, c.Concurrency, i, start)
			for k := 0; ; k++ {
				sched := next(k)
				if !sched.Before(end) {
					return
				}
				if d := time.Until(sched); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				sent := time.Now()
				if c.Rate == 0 {
					sched = sent
				}
				code, err := do(ctx, client, c)
				if done := time.Now(); err == nil && !done.Before(measureFrom) && done.Before(end) {
					st.completed++
				}
				if sched.Before(measureFrom) {
					continue
				}
				if err != nil {
					// A failed request has no meaningful latency.
					st.errors++
					continue
				}
				if code < 200 || code > 299 {
					st.non2xx++
				}
				st.lat = append(st.lat, time.Since(sched))
			}
		}()
	}
	wg.Wait()
	var res Result
	var all []time.Duration
	for _, st := range stats {
		res.Errors += st.errors
		res.Non2xx += st.non2xx
		res.Completed += st.completed
		all = append(all, st.lat...)
	}
	res.Requests = int64(len(all)) // non-2xx answers count, as in wrk
	res.Elapsed = c.Duration
	res.Latencies = percentiles(all)
	if sampler != nil {
		res.RSSPeakKiB, res.RSSHWMKiB, res.RSSSamples = sampler.wait()
	}
	if cpu != nil {
		used, err := cpu.wait()
		if err != nil {
			return res, fmt.Errorf("-cpu-pid %d: %w", c.CPUPid, err)
		}
		res.CPU, res.CPUSampled = used, true
	}
	return res, nil
}

func do(ctx context.Context, client *http.Client, c Config) (int, error) {
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// Reading to EOF returns the connection to the pool (keep-alive).
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// Percentiles summarises a latency sample.
type Percentiles struct{ P50, P90, P99, Max time.Duration }

// percentiles uses the nearest-rank method on a sorted copy.
func percentiles(lat []time.Duration) Percentiles {
	if len(lat) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999999) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(s) {
			i = len(s) - 1
		}
		return s[i]
	}
	return Percentiles{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1]}
}
