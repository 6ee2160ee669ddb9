// Command loadgen is the Go load generator bench/load.sh falls back to when
// wrk is unavailable, and the one it always uses for rate-limited runs (the
// 1000 req/s RSS measurement: wrk2 is not packaged by Debian). It keeps a
// fixed number of keep-alive connections busy for a fixed time and prints
// throughput, latency percentiles and error counts as "key: value" lines,
// and optionally the RSS (-rss-pid) and CPU time (-cpu-pid) of the process
// under test over the measured window.
//
// With -rate it is open-loop: each request has a scheduled send time and its
// latency is measured from that time, so a stalled server is charged for the
// requests it delayed (no coordinated omission, as in wrk2).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/oauth-injector/oauth-injector/bench/internal/proc"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

func mainErr(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var cfg Config
	var headers headerFlags
	fs.StringVar(&cfg.URL, "url", "", "target URL (required)")
	fs.StringVar(&cfg.Method, "method", "GET", "HTTP method")
	fs.IntVar(&cfg.Concurrency, "c", 50, "connections (one worker each)")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up before the measured window")
	fs.Float64Var(&cfg.Rate, "rate", 0, "total requests per second (0: as fast as possible)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.IntVar(&cfg.RSSPid, "rss-pid", 0, "sample VmRSS of this process during the measured window")
	fs.IntVar(&cfg.CPUPid, "cpu-pid", 0, "report the user+sys CPU time this process used in the measured window (/proc/<pid>/stat)")
	fs.IntVar(&cfg.ClkTck, "clk-tck", proc.DefaultClkTck, "clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK)")
	fs.Var(&headers, "H", "'Name: value' request header; repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.Header = http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		cfg.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		return err
	}
	res.Print(stdout)
	if res.Requests == 0 {
		return errors.New("no request completed in the measured window")
	}
	return nil
}
