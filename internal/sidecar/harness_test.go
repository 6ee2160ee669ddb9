package sidecar

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// writeFiles writes name→content into a fresh directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// running is a started sidecar.
type running struct {
	srv    *Server
	cancel context.CancelFunc
	done   chan error
	url    string // data-plane base URL of the first binding
	admin  string
}

func startSidecar(t *testing.T, cfg *config.Config, opts ...Option) *running {
	t.Helper()
	return startSidecarLogged(t, cfg, zaptest.NewLogger(t), opts...)
}

// startSidecarLogged is startSidecar with the caller's logger, for tests
// that check what is logged.
func startSidecarLogged(t *testing.T, cfg *config.Config, log *zap.Logger, opts ...Option) *running {
	t.Helper()
	cfg.Version = config.Version
	cfg.Admin.Listen = "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	for i := range cfg.Bindings {
		if cfg.Bindings[i].ListenPort == 0 {
			cfg.Bindings[i].ListenPort = testutil.FreePort(t)
		}
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	srv, err := New(cfg, log, opts...)
	if err != nil {
		t.Fatalf("sidecar.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	r.url = "http://" + srv.Addr(cfg.Bindings[0].Name)
	r.admin = "http://" + srv.Addr("admin")
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("sidecar Run: %v", err)
		}
	})
	return r
}

// newUnstarted builds a Server from a test config without running it, for
// checks that New alone decides.
func newUnstarted(t *testing.T, cfg *config.Config, log *zap.Logger, opts ...Option) (*Server, error) {
	t.Helper()
	cfg.Version = config.Version
	for i := range cfg.Bindings {
		cfg.Bindings[i].ListenPort = 15001 + i
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	return New(cfg, log, opts...)
}

// tokenServer is a minimal RFC 6749 token endpoint whose answers a test
// scripts; it counts calls.
type tokenServer struct {
	calls   atomic.Int64
	respond atomic.Pointer[func(w http.ResponseWriter, r *http.Request, n int64)]
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.calls.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	(*s.respond.Load())(w, r, n)
}

func (s *tokenServer) set(f func(w http.ResponseWriter, r *http.Request, n int64)) {
	s.respond.Store(&f)
}

func jsonToken(body string) func(w http.ResponseWriter, r *http.Request, n int64) {
	return func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// eventually polls cond until it holds or a generous deadline passes. It is
// a liveness guard against hangs, not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
}

// manualTimers is the afterFunc seam for tests: every deadline the sidecar
// starts is handed to the test, and fires only when the test says so.
type manualTimers struct{ started chan *manualTimer }

type manualTimer struct {
	d              time.Duration
	f              func()
	mu             sync.Mutex
	stopped, fired bool
}

func newManualTimers() *manualTimers { return &manualTimers{started: make(chan *manualTimer, 64)} }

func (m *manualTimers) after(d time.Duration, f func()) func() bool {
	t := &manualTimer{d: d, f: f}
	m.started <- t
	return t.stop
}

func (t *manualTimer) stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fired || t.stopped {
		return false
	}
	t.stopped = true
	return true
}

// fire runs the timer's function unless it was stopped, as an expiring
// time.Timer would.
func (t *manualTimer) fire() {
	t.mu.Lock()
	if t.fired || t.stopped {
		t.mu.Unlock()
		return
	}
	t.fired = true
	t.mu.Unlock()
	t.f()
}

// next returns the next deadline of length d the sidecar started, skipping
// others. The wait is a liveness guard, not a timing assertion.
func (m *manualTimers) next(t *testing.T, d time.Duration) *manualTimer {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case tm := <-m.started:
			if tm.d == d {
				return tm
			}
		case <-deadline:
			t.Fatalf("the sidecar started no %s deadline", d)
		}
	}
}
