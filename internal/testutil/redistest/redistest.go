// Package redistest runs a real redis-server for tests: on loopback, on a
// free port, in the test's temp dir, without persistence, stopped when the
// test ends. It can stop and restart the server on the same port (fault
// tests) and serve TLS with a CA it makes. Imported only from _test.go files.
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-injector/oauth-injector/internal/taapsim"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// readyTimeout is generous: redis starts in milliseconds, but the machine
// running the tests may be busy.
const readyTimeout = 30 * time.Second

// Options configures the server.
type Options struct {
	// Password, when set, is required by the default user (requirepass).
	Password string
	// TLS serves TLS only (no plain port) with a certificate for 127.0.0.1
	// and localhost signed by a fresh CA (Server.CAFile, Server.CAPool).
	TLS bool
}

// Server is a running (or stopped) redis-server.
type Server struct {
	Addr   string
	Port   int
	Dir    string
	CAFile string
	CAPool *x509.CertPool

	t    testing.TB
	bin  string
	opts Options

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan error
	logTail *testutil.LogTail
}

// Start starts redis-server and stops it when t ends. Without redis-server
// in PATH the test is skipped, or fails when CI is set, so CI can never go
// green by silently not running these tests.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testutil.Unavailable(t, "redistest: redis-server not found in PATH (apt-get install redis-server, or ./hack/tools.sh test-deps): %v", err)
	}
	port := testutil.FreePort(t)
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: t.TempDir(), t: t, bin: bin, opts: opts, logTail: &testutil.LogTail{}}
	if opts.TLS {
		if err := s.makeCerts(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("redistest: redis-server output:\n%s", s.logTail.String())
		}
	})
	s.Restart()
	return s
}

// Restart starts the server again on the same port, empty (no persistence).
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("redistest: Restart while the server is running; Stop it first")
	}
	args := []string{"--bind", "127.0.0.1", "--dir", s.Dir, "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--logfile", ""}
	if s.opts.TLS {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.Port),
			"--tls-cert-file", filepath.Join(s.Dir, "server.crt"), "--tls-key-file", filepath.Join(s.Dir, "server.key"),
			"--tls-ca-cert-file", s.CAFile, "--tls-auth-clients", "no")
	} else {
		args = append(args, "--port", strconv.Itoa(s.Port))
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	testutil.KillWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	cmd.Stderr = s.logTail
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: starting redis-server: %v", err)
	}
	ready := make(chan struct{})
	go scan(out, s.logTail, ready)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.exited = cmd, exited
	select {
	case <-ready:
	case err := <-exited:
		s.cmd = nil
		s.t.Fatalf("redistest: redis-server exited before it was ready (%v):\n%s", err, s.logTail.String())
	case <-time.After(readyTimeout):
		s.t.Fatalf("redistest: redis-server not ready after %s:\n%s", readyTimeout, s.logTail.String())
	}
}

// Stop kills the server (SIGKILL: a crash, not a clean shutdown) and waits
// for it to exit. It is a no-op when the server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// TLSConfig returns a client config that trusts the server's CA.
func (s *Server) TLSConfig() *tls.Config {
	if !s.opts.TLS {
		return nil
	}
	return &tls.Config{RootCAs: s.CAPool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// Admin returns a client with the server's password for inspecting and
// configuring it (ACL SETUSER, KEYS, DEBUG SLEEP); it is closed when the
// test ends.
func (s *Server) Admin(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.opts.Password, TLSConfig: s.TLSConfig(), DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redistest: admin ping: %v", err)
	}
	return c
}

func scan(r io.Reader, logs io.Writer, ready chan<- struct{}) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(logs, line)
		if !sent && strings.Contains(line, "Ready to accept connections") {
			close(ready)
			sent = true
		}
	}
}

// makeCerts reuses the TAAP simulator's throwaway CA and writes the server
// pair as files, which is how redis-server takes them.
func (s *Server) makeCerts() error {
	cfg, err := taapsim.SelfSignedTLS(s.Dir, time.Now())
	if err != nil {
		return err
	}
	cert := cfg.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, taapsim.CAFile)
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		return err
	}
	s.CAPool = x509.NewCertPool()
	if !s.CAPool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no CA certificate in %s", s.CAFile)
	}
	return nil
}

// Proxy is a TCP pipe in front of the server, so that a test can cut one
// client off the store (a network partition, or a store that stalls) while
// the others still reach it and the data stays. It forwards bytes only; it
// knows nothing of the Redis protocol.
type Proxy struct {
	Addr string

	t      testing.TB
	target string
	ln     net.Listener

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]struct{}
}

type proxyMode int

const (
	proxyOpen proxyMode = iota
	// proxyCut closes every connection and refuses new ones at once, as a
	// dead store does.
	proxyCut
	// proxyStalled accepts connections and never forwards, as a store that
	// hangs does.
	proxyStalled
)

// Proxy starts a pipe to the server on a free loopback port; it is closed
// when the test ends.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), t: t, target: s.Addr, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
	})
	return p
}

// Cut drops every connection and refuses new ones until Restore.
func (p *Proxy) Cut() { p.set(proxyCut) }

// Stall keeps connections open but forwards nothing until Restore.
func (p *Proxy) Stall() { p.set(proxyStalled) }

// Restore forwards again.
func (p *Proxy) Restore() { p.set(proxyOpen) }

func (p *Proxy) set(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
	// Connections of the previous mode end: a stalled one must not hang
	// its client after Restore.
	p.closeAll()
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode != proxyCut {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		switch mode {
		case proxyCut:
			_ = c.Close()
		case proxyStalled:
			// Held open and unread until the next mode change.
		default:
			go p.pipe(c)
		}
	}
}

func (p *Proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.mode != proxyOpen {
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.Close()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}
