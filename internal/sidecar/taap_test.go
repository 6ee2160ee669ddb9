package sidecar

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/taapsim"
)

func pemKey(t testing.TB, k crypto.Signer) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

var (
	keyOnce sync.Once
	keys    [2]*rsa.PrivateKey
)

// testKeys generates two RSA keys once per test binary: key generation is the
// slowest part of these tests.
func testKeys(t testing.TB) [2]*rsa.PrivateKey {
	keyOnce.Do(func() {
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		}
	})
	return keys
}

type taapEnv struct {
	sim     *taapsim.Server
	srv     *httptest.Server
	secrets string
	cfg     *config.Config
}

// newTAAP starts the simulator and returns a TAAP binding config for it.
// wrap lets a test intercept the simulator's handler.
func newTAAP(t *testing.T, wrap func(http.Handler) http.Handler) *taapEnv {
	t.Helper()
	return newTAAPAt(t, wrap, nil)
}

// newTAAPAt runs the simulator on the clock now (nil: time.Now).
func newTAAPAt(t *testing.T, wrap func(http.Handler) http.Handler, now func() time.Time) *taapEnv {
	t.Helper()
	k := testKeys(t)[0]
	sim, err := taapsim.New(taapsim.Options{PublicKey: &k.PublicKey, ClientID: "client-1", ClientSecret: "s3cret:/+ %", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	h := sim.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	dir := writeFiles(t, map[string]string{"id": "client-1", "secret": "s3cret:/+ %\n", "key.pem": pemKey(t, k)})
	cfg := &config.Config{Bindings: []config.Binding{{
		Name:          "tmobile",
		Upstream:      config.Upstream{URL: srv.URL},
		TokenEndpoint: &config.TokenEndpoint{URL: srv.URL + taapsim.TokenPath},
		Grant:         config.Grant{Type: config.GrantClientCredentials},
		ClientAuth: config.ClientAuth{Method: config.AuthClientSecretBasic,
			ClientIDFile: filepath.Join(dir, "id"), ClientSecretFile: filepath.Join(dir, "secret")},
		PrivateKey: &config.PrivateKey{File: filepath.Join(dir, "key.pem")},
		PoP:        &config.PoP{Type: config.PoPTAAP},
	}}}
	return &taapEnv{sim: sim, srv: srv, secrets: dir, cfg: cfg}
}

type echo struct {
	Verified struct {
		PoP, AccessToken, IDToken, BodySigned bool
		EHTS                                  string
	} `json:"verified"`
	Method, URI, Body string
}

func call(t *testing.T, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestTAAPEndToEnd(t *testing.T) {
	env := newTAAP(t, nil)
	sc := startSidecar(t, env.cfg)
	cases := []struct{ method, path, body, ehts, uri string }{
		{"GET", "/v1/echo?msisdn=%2B14255550100&q=a+b", "", "uri;http-method", "/v1/echo?msisdn=%2B14255550100&q=a+b"},
		{"POST", "/v1/orders", `{"sku":"x"}`, "uri;http-method;body", "/v1/orders"},
	}
	for _, tc := range cases {
		code, _, b := call(t, tc.method, sc.url+tc.path, tc.body)
		if code != 200 {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, code, b)
		}
		var e echo
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if !e.Verified.PoP || !e.Verified.AccessToken || !e.Verified.IDToken || e.Verified.EHTS != tc.ehts {
			t.Fatalf("%s: partner verified %+v", tc.method, e.Verified)
		}
		if e.Verified.BodySigned != (tc.body != "") || e.Body != tc.body {
			t.Fatalf("%s: body signed=%v echoed %q", tc.method, e.Verified.BodySigned, e.Body)
		}
	}
}

// TestColdStartHerd: 1000 concurrent requests on an empty cache cause exactly
// one token request.
func TestColdStartHerd(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int64
	env := newTAAP(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == taapsim.TokenPath {
				held.Add(1)
				<-release
			}
			h.ServeHTTP(w, r)
		})
	})
	sc := startSidecar(t, env.cfg)
	const n = 1000
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var started, done sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	fail := func(msg string) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, &msg)
	}
	started.Add(n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			started.Done()
			resp, err := client.Get(sc.url + "/v1/echo")
			if err != nil {
				fail(err.Error())
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ok.Add(1)
			} else {
				fail(resp.Status + " " + string(b))
			}
		}()
	}
	started.Wait()
	eventually(t, "the first token request to arrive", func() bool { return held.Load() >= 1 })
	close(release)
	done.Wait()
	if ok.Load() != n || failed.Load() != 0 {
		t.Fatalf("%d ok, %d failed (first: %s); want %d ok", ok.Load(), failed.Load(), *firstErr.Load(), n)
	}
	if got := env.sim.TokenRequests(); got != 1 {
		t.Fatalf("token requests = %d, want exactly 1", got)
	}
}

// fakeClock is real time plus an offset the test moves. The sidecar and
// the simulator share it: the simulator's access tokens are JWTs whose exp
// the sidecar respects, so their clocks must agree.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func TestAuthServerOutage(t *testing.T) {
	clk := &fakeClock{}
	env := newTAAPAt(t, nil, clk.now)
	sc := startSidecar(t, env.cfg, WithClock(clk.now))
	mustOK := func(step string) {
		t.Helper()
		if code, _, b := call(t, "GET", sc.url+"/v1/echo", ""); code != 200 {
			t.Fatalf("%s: %d %s", step, code, b)
		}
	}
	mustOK("warm")
	env.sim.SetDown(true)

	// Past the refresh point (80% of 1h) but before expiry: the refresh
	// fails and the cached token keeps the app working.
	clk.advance(50 * time.Minute)
	for i := range 5 {
		mustOK("outage, token still valid #" + string(rune('0'+i)))
	}
	// The refresh runs in the background: the requests above do not wait
	// for it.
	eventually(t, "a refresh attempt past the refresh point", func() bool { return env.sim.TokenRequests() >= 2 })

	// Past expiry: nothing valid remains.
	clk.advance(11 * time.Minute)
	code, hdr, b := call(t, "GET", sc.url+"/v1/echo", "")
	if code != 503 || hdr.Get(ErrorHeader) != "token_unavailable" || hdr.Get("Retry-After") == "" {
		t.Fatalf("after expiry: %d %s %q retry-after=%q", code, b, hdr.Get(ErrorHeader), hdr.Get("Retry-After"))
	}
	if !strings.Contains(string(b), "503") && !strings.Contains(string(b), "temporarily") && !strings.Contains(string(b), "unavailable") {
		t.Errorf("detail does not explain the cause: %s", b)
	}

	// Server back; once the backoff window passes, the sidecar recovers.
	env.sim.SetDown(false)
	clk.advance(2 * time.Minute)
	mustOK("recovered")
}
