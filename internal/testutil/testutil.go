// Package testutil holds helpers shared by the project's tests. It is
// imported only from _test.go files.
package testutil

import (
	"net"
	"testing"
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
