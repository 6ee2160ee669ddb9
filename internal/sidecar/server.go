// Package sidecar is the localhost egress proxy: one 127.0.0.1 listener per
// binding, the per-request credential pipeline (token placement, TAAP PoP,
// DPoP, MAC, OAuth 1.0a), the admin listener with probes and metrics, credential
// file reloads and graceful drain. It knows nothing of flags or the CLI; the
// injector binary builds a config and calls Run.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// dataPlaneHost is fixed: the data plane must never be reachable from
// outside the pod, so no option can widen it.
const dataPlaneHost = "127.0.0.1"

// Server runs every binding of one config.
type Server struct {
	cfg      *config.Config
	log      *zap.Logger
	metrics  *Metrics
	bindings []*binding
	draining atomic.Bool

	// now is the clock seam for token expiry and refresh scheduling.
	now func() time.Time
	// after is the timer seam for request deadlines.
	after afterFunc
	// memoryLimit is the container's memory limit in bytes, 0 if unknown;
	// it sizes the budget for buffered request bodies.
	memoryLimit int64

	mu    sync.Mutex
	addrs map[string]string
	ready chan struct{}
}

// Option adjusts a Server: the injector passes the memory limit, tests the
// clock and timer seams.
type Option func(*Server)

// WithClock replaces the clock used for token expiry and refresh decisions,
// so tests can expire tokens without sleeping.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithAfterFunc replaces time.AfterFunc for the request deadlines (response
// headers, body reads), so tests can expire them without waiting.
func WithAfterFunc(f func(d time.Duration, fn func()) (stop func() bool)) Option {
	return func(s *Server) { s.after = f }
}

// WithMemoryLimit tells the sidecar its container's memory limit in bytes;
// a quarter of it may hold buffered request bodies (see BodyBudget).
func WithMemoryLimit(bytes int64) Option { return func(s *Server) { s.memoryLimit = bytes } }

// New validates nothing new (config.Parse already did) but loads every file,
// key and certificate, so start-up fails fast with the field that is wrong.
func New(cfg *config.Config, log *zap.Logger, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, log: log, addrs: map[string]string{}, ready: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.after == nil {
		s.after = realAfterFunc
	}
	budget := BodyBudget(s.memoryLimit)
	env := bindingEnv{log: log, metrics: s.metrics, now: s.now, after: s.after,
		bodies: newBodyBuffer(budget, cfg.BodyReadTimeout.Duration, s.after)}
	for i := range cfg.Bindings {
		b, err := newBinding(&cfg.Bindings[i], env)
		if err != nil {
			return nil, fmt.Errorf("bindings[%d] (%s): %w", i, cfg.Bindings[i].Name, err)
		}
		if m := b.maxBody(); m > budget {
			return nil, fmt.Errorf("bindings[%d] (%s): pop.maxBodyBytes %d exceeds the %d bytes all buffered bodies may hold (%s); raise the sidecar's memory limit or lower maxBodyBytes",
				i, cfg.Bindings[i].Name, m, budget, budgetSource(s.memoryLimit))
		}
		s.bindings = append(s.bindings, b)
	}
	return s, nil
}

// Addr returns the bound address of a binding ("admin" for the admin
// listener) once Run has started listening.
func (s *Server) Addr(name string) string {
	<-s.ready
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[name]
}

// Run serves until ctx ends, then drains in-flight requests for up to
// cfg.DrainTimeout and returns nil: SIGTERM is a normal stop, exit 0.
func (s *Server) Run(ctx context.Context) error {
	type srv struct {
		name string
		hs   *http.Server
		ln   net.Listener
	}
	var servers []srv
	closeAll := func() {
		for _, x := range servers {
			x.ln.Close()
		}
	}
	for _, b := range s.bindings {
		addr := net.JoinHostPort(dataPlaneHost, strconv.Itoa(b.cfg.ListenPort))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("binding %s: listen %s: %w", b.cfg.Name, addr, err)
		}
		servers = append(servers, srv{b.cfg.Name, newHTTPServer(b.handler), ln})
	}
	ln, err := net.Listen("tcp", s.cfg.Admin.Listen)
	if err != nil {
		closeAll()
		return fmt.Errorf("admin.listen %s: %w", s.cfg.Admin.Listen, err)
	}
	servers = append(servers, srv{"admin", newHTTPServer(s.adminHandler()), ln})
	s.mu.Lock()
	for _, x := range servers {
		s.addrs[x.name] = x.ln.Addr().String()
	}
	s.mu.Unlock()
	close(s.ready)

	bgCtx, cancelBg := context.WithCancel(context.Background())
	defer cancelBg()
	for _, b := range s.bindings {
		b.warm(bgCtx)
		go b.files.watch(bgCtx, s.cfg.ReloadInterval.Duration, func(changed []string, errs []error) {
			for _, e := range errs {
				b.log.Warn("credential file unreadable; keeping the previous content", zap.Error(e))
			}
			if len(changed) > 0 {
				b.reload(changed)
			}
		})
	}

	errc := make(chan error, len(servers))
	for _, x := range servers {
		go func() {
			if err := x.hs.Serve(x.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", x.name, err)
			}
		}()
	}
	s.log.Info("sidecar started", zap.Int("bindings", len(s.bindings)), zap.String("admin", s.addrs["admin"]))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.draining.Store(true)
	s.log.Info("draining in-flight requests", zap.Duration("timeout", s.cfg.DrainTimeout.Duration))
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, x := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := x.hs.Shutdown(dctx); err != nil {
				s.log.Warn("drain incomplete", zap.String("listener", x.name), zap.Error(err))
			}
		}()
	}
	wg.Wait()
	for _, b := range s.bindings {
		b.closeTokens()
	}
	s.log.Info("sidecar stopped")
	return runErr
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
}

// adminHandler serves the kubelet probes and Prometheus metrics.
//   - /startup passes once every client-level binding holds a token, so the
//     app container does not start before the sidecar can serve it.
//   - /readyz fails while draining so traffic moves away before shutdown.
//   - /livez only says the process serves HTTP: an auth-server outage must
//     never get the sidecar restarted, since it would lose its cached tokens.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/startup", func(w http.ResponseWriter, r *http.Request) {
		for _, b := range s.bindings {
			if !b.ready() {
				http.Error(w, "waiting for a token for binding "+b.cfg.Name, http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	return mux
}
