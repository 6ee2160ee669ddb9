package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/bench/internal/proc"
)

var testKey = filepath.Join("..", "..", "internal", "pop", "testdata", "rsa_pkcs8.pem")

func TestMainErrRejects(t *testing.T) {
	ecKey := filepath.Join("..", "..", "internal", "pop", "testdata", "ec_pkcs8.pem")
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no key", []string{"-d", "1s"}, "-key is required"},
		{"missing key file", []string{"-key", "does-not-exist.pem"}, "does-not-exist.pem"},
		{"EC key", []string{"-key", ecKey, "-d", "1ms", "-warmup", "0s"}, "not an RSA key"},
		{"negative workers", []string{"-key", testKey, "-workers", "-1"}, "-workers -1"},
		{"negative rate", []string{"-key", testKey, "-rate", "-5"}, "-rate -5"},
		{"NaN rate", []string{"-key", testKey, "-rate", "NaN"}, "-rate NaN"},
		{"zero duration", []string{"-key", testKey, "-d", "0s"}, "-d 0s"},
		{"negative warmup", []string{"-key", testKey, "-warmup", "-1s"}, "-warmup -1s"},
		{"zero clock ticks", []string{"-key", testKey, "-clk-tck", "0"}, "-clk-tck 0"},
		{"extra argument", []string{"-key", testKey, "x"}, "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := mainErr(tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestSignerSignsLikeTheSidecar checks that what the workers compute is a
// valid RS256 signature over a PoP token's signing input.
func TestSignerSignsLikeTheSidecar(t *testing.T) {
	s, err := newSigner(testKey, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(s.input), "."); n != 1 {
		t.Fatalf("signing input %q has %d dots, want header.claims", s.input, n)
	}
	sig, err := s.sign()
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(s.input)
	if err := rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, d[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

// TestRunCounts runs a short real measurement: it must count signatures in
// the window and report a non-negative CPU time. (No figure is asserted:
// they depend on the machine.)
func TestRunCounts(t *testing.T) {
	res, err := Run(context.Background(), Config{KeyFile: testKey, Workers: 2, Duration: 300 * time.Millisecond, ClkTck: proc.DefaultClkTck})
	if err != nil {
		t.Fatal(err)
	}
	if res.Workers != 2 || res.Signs <= 0 || res.Elapsed <= 0 || res.CPU.User < 0 || res.CPU.Sys < 0 {
		t.Fatalf("result %+v: want 2 workers, signs and elapsed > 0, CPU >= 0", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Config{KeyFile: testKey, Workers: 1, Duration: time.Hour, ClkTck: proc.DefaultClkTck}); err == nil {
		t.Fatal("canceled run returned no error")
	}
}

// TestRunPaced checks that -rate holds the offered rate instead of signing
// flat out. The bound is loose on purpose (a tenth of the flat-out count
// would already fail it): it must not depend on the machine's speed.
func TestRunPaced(t *testing.T) {
	res, err := Run(context.Background(), Config{KeyFile: testKey, Workers: 2, Rate: 20, Duration: time.Second, ClkTck: proc.DefaultClkTck})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rate != 20 || res.Signs < 10 || res.Signs > 30 {
		t.Fatalf("result %+v: want about 20 signs in 1 s at -rate 20", res)
	}
}

func TestResultPrint(t *testing.T) {
	cases := []struct {
		name string
		r    Result
		want string
	}{
		{"2 workers, 1000 signs in 1 s on 2 s of CPU",
			Result{Workers: 2, Signs: 1000, Elapsed: time.Second, CPU: proc.CPU{User: 1900 * time.Millisecond, Sys: 100 * time.Millisecond}},
			"workers: 2\nsigns: 1000\nduration_s: 1.000\nsigns_per_s: 1000.0\nvcpu: 2.0000\ncpu_user_s: 1.900\ncpu_sys_s: 0.100\ncpu_per_sign_us: 2000.0\n"},
		{"paced", Result{Workers: 1, Rate: 350, Signs: 700, Elapsed: 2 * time.Second, CPU: proc.CPU{User: time.Second}},
			"workers: 1\nrate: 350.0\nsigns: 700\nduration_s: 2.000\nsigns_per_s: 350.0\nvcpu: 0.5000\ncpu_user_s: 1.000\ncpu_sys_s: 0.000\ncpu_per_sign_us: 1428.6\n"},
		{"nothing measured", Result{Workers: 1},
			"workers: 1\nsigns: 0\nduration_s: 0.000\ncpu_user_s: 0.000\ncpu_sys_s: 0.000\n"},
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
