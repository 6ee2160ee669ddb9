package sidecar

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/sharedcache"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

// keyText is a base64 AES-256 key made of one repeated byte.
func keyText(b byte) string {
	return base64.StdEncoding.EncodeToString(slices.Repeat([]byte{b}, 32)) + "\n"
}

// setKeys lays out dir as a kubelet Secret volume does: "current" and
// "previous" are symlinks into ..data, and ..data is swapped atomically to
// a new directory holding files (a missing one is a removed key). So the
// sidecar's file poll never sees half a rotation or half a file.
func setKeys(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	v, err := os.MkdirTemp(dir, "..v")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(v, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(v), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"current", "previous"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
}

// sharedEnv is a redis-server, a token endpoint, an upstream and a key
// directory whose "current" key is set, for sidecars of one workload.
type sharedEnv struct {
	redis  *redistest.Server
	tokens *httptest.Server
	issued *atomic.Int64
	up     *httptest.Server
	last   *atomic.Pointer[seen]
	keys   string
}

func newSharedEnv(t *testing.T) *sharedEnv {
	t.Helper()
	e := &sharedEnv{redis: redistest.Start(t, redistest.Options{}), keys: t.TempDir()}
	// Every token is distinct, so a shared one is told from a refetched one.
	te := newTokenEndpoint(t, testutil.NewClock(time.Now()), func(w http.ResponseWriter, n int64, _ time.Time) {
		writeJSON(w, http.StatusOK, map[string]any{"access_token": fmt.Sprintf("issued-%d", n), "token_type": "Bearer", "expires_in": 3600})
	})
	e.tokens, e.issued = te.srv, &te.calls
	e.up, e.last, _ = recordingUpstream(t, nil)
	setKeys(t, e.keys, map[string]string{"current": keyText(1)})
	return e
}

// config is bearerBinding with a shared cache on addr (the server when
// empty).
func (e *sharedEnv) config(t *testing.T, addr string, edit func(*config.SharedCache)) *config.Config {
	t.Helper()
	if addr == "" {
		addr = e.redis.Addr
	}
	return bearerBinding(t, e.tokens.URL, e.up.URL, func(b *config.Binding) {
		b.SharedCache = &config.SharedCache{Address: addr, Namespace: "shop",
			Encryption: config.SharedCacheEncryption{KeyFile: filepath.Join(e.keys, "current"), PreviousKeyFiles: []string{filepath.Join(e.keys, "previous")}}}
		if edit != nil {
			edit(b.SharedCache)
		}
	})
}

// metricSum adds up the samples of name whose labels contain every one of
// labels (`op="get"` and so on).
func (r *running) metricSum(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, v := range r.samples(t, name, labels...) {
		sum += v
	}
	return sum
}

// Two sidecars of one workload share one token: the second gets it from
// the store without a token call, and once both hold it locally, requests
// cost no store call at all. This is the figure bench/README.md quotes.
func TestSharedCacheHitCostsNoStoreCall(t *testing.T) {
	e := newSharedEnv(t)
	a := startSidecar(t, e.config(t, "", nil))
	b := startSidecar(t, e.config(t, "", nil))
	for _, r := range []*running{a, b} {
		if resp, body := get(t, r.url+"/x", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("first request: %d %s", resp.StatusCode, body)
		}
		if got := e.last.Load().header.Get("Authorization"); got != "Bearer issued-1" {
			t.Fatalf("upstream saw %q, want the one shared token", got)
		}
	}
	if n := e.issued.Load(); n != 1 {
		t.Fatalf("%d tokens issued for two sidecars, want 1", n)
	}
	// Both warm up at start; whichever takes the lock calls, the other reads.
	fills := func(outcome string) float64 {
		return a.metricSum(t, "oauth_injector_shared_cache_fills_total", outcome) + b.metricSum(t, "oauth_injector_shared_cache_fills_total", outcome)
	}
	if fills(`outcome="shared"`) != 1 || fills(`outcome="fetched"`) != 1 {
		t.Fatalf("fills: %v shared, %v fetched; want 1 and 1", fills(`outcome="shared"`), fills(`outcome="fetched"`))
	}

	const requests = 200
	before := a.metricSum(t, "oauth_injector_shared_cache_calls_total") + b.metricSum(t, "oauth_injector_shared_cache_calls_total")
	for range requests {
		for _, r := range []*running{a, b} {
			if resp, _ := get(t, r.url+"/x", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	after := a.metricSum(t, "oauth_injector_shared_cache_calls_total") + b.metricSum(t, "oauth_injector_shared_cache_calls_total")
	if before == 0 || after != before {
		t.Fatalf("store calls %v before and %v after %d cache hits on each sidecar; want no change", before, after, requests)
	}
	t.Logf("%d local cache hits: %v store calls (the %v before them were the cold start)", 2*requests, after-before, before)
}

// A store that accepts connections and never answers costs a cold request
// one store timeout: the first call that times out ends the store's part,
// and the sidecar fetches for itself.
func TestSharedCacheStalledStoreCostsOneTimeout(t *testing.T) {
	e := newSharedEnv(t)
	p := e.redis.Proxy(t)
	p.Stall()
	r := startSidecar(t, e.config(t, p.Addr, func(sc *config.SharedCache) {
		sc.Timeout = config.Duration{Duration: 100 * time.Millisecond}
	}))
	if resp, body := get(t, r.url+"/x", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("request with a stalled store: %d %s", resp.StatusCode, body)
	}
	if e.issued.Load() != 1 {
		t.Fatalf("%d tokens issued, want 1", e.issued.Load())
	}
	if calls, errs := r.metricSum(t, "oauth_injector_shared_cache_calls_total"), r.metricSum(t, "oauth_injector_shared_cache_errors_total"); calls != 1 || errs != 1 {
		t.Fatalf("%v store calls and %v errors for one cold request, want 1 and 1", calls, errs)
	}
	if r.metricSum(t, "oauth_injector_shared_cache_fills_total", `outcome="fallback"`) != 1 || r.metricSum(t, "oauth_injector_shared_cache_up") != 0 {
		t.Fatal("the fallback is not visible in the metrics")
	}
}

// The sidecar already follows kubelet's atomic Secret updates; a changed
// encryption key reloads the keyring in place (rotation step by step), and
// an unreadable one keeps the previous keys.
func TestSharedCacheKeyReload(t *testing.T) {
	e := newSharedEnv(t)
	keys := e.keys
	cfg := e.config(t, "", nil)
	cfg.ReloadInterval = config.Duration{Duration: 20 * time.Millisecond}
	core, logs := observer.New(zap.InfoLevel)
	r := startSidecarLogged(t, cfg, zap.New(core))
	store := r.srv.bindings[0].shared.store
	id := func(b byte) string {
		kr, err := sharedcache.NewKeyring(slices.Repeat([]byte{b}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return kr.KeyIDs()[0]
	}
	steps := []struct {
		name  string
		write func()
		want  []string
	}{
		{"start", func() {}, []string{id(1)}},
		{"1: new key in previous", func() { setKeys(t, keys, map[string]string{"current": keyText(1), "previous": keyText(2)}) }, []string{id(1), id(2)}},
		{"2: swapped", func() { setKeys(t, keys, map[string]string{"current": keyText(2), "previous": keyText(1)}) }, []string{id(2), id(1)}},
		{"3: previous removed", func() { setKeys(t, keys, map[string]string{"current": keyText(2)}) }, []string{id(2)}},
	}
	for _, s := range steps {
		s.write()
		eventually(t, "keyring after step "+s.name, func() bool { return slices.Equal(store.KeyIDs(), s.want) })
	}
	if n := logs.FilterMessage("shared cache keys reloaded").Len(); n != 3 {
		t.Fatalf("%d reload log lines for 3 changes", n)
	}
	setKeys(t, keys, map[string]string{"current": hex.EncodeToString([]byte("short"))})
	eventually(t, "the bad key is reported", func() bool { return logs.FilterMessageSnippet("key reload failed").Len() == 1 })
	if !slices.Equal(store.KeyIDs(), []string{id(2)}) {
		t.Fatalf("a bad key file replaced the keyring: %v", store.KeyIDs())
	}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, base64.StdEncoding.EncodeToString(slices.Repeat([]byte{2}, 32))) {
				t.Fatalf("a log line carries a key: %v", e)
			}
		}
	}
}

// Every token cache of a binding has its own store subject: the binding's
// own grant keeps the names it had without operations, and what tells two
// caches apart (provider, scope set, CIBA purpose) tells their store
// entries apart, so two operations never share one token.
func TestSharedSourcesAreDistinct(t *testing.T) {
	e := newSharedEnv(t)
	dir := writeFiles(t, map[string]string{"id": "client-2\n", "secret": "other-secret\n"})
	withOps := func(b *config.Binding) {
		b.Providers = []config.Provider{{Name: "reports", TokenEndpoint: &config.TokenEndpoint{URL: e.tokens.URL},
			ClientAuth: config.ClientAuth{Method: config.AuthClientSecretPost, ClientIDFile: filepath.Join(dir, "id"), ClientSecretFile: filepath.Join(dir, "secret")},
			Grant:      config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"read"}}}}
		b.Operations = []config.Operation{
			{Name: "own-scopes", Path: "/own", Scopes: []string{"read"}},
			{Name: "write", Path: "/write", Scopes: []string{"write"}},
			{Name: "write-read", Path: "/write-read", Scopes: []string{"write", "read"}},
			{Name: "read-write", Path: "/read-write", Scopes: []string{"read", "write"}},
			{Name: "reports", Path: "/reports", Provider: "reports"},
			{Name: "reports-write", Path: "/reports-write", Provider: "reports", Scopes: []string{"write"}},
		}
	}
	withPurposes := func(b *config.Binding) {
		b.Grant = config.Grant{Type: config.GrantCIBA, Scopes: []string{"openid"}, CIBA: &config.CIBAGrant{AuthorizeURL: e.tokens.URL + "/bc", Purpose: "dpv:A"}}
		b.Operations = []config.Operation{
			{Name: "own-purpose", Path: "/own", Purpose: "dpv:A"},
			{Name: "b", Path: "/b", Purpose: "dpv:B"},
			{Name: "c", Path: "/c", Purpose: "dpv:C"},
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*config.Binding)
		want int // distinct caches, the own grant's included
	}{
		{"scopes and providers", withOps, 5},
		{"CIBA purposes", withPurposes, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config(t, "", nil)
			tc.edit(&cfg.Bindings[0])
			cfg.Version, cfg.Bindings[0].ListenPort = config.Version, 18080
			cfg.SetDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			b, err := newBinding(&cfg.Bindings[0], bindingEnv{log: zap.NewNop(), metrics: NewMetrics(), now: time.Now, after: realAfterFunc})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.closeTokens)
			names := map[string]bool{}
			own := 0
			for _, s := range b.shared.sources {
				stored := sharedcache.Sourced("", s.source...)
				if names[stored] {
					t.Errorf("two caches share the store subject %q", stored)
				}
				names[stored] = true
				if s.source == nil {
					own++
				}
			}
			if len(names) != tc.want || own != 1 || !names[""] {
				t.Fatalf("%d distinct store subjects (%d of the own grant, named %v); want %d, the own grant's \"\" once", len(names), own, names[""], tc.want)
			}
		})
	}
}
