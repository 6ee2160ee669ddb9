package localnode

import (
	"crypto/tls"
	"fmt"
	"net"
)

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago. The
// small race with other processes is acceptable for local test servers that
// fail loudly on a bind error.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// insecureLocalhostTLS is only used for health probes of local processes
// with self-signed serving certificates; nothing secret crosses it.
func insecureLocalhostTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // local health probe only
}
