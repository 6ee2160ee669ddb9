// Package testutil holds helpers shared by the project's tests. It is
// imported only from _test.go files.
package testutil

import (
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort asks the kernel for an unused loopback port. Config validation
// rejects port 0, so tests that render configs need a concrete number.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// InCI reports whether missing tooling must fail a test rather than skip it.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// Unavailable skips the test when a real server it needs is missing, or
// fails it when CI is set, so CI can never go green by silently not running
// the tests that need that server.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// LogTail keeps the last output of a server a test started, for failure
// reports, without letting a chatty server grow memory.
type LogTail struct {
	mu  sync.Mutex
	buf []byte
}

func (l *LogTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 64<<10 {
		l.buf = append([]byte(nil), l.buf[len(l.buf)-(32<<10):]...)
	}
	return len(p), nil
}

func (l *LogTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// Eventually polls cond until it holds or a generous deadline passes. It is
// a liveness guard for tests against real processes, not a timing assertion.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
