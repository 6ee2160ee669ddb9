package sidecar

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// The sidecar benchmarks measure one GET through the whole pipeline (token
// from the cache, placement, optional TAAP PoP, reverse proxy, keep-alive
// upstream) in-process. Client, sidecar and upstream share the CPUs, so
// ns/op is an end-to-end cost, not the sidecar's alone; bench/load.sh
// separates them with pinning. The harness helpers take *testing.T, hence
// the *testing.B twins here.

const benchToken = "bench-access-token"

func BenchmarkSidecarBearer(b *testing.B) {
	benchSidecar(b, nil)
}

func BenchmarkSidecarTAAP(b *testing.B) {
	keyFile := benchRSAKeyFile(b)
	benchSidecar(b, func(bd *config.Binding) {
		bd.PrivateKey = &config.PrivateKey{File: keyFile}
		bd.PoP = &config.PoP{Type: config.PoPTAAP, Sign: []string{"uri", "http-method", "body"}}
	})
}

// BenchmarkUpstreamDirect is the same client and upstream without the
// sidecar: BenchmarkSidecarBearer minus this is what the sidecar adds.
func BenchmarkUpstreamDirect(b *testing.B) {
	up, bad := benchUpstream(b, false)
	// The client sends what the sidecar would have added.
	benchLoop(b, up.URL+"/v1/things?limit=2", http.Header{"Authorization": {"Bearer " + benchToken}}, bad)
}

// benchUpstream is the partner: a small JSON answer, and a count of
// requests that arrive without the token (or, when wantPoP, without a PoP).
func benchUpstream(b *testing.B, wantPoP bool) (*httptest.Server, *atomic.Int64) {
	var bad atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+benchToken || (wantPoP && r.Header.Get("X-Authorization") == "") {
			bad.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok","items":[1,2]}`)
	}))
	b.Cleanup(up.Close)
	return up, &bad
}

func benchSidecar(b *testing.B, edit func(*config.Binding)) {
	var tokenCalls atomic.Int64
	tok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+benchToken+`","token_type":"Bearer","expires_in":86400}`)
	}))
	b.Cleanup(tok.Close)
	// The upstream checks what the benchmark claims to measure: a request
	// that arrives without the token (or without a PoP in TAAP mode) fails
	// the benchmark instead of being counted.
	up, bad := benchUpstream(b, edit != nil)

	dir := b.TempDir()
	for name, v := range map[string]string{"id": "bench-client\n", "secret": "bench-secret\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	bd := config.Binding{
		Name:          "bench",
		ListenPort:    benchFreePort(b),
		Upstream:      config.Upstream{URL: up.URL},
		TokenEndpoint: &config.TokenEndpoint{URL: tok.URL},
		Grant:         config.Grant{Type: config.GrantClientCredentials},
		ClientAuth: config.ClientAuth{Method: config.AuthClientSecretBasic,
			ClientIDFile: filepath.Join(dir, "id"), ClientSecretFile: filepath.Join(dir, "secret")},
	}
	if edit != nil {
		edit(&bd)
	}
	cfg := &config.Config{Version: config.Version, Admin: config.Admin{Listen: "127.0.0.1:" + strconv.Itoa(benchFreePort(b))},
		Bindings: []config.Binding{bd}}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		b.Fatalf("bench config invalid: %v", err)
	}
	// A no-op logger: per-request logging is not what is measured.
	srv, err := New(cfg, zap.NewNop())
	if err != nil {
		b.Fatalf("sidecar.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("sidecar Run: %v", err)
		}
	})
	benchLoop(b, "http://"+srv.Addr("bench")+"/v1/things?limit=2", nil, bad)
	if n := tokenCalls.Load(); n != 1 {
		b.Fatalf("token endpoint called %d times, want 1: the token was not served from the cache", n)
	}
}

// benchLoop sends GETs to url with header from b.RunParallel's goroutines.
func benchLoop(b *testing.B, url string, header http.Header, bad *atomic.Int64) {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	// The first request fetches the token; everything measured is cached.
	if code := benchGet(client, url, header); code != http.StatusOK {
		b.Fatalf("warm-up request: status %d", code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var failed atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code := benchGet(client, url, header); code != http.StatusOK {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed (%d reached the upstream without the expected credentials)", n, bad.Load())
	}
}

func benchGet(c *http.Client, url string, header http.Header) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func benchFreePort(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// benchRSAKeyFile is the 2048-bit key internal/pop's benchmarks and
// bench/load.sh sign with: the size TAAP partners use, and the same key
// every run, so instruction counts repeat (generating one is random work).
func benchRSAKeyFile(b *testing.B) string {
	b.Helper()
	path, err := filepath.Abs(filepath.Join("..", "pop", "testdata", "rsa_pkcs8.pem"))
	if err != nil {
		b.Fatal(err)
	}
	return path
}
