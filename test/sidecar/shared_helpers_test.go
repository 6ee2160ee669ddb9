package sidecar

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

// sharedStore is the redis-server the replicas of a test share, and the
// directory of their encryption keys.
type sharedStore struct {
	*redistest.Server
	t    *testing.T
	keys string
}

func newSharedStore(t *testing.T) *sharedStore {
	t.Helper()
	return &sharedStore{Server: redistest.Start(t, redistest.Options{}), t: t, keys: t.TempDir()}
}

// cache is a sharedCache section for namespace ns whose values are sealed
// with the key named key (made on first use).
func (s *sharedStore) cache(ns, key string) *config.SharedCache {
	s.t.Helper()
	p := filepath.Join(s.keys, key)
	if _, err := os.Stat(p); err != nil {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	return &config.SharedCache{Address: s.Addr, Namespace: ns, Encryption: config.SharedCacheEncryption{KeyFile: p}}
}

// dump is every key and value in the store, as an operator with KEYS and
// HGETALL would see them.
func (s *sharedStore) dump() string {
	s.t.Helper()
	ctx := context.Background()
	admin := s.Admin(s.t)
	keys, err := admin.Keys(ctx, "*").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\n")
		switch admin.Type(ctx, k).Val() {
		case "hash":
			for f, v := range admin.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		default:
			b.WriteString(admin.Get(ctx, k).Val() + "\n")
		}
	}
	return b.String()
}

// tokenProxy forwards to a token endpoint, counts the calls by grant type
// and records every token the server issued, so that a test can count
// token calls across replicas and look for tokens where they must not be.
// before, if set, runs before a call is forwarded.
type tokenProxy struct {
	URL string

	mu     sync.Mutex
	grants map[string]int
	issued []string
	before func(grant string)
}

func newTokenProxy(t *testing.T, target string) *tokenProxy {
	t.Helper()
	p := &tokenProxy{grants: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		grant := form.Get("grant_type")
		p.mu.Lock()
		p.grants[grant]++
		before := p.before
		p.mu.Unlock()
		if before != nil {
			before(grant)
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if json.Unmarshal(out, &tok) == nil {
			p.mu.Lock()
			for _, v := range []string{tok.AccessToken, tok.RefreshToken, tok.IDToken} {
				if v != "" {
					p.issued = append(p.issued, v)
				}
			}
			p.mu.Unlock()
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *tokenProxy) count(grant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants[grant]
}

func (p *tokenProxy) setBefore(f func(grant string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before = f
}

func (p *tokenProxy) tokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

// fleet is the replicas of one workload: sidecars with the same binding.
// Load goes to every replica that is up; a restart takes one out of the
// load first, as a Service does with a terminating pod.
type fleet struct {
	t     *testing.T
	b     config.Binding
	wait  string
	mu    sync.RWMutex
	procs []*sidecarProc
}

// startFleet starts n replicas, all at once when together (a cold herd),
// otherwise one after the other.
func startFleet(t *testing.T, n int, b config.Binding, wait string, together bool) *fleet {
	t.Helper()
	f := &fleet{t: t, b: b, wait: wait, procs: make([]*sidecarProc, n)}
	if !together {
		for i := range n {
			f.procs[i] = f.start()
		}
		return f
	}
	// Launched one after the other without waiting, they warm up together.
	for i := range n {
		f.procs[i] = launch(t, newConfig(t, f.b))
	}
	for _, s := range f.procs {
		s.await(t, wait)
	}
	return f
}

func (f *fleet) start() *sidecarProc {
	f.t.Helper()
	return startSidecar(f.t, newConfig(f.t, f.b), f.wait)
}

// proc returns replica i (nil while it restarts).
func (f *fleet) proc(i int) *sidecarProc {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.procs[i]
}

// restart stops replica i once its in-flight load calls are done, and
// starts a new process in its place, which has nothing in memory.
func (f *fleet) restart(i int) {
	f.t.Helper()
	f.mu.Lock()
	old := f.procs[i]
	f.procs[i] = nil
	f.mu.Unlock()
	old.stop()
	s := f.start()
	f.mu.Lock()
	f.procs[i] = s
	f.mu.Unlock()
}

// sum adds a metric sample over the replicas that are up.
func (f *fleet) sum(name, labels string) float64 {
	var total float64
	for i := range f.procs {
		if s := f.proc(i); s != nil {
			if v := s.metric(name, labels); v > 0 {
				total += v
			}
		}
	}
	return total
}

// loadRun is what a load run saw.
type loadRun struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	done       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

func (l *loadRun) fail(format string, args ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) < 10 {
		l.failures = append(l.failures, fmt.Sprintf(format, args...))
	}
}

// stop ends the run and waits for its workers. The test calls it before
// reading the counts; the cleanup calls it again so that a test failing
// first does not leave workers calling replicas for the rest of the package.
func (l *loadRun) stop() {
	l.once.Do(func() {
		close(l.done)
		l.wg.Wait()
	})
}

// load sends app requests to every replica that is up, one worker per
// replica, until the run is stopped; check says what a good reply is. Calls
// to a replica hold the fleet's read lock, so a restart waits for them.
func (f *fleet) load(t *testing.T, h http.Header, check func(reply) error) *loadRun {
	l := &loadRun{done: make(chan struct{})}
	for i := range f.procs {
		l.wg.Go(func() {
			for {
				select {
				case <-l.done:
					return
				default:
				}
				f.mu.RLock()
				s := f.procs[i]
				if s == nil {
					f.mu.RUnlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				r, err := tryCall(http.MethodGet, s.url(f.b.Name, "/resource"), h, nil)
				f.mu.RUnlock()
				if err == nil {
					err = check(r)
				}
				if err != nil {
					l.fail("replica %d: %v", i, err)
				} else {
					l.ok.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

// waitFor polls cond until it holds; the deadline guards against a hang,
// it asserts nothing about speed.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
