// Command signrate measures the ceiling a TAAP sidecar is held to: how many
// RS256 signatures per second Go makes on the CPUs it is given, and how much
// CPU time each costs. bench/load.sh runs it pinned to the proxy's CPUs, in
// the same run as the TAAP load case, with one worker per core (GOMAXPROCS
// follows the affinity mask), over a signing input as long as a real PoP
// token's, with the same key the sidecar signs with.
//
// CPU time comes from /proc/self/stat (user+sys over the measured window),
// read the same way as the sidecar's by bench/loadgen -cpu-pid, so the two
// CPU-per-operation figures compare like for like.
//
// With -rate the workers sign at that total rate instead of flat out,
// sleeping until each one's next slot: the CPU idles between signatures
// as a sidecar's does between requests at a fixed request rate. load.sh
// runs it at the TAAP fixed-rate case's rate, because on a VM a signature
// that follows an idle gap costs measurably more CPU than one in a tight
// loop, and that difference is no proxy's doing.
//
// Output is "key: value" lines, as bench/loadgen prints.
package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth-injector/oauth-injector/bench/internal/pace"
	"github.com/oauth-injector/oauth-injector/bench/internal/proc"
	"github.com/oauth-injector/oauth-injector/internal/pop"
)

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signrate:", err)
		os.Exit(2)
	}
}

// Config is one measurement.
type Config struct {
	KeyFile, PassFile string
	Workers           int     // 0: GOMAXPROCS
	Rate              float64 // total signatures per second; 0: as fast as possible
	Duration, Warmup  time.Duration
	ClkTck            int
}

func mainErr(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("signrate", flag.ContinueOnError)
	var c Config
	fs.StringVar(&c.KeyFile, "key", "", "RSA private key (PEM or DER, as the sidecar's privateKey) (required)")
	fs.StringVar(&c.PassFile, "pass", "", "file holding the key's passphrase, if it is encrypted")
	fs.IntVar(&c.Workers, "workers", 0, "signing goroutines (0: GOMAXPROCS, i.e. the CPUs this process may use)")
	fs.Float64Var(&c.Rate, "rate", 0, "total signatures per second, paced (0: as fast as possible)")
	fs.DurationVar(&c.Duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "unmeasured warm-up before the measured window")
	fs.IntVar(&c.ClkTck, "clk-tck", proc.DefaultClkTck, "clock ticks per second of /proc/self/stat (getconf CLK_TCK)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	res, err := Run(context.Background(), c)
	if err != nil {
		return err
	}
	res.Print(stdout)
	return nil
}

func (c *Config) check() error {
	switch {
	case c.KeyFile == "":
		return errors.New("-key is required")
	case c.Workers < 0:
		return fmt.Errorf("-workers %d: must not be negative", c.Workers)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("-rate %v: must be a finite number >= 0", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("-d %s: must be positive", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("-warmup %s: must not be negative", c.Warmup)
	case c.ClkTck <= 0:
		return fmt.Errorf("-clk-tck %d: must be positive", c.ClkTck)
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// Result is what the measured window saw.
type Result struct {
	Workers int
	Rate    float64 // paced total rate; 0: flat out
	Signs   int64
	Elapsed time.Duration
	CPU     proc.CPU
}

// Print writes "key: value" lines; bench/load.sh parses them.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "workers: %d\n", r.Workers)
	if r.Rate > 0 {
		fmt.Fprintf(w, "rate: %.1f\n", r.Rate)
	}
	fmt.Fprintf(w, "signs: %d\n", r.Signs)
	fmt.Fprintf(w, "duration_s: %.3f\n", r.Elapsed.Seconds())
	if r.Elapsed > 0 {
		fmt.Fprintf(w, "signs_per_s: %.1f\n", float64(r.Signs)/r.Elapsed.Seconds())
		fmt.Fprintf(w, "vcpu: %.4f\n", r.CPU.Total().Seconds()/r.Elapsed.Seconds())
	}
	fmt.Fprintf(w, "cpu_user_s: %.3f\n", r.CPU.User.Seconds())
	fmt.Fprintf(w, "cpu_sys_s: %.3f\n", r.CPU.Sys.Seconds())
	if r.Signs > 0 {
		fmt.Fprintf(w, "cpu_per_sign_us: %.1f\n", float64(r.CPU.Total().Microseconds())/float64(r.Signs))
	}
}

// signer makes the signature a TAAP sidecar makes per request: SHA-256 of
// the signing input, then RSASSA-PKCS1-v1_5, as BenchmarkRawRS256Sign does.
type signer struct {
	key   *rsa.PrivateKey
	input []byte
}

func newSigner(keyFile, passFile string) (*signer, error) {
	k, err := pop.LoadPrivateKey(keyFile, passFile)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("-key %s: %T is not an RSA key (TAAP signs with RS256)", keyFile, k)
	}
	key.Precompute()
	// A real token's signing input, so the hashed length is the sidecar's.
	b, err := pop.NewBuilder(key, []string{pop.KeyURI, pop.KeyMethod}, pop.MaxLifetime)
	if err != nil {
		return nil, err
	}
	tok, err := b.Mint(pop.Request{Method: "GET", URI: "/v1/things?limit=2"})
	if err != nil {
		return nil, err
	}
	return &signer{key: key, input: []byte(tok[:strings.LastIndexByte(tok, '.')])}, nil
}

func (s *signer) sign() ([]byte, error) {
	d := sha256.Sum256(s.input)
	return rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, d[:])
}

// Run signs on c.Workers goroutines for Warmup+Duration and reports the
// measured window. Counters and CPU are read at the window's edges while
// the workers keep going, so no ramp-up or wind-down is in the figures.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.check(); err != nil {
		return Result{}, err
	}
	s, err := newSigner(c.KeyFile, c.PassFile)
	if err != nil {
		return Result{}, err
	}
	// Padded so workers do not share a cache line.
	counts := make([]struct {
		n atomic.Int64
		_ [56]byte
	}, c.Workers)
	total := func() int64 {
		var t int64
		for i := range counts {
			t += counts[i].n.Load()
		}
		return t
	}
	var stop atomic.Bool
	errc := make(chan error, c.Workers)
	var wg sync.WaitGroup
	for i := range c.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Paced like bench/loadgen's open loop: a worker that falls
			// behind signs back to back until it has caught up.
			next := pace.Schedule(c.Rate, c.Workers, i, time.Now())
			for k := 0; !stop.Load(); k++ {
				if d := time.Until(next(k)); d > 0 {
					time.Sleep(d)
				}
				if _, err := s.sign(); err != nil {
					errc <- err
					return
				}
				counts[i].n.Add(1)
			}
		}()
	}
	finish := func() { stop.Store(true); wg.Wait() }

	snapshot := func(wait time.Duration) (int64, proc.CPU, time.Time, error) {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return 0, proc.CPU{}, time.Time{}, ctx.Err()
		case err := <-errc:
			return 0, proc.CPU{}, time.Time{}, fmt.Errorf("sign: %w", err)
		case <-t.C:
		}
		cpu, err := proc.ReadCPU(0, c.ClkTck)
		return total(), cpu, time.Now(), err
	}
	n0, cpu0, t0, err := snapshot(c.Warmup)
	if err != nil {
		finish()
		return Result{}, err
	}
	n1, cpu1, t1, err := snapshot(c.Duration)
	finish()
	if err != nil {
		return Result{}, err
	}
	return Result{Workers: c.Workers, Rate: c.Rate, Signs: n1 - n0, Elapsed: t1.Sub(t0), CPU: cpu1.Sub(cpu0)}, nil
}
