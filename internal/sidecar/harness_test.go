package sidecar

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

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
	srv, err := New(cfg, zaptest.NewLogger(t), opts...)
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
