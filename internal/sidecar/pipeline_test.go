package sidecar

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// bearerBinding is a client-credentials binding against local fakes.
func bearerBinding(t *testing.T, tokenURL, upstream string, edit func(*config.Binding)) *config.Config {
	dir := writeFiles(t, map[string]string{"id": "client-1\n", "secret": "very-secret-value\n"})
	b := config.Binding{
		Name:          "partner",
		Upstream:      config.Upstream{URL: upstream},
		TokenEndpoint: &config.TokenEndpoint{URL: tokenURL},
		Grant:         config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"read"}},
		ClientAuth: config.ClientAuth{Method: config.AuthClientSecretBasic,
			ClientIDFile: filepath.Join(dir, "id"), ClientSecretFile: filepath.Join(dir, "secret")},
	}
	if edit != nil {
		edit(&b)
	}
	return &config.Config{Bindings: []config.Binding{b}}
}

type seen struct {
	header http.Header
	uri    string
	body   string
}

func recordingUpstream(t *testing.T, status func(n int64) int) (*httptest.Server, *atomic.Pointer[seen], *atomic.Int64) {
	var last atomic.Pointer[seen]
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last.Store(&seen{header: r.Header.Clone(), uri: r.RequestURI, body: string(b)})
		code := 200
		if status != nil {
			code = status(n.Add(1))
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "upstream-body")
	}))
	t.Cleanup(srv.Close)
	return srv, &last, &n
}

func TestPipelineHeaders(t *testing.T) {
	ts := &tokenServer{}
	ts.set(jsonToken(`{"access_token":"AT-1","token_type":"Bearer","expires_in":3600,"id_token":"ID-1"}`))
	tok := httptest.NewServer(ts)
	defer tok.Close()
	up, last, _ := recordingUpstream(t, nil)

	cases := []struct {
		name       string
		edit       func(*config.Binding)
		wantAuth   string
		wantURI    string
		wantHeader map[string]string
	}{
		{name: "header placement", wantAuth: "Bearer AT-1", wantURI: "/base/v1/x?a=1"},
		{name: "id token header", edit: func(b *config.Binding) { b.TokenPlacement.IDTokenHeader = "X-Auth-Originator" },
			wantAuth: "Bearer AT-1", wantURI: "/base/v1/x?a=1", wantHeader: map[string]string{"X-Auth-Originator": "ID-1"}},
		{name: "query placement", edit: func(b *config.Binding) { b.TokenPlacement.In = config.PlaceQuery },
			wantAuth: "", wantURI: "/base/v1/x?a=1&access_token=AT-1", wantHeader: map[string]string{"Cache-Control": "no-store"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL+"/base", tc.edit))
			resp, body := get(t, sc.url+"/v1/x?a=1", map[string]string{
				"Authorization": "Bearer app-supplied", "X-Authorization": "forged", "X-Auth-Originator": "forged", "Connection": "close",
			})
			if resp.StatusCode != 200 || body != "upstream-body" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			s := last.Load()
			if got := s.header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
			if s.header.Get("X-Authorization") != "" {
				t.Error("app-supplied X-Authorization reached the partner")
			}
			if s.uri != tc.wantURI {
				t.Errorf("upstream URI = %q, want %q", s.uri, tc.wantURI)
			}
			for k, v := range tc.wantHeader {
				if got := s.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tc.wantHeader["X-Auth-Originator"] == "" && s.header.Get("X-Auth-Originator") != "" {
				t.Error("app-supplied X-Auth-Originator reached the partner")
			}
		})
	}
}

func TestUnauthorizedRefreshesAndReplaysOnce(t *testing.T) {
	ts := &tokenServer{}
	ts.set(func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "AT-" + string(rune('0'+n)), "token_type": "bearer", "expires_in": 3600})
	})
	tok := httptest.NewServer(ts)
	defer tok.Close()
	// The first upstream call is refused, the replay accepted.
	up, last, calls := recordingUpstream(t, func(n int64) int {
		if n == 1 {
			return 401
		}
		return 200
	})
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
	resp, _ := get(t, sc.url+"/r", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200 after replay", resp.StatusCode)
	}
	if calls.Load() != 2 || ts.calls.Load() != 2 {
		t.Fatalf("upstream calls %d, token calls %d; want 2 and 2", calls.Load(), ts.calls.Load())
	}
	if got := last.Load().header.Get("Authorization"); got != "Bearer AT-2" {
		t.Fatalf("replay used %q, want the refreshed token", got)
	}

	// A partner that keeps refusing gets exactly one replay, then the 401
	// goes back to the app.
	up2, _, calls2 := recordingUpstream(t, func(int64) int { return 401 })
	sc2 := startSidecar(t, bearerBinding(t, tok.URL, up2.URL, nil))
	resp, _ = get(t, sc2.url+"/r", nil)
	if resp.StatusCode != 401 || calls2.Load() != 2 {
		t.Fatalf("status %d after %d upstream calls; want 401 after 2", resp.StatusCode, calls2.Load())
	}
	if resp.Header.Get(ErrorHeader) != "" {
		t.Fatal("the partner's own 401 was marked as a sidecar error")
	}
}

func TestSidecarErrors(t *testing.T) {
	secret := "very-secret-value"
	cases := []struct {
		name       string
		token      func(w http.ResponseWriter, r *http.Request, n int64)
		upstream   http.HandlerFunc
		edit       func(*config.Binding)
		req        func(base string) *http.Request
		wantStatus int
		wantCode   string
		wantDetail string
	}{
		{
			name: "garbage token response",
			token: func(w http.ResponseWriter, r *http.Request, n int64) {
				_, _ = io.WriteString(w, "<html>oops "+secret+"</html>")
			},
			wantStatus: 503, wantCode: "token_unavailable", wantDetail: "token",
		},
		{
			name: "oversized token response",
			token: func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 2<<20)+`"}`)
			},
			wantStatus: 503, wantCode: "token_unavailable", wantDetail: "exceeds",
		},
		{
			name: "token endpoint rejects client",
			token: func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(401)
				_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"bad secret"}`)
			},
			// Final until the Secret changes: no 503 inviting retries.
			wantStatus: 403, wantCode: "invalid_client", wantDetail: "invalid_client",
		},
		{
			name: "upstream resets the connection",
			upstream: func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			},
			wantStatus: 502, wantCode: "upstream_unreachable", wantDetail: "upstream",
		},
		{
			name: "body over maxBodyBytes",
			edit: func(b *config.Binding) {
				b.TokenPlacement.In = config.PlaceForm
				b.PoP = &config.PoP{Type: config.PoPNone, MaxBodyBytes: 16}
			},
			req: func(base string) *http.Request {
				r, _ := http.NewRequest("POST", base+"/f", strings.NewReader("a=0123456789012345678901234"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			wantStatus: 413, wantCode: "body_too_large", wantDetail: "maxBodyBytes (16 bytes)",
		},
		{
			name: "form placement on a JSON body",
			edit: func(b *config.Binding) { b.TokenPlacement.In = config.PlaceForm },
			req: func(base string) *http.Request {
				r, _ := http.NewRequest("POST", base+"/f", strings.NewReader(`{"a":1}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			wantStatus: 400, wantCode: "token_placement", wantDetail: "application/json",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := &tokenServer{}
			if tc.token == nil {
				tc.token = jsonToken(`{"access_token":"AT","token_type":"Bearer","expires_in":3600}`)
			}
			ts.set(tc.token)
			tok := httptest.NewServer(ts)
			defer tok.Close()
			h := tc.upstream
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }
			}
			up := httptest.NewServer(h)
			defer up.Close()
			sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, tc.edit))
			req, _ := http.NewRequest("GET", sc.url+"/x", nil)
			if tc.req != nil {
				req = tc.req(sc.url)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error, Detail, Binding string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.wantStatus || body.Error != tc.wantCode || resp.Header.Get(ErrorHeader) != tc.wantCode {
				t.Fatalf("got %d %q (header %q), want %d %q; detail %q", resp.StatusCode, body.Error, resp.Header.Get(ErrorHeader), tc.wantStatus, tc.wantCode, body.Detail)
			}
			if !strings.Contains(body.Detail, tc.wantDetail) {
				t.Errorf("detail %q does not mention %q", body.Detail, tc.wantDetail)
			}
			if body.Binding != "partner" {
				t.Errorf("binding = %q", body.Binding)
			}
			if strings.Contains(body.Detail, secret) {
				t.Fatal("a secret leaked into the error detail")
			}
			if tc.wantStatus == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

func TestStreamingResponse(t *testing.T) {
	ts := &tokenServer{}
	ts.set(jsonToken(`{"access_token":"AT","token_type":"Bearer","expires_in":3600}`))
	tok := httptest.NewServer(ts)
	defer tok.Close()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release // the rest only comes after the app has seen the first line
		_, _ = io.WriteString(w, "second\n")
	}))
	defer up.Close()
	defer close(release)
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
	resp, err := http.Get(sc.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v: the proxy buffered the stream", line, err)
	}
	release <- struct{}{}
	if line, _ = rd.ReadString('\n'); line != "second\n" {
		t.Fatalf("second line %q", line)
	}
}

func TestDrainOnShutdown(t *testing.T) {
	ts := &tokenServer{}
	ts.set(jsonToken(`{"access_token":"AT","token_type":"Bearer","expires_in":3600}`))
	tok := httptest.NewServer(ts)
	defer tok.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	defer up.Close()
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(sc.url + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-entered
	sc.cancel() // SIGTERM
	eventually(t, "readyz to fail while draining", func() bool {
		resp, err := http.Get(sc.admin + "/readyz")
		if err != nil {
			return true // admin listener already closed: also not ready
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	close(release)
	if got := <-result; got != "done" {
		t.Fatalf("in-flight request got %q, want it completed", got)
	}
	if err := <-sc.done; err != nil {
		t.Fatalf("Run returned %v, want nil (exit 0)", err)
	}
	sc.done <- nil // for the cleanup
}

func TestAdminEndpoints(t *testing.T) {
	ts := &tokenServer{}
	block := make(chan struct{})
	ts.set(func(w http.ResponseWriter, r *http.Request, n int64) {
		<-block
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"AT","token_type":"Bearer","expires_in":3600}`)
	})
	tok := httptest.NewServer(ts)
	defer tok.Close()
	up, _, _ := recordingUpstream(t, nil)
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
	code := func(path string) int {
		resp, err := http.Get(sc.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := code("/startup"); c != 503 {
		t.Fatalf("/startup = %d before any token, want 503", c)
	}
	if code("/livez") != 200 || code("/readyz") != 200 {
		t.Fatal("livez/readyz must pass regardless of tokens")
	}
	close(block)
	eventually(t, "/startup to pass once the token arrives", func() bool { return code("/startup") == 200 })
	get(t, sc.url+"/m", nil)
	metrics := func() string {
		resp, err := http.Get(sc.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// The request counter is bumped after the response is written, so the
	// client can see the response a moment before the metric.
	eventually(t, "the proxied request to be counted", func() bool {
		return strings.Contains(metrics(), `oauth_injector_proxied_requests_total{binding="partner",code="200"} 1`)
	})
	b := metrics()
	for _, m := range []string{
		`oauth_injector_token_requests_total{binding="partner",result="success"} 1`,
		`oauth_injector_proxied_requests_total{binding="partner",code="200"} 1`,
		"oauth_injector_token_refresh_duration_seconds_bucket",
		`oauth_injector_token_ttl_seconds{binding="partner"}`,
		"oauth_injector_proxied_request_duration_seconds_bucket",
	} {
		if !strings.Contains(b, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestPlacedHeadersFollowToken: the header values a token puts on requests
// are the current token's on every request, before and after a 401 makes
// the sidecar fetch a new one, and the app's own values never pass.
func TestPlacedHeadersFollowToken(t *testing.T) {
	ts := &tokenServer{}
	ts.set(func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("AT-%d", n), "id_token": fmt.Sprintf("ID-%d", n),
			"token_type": "Bearer", "expires_in": 3600})
	})
	tok := httptest.NewServer(ts)
	defer tok.Close()
	var refuse atomic.Bool
	up, last, _ := recordingUpstream(t, func(int64) int {
		if refuse.CompareAndSwap(true, false) {
			return 401
		}
		return 200
	})
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, func(b *config.Binding) { b.TokenPlacement.IDTokenHeader = "x-auth-originator" }))
	steps := []struct {
		refuse           bool
		wantAuth, wantID string
	}{
		{wantAuth: "Bearer AT-1", wantID: "ID-1"},
		{wantAuth: "Bearer AT-1", wantID: "ID-1"},
		{refuse: true, wantAuth: "Bearer AT-2", wantID: "ID-2"}, // the replay's
		{wantAuth: "Bearer AT-2", wantID: "ID-2"},
	}
	for i, s := range steps {
		refuse.Store(s.refuse)
		resp, _ := get(t, sc.url+"/x", map[string]string{"Authorization": "Bearer app", "X-Auth-Originator": "app"})
		h := last.Load().header
		if resp.StatusCode != 200 || h.Get("Authorization") != s.wantAuth || fmt.Sprint(h["X-Auth-Originator"]) != "["+s.wantID+"]" {
			t.Fatalf("request %d: status %d, upstream saw Authorization %q and X-Auth-Originator %q; want %q and %q",
				i, resp.StatusCode, h.Get("Authorization"), h["X-Auth-Originator"], s.wantAuth, s.wantID)
		}
	}
}
