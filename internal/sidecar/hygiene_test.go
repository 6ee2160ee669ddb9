package sidecar

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// fullSeen is what the upstream received, trailers included.
type fullSeen struct {
	method  string
	header  http.Header
	trailer http.Header
	query   url.Values
	// rawQuery is the query as sent, before Go's parser drops what it
	// cannot read.
	rawQuery string
	body     string
}

// inspectingUpstream records the complete request, reading the body first so
// the trailers are populated.
func inspectingUpstream(t *testing.T, h func(w http.ResponseWriter)) (*httptest.Server, *atomic.Pointer[fullSeen]) {
	var last atomic.Pointer[fullSeen]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last.Store(&fullSeen{method: r.Method, header: r.Header.Clone(), trailer: r.Trailer.Clone(), query: r.URL.Query(), rawQuery: r.URL.RawQuery, body: string(b)})
		if h != nil {
			h(w)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &last
}

func bearerTokenEndpoint(t *testing.T) *httptest.Server {
	ts := &tokenServer{}
	ts.set(jsonToken(`{"access_token":"AT-1","token_type":"Bearer","expires_in":3600,"id_token":"ID-1"}`))
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	return srv
}

// chunkedBody hides the length so the request is sent chunked, which is
// what carries trailers.
type chunkedBody struct{ r io.Reader }

func (c chunkedBody) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestAppCredentialsNeverReachUpstream: whatever spelling or channel the app
// uses for a credential (header, underscore alias, trailer, access_token in
// the query or form body), only the sidecar's own reaches the partner.
func TestAppCredentialsNeverReachUpstream(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	up, last := inspectingUpstream(t, nil)
	forged := http.Header{
		"Authorization":       {"Bearer app-own"},
		"X_Authorization":     {"app-pop"},
		"X_auth_originator":   {"app-id"},
		"X-Authorization":     {"app-pop"},
		"Proxy_Authorization": {"app-proxy"},
		"Dpop":                {"app-proof"},
		"Authorization_":      {"not a credential name: passes"},
	}
	forgedTrailers := http.Header{"Authorization": {"Bearer trailer-own"}, "X-Authorization": {"trailer-pop"},
		"X_Auth_Originator": {"trailer-id"}, "X-Checksum": {"passes"}}
	idToken := func(b *config.Binding) { b.TokenPlacement.IDTokenHeader = "X-Auth-Originator" }
	dir := writeFiles(t, map[string]string{"key.pem": pemKey(t, testKeys(t)[0])})
	taap := func(b *config.Binding) {
		b.PrivateKey = &config.PrivateKey{File: filepath.Join(dir, "key.pem")}
		off := false
		b.PoP = &config.PoP{Type: config.PoPTAAP, Sign: []string{"uri", "http-method", "body"}, OnTokenEndpoint: &off}
	}
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, contentType, body string
		edit                            func(*config.Binding)
		wantQuery, wantForm             string // access_token the upstream sees in the query and body
	}{
		{name: "header placement", edit: idToken, method: "POST", contentType: form, body: "a=1&access_token=app-own&b=2"},
		{name: "header placement, the body is only the app's token", edit: idToken, method: "PUT", contentType: form, body: "access_token=app-own"},
		{name: "query placement", edit: func(b *config.Binding) { idToken(b); b.TokenPlacement.In = config.PlaceQuery },
			method: "POST", contentType: form, body: "a=1&access_token=app-own", wantQuery: "AT-1"},
		{name: "form placement", edit: func(b *config.Binding) { idToken(b); b.TokenPlacement.In = config.PlaceForm },
			method: "POST", contentType: form, body: "a=1&access_token=app-own", wantForm: "AT-1"},
		{name: "TAAP-signed JSON body", edit: taap, method: "POST", contentType: "application/json", body: `{"access_token":"json is not a form"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, tc.edit))
			req, err := http.NewRequest(tc.method, sc.url+"/v1/x?a=1&access_token=app-own&Access_Token=kept", chunkedBody{strings.NewReader(tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			req.Header = forged.Clone()
			req.Header.Set("Content-Type", tc.contentType)
			req.Trailer = forgedTrailers.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			s := last.Load()
			for _, h := range []http.Header{s.header, s.trailer} {
				for k, vs := range h {
					for _, v := range vs {
						if strings.Contains(v, "app-") || strings.Contains(v, "trailer-") {
							t.Errorf("the app's %s: %q reached the partner", k, v)
						}
					}
				}
			}
			for k := range s.trailer {
				switch foldHeader(k) {
				case "authorization", "x-authorization", "x-auth-originator":
					t.Errorf("the app's trailer %s was announced to the partner", k)
				}
			}
			// Trailers need a body to travel in; the app's other trailers
			// pass whenever one is left.
			if s.header.Get("Authorization_") == "" || (s.body != "" && s.trailer.Get("X-Checksum") == "") {
				t.Error("a field that only resembles a credential name was dropped")
			}
			if got := s.query["access_token"]; len(got) > 1 || (len(got) == 1 && got[0] != tc.wantQuery) || (len(got) == 0 && tc.wantQuery != "") {
				t.Errorf("query access_token = %q, want only %q", got, tc.wantQuery)
			}
			if s.query.Get("Access_Token") != "kept" || s.query.Get("a") != "1" {
				t.Errorf("unrelated query parameters changed: %v", s.query)
			}
			if tc.contentType != form {
				if s.body != tc.body {
					t.Errorf("a non-form body was changed: %q", s.body)
				}
				return
			}
			f, _ := url.ParseQuery(s.body)
			if got := f["access_token"]; len(got) > 1 || (len(got) == 1 && got[0] != tc.wantForm) || (len(got) == 0 && tc.wantForm != "") {
				t.Errorf("form access_token = %q, want only %q (body %q)", got, tc.wantForm, s.body)
			}
		})
	}
}

// TestUpstreamCannotImpersonateSidecarErrors: only the sidecar may mark a
// response as its own error, whether the upstream sends the mark as a header
// or as a trailer, in any spelling.
func TestUpstreamCannotImpersonateSidecarErrors(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	for _, name := range []string{ErrorHeader, "x-oauth-injector-error", "X_OAuth_Injector_Error"} {
		for _, trailer := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s trailer=%v", name, trailer), func(t *testing.T) {
				up, _ := inspectingUpstream(t, func(w http.ResponseWriter) {
					if trailer {
						w.Header().Set("Trailer", name)
					} else {
						w.Header()[name] = []string{"token_unavailable"}
					}
					w.WriteHeader(503)
					_, _ = io.WriteString(w, `{"error":"token_unavailable"}`)
					if trailer {
						w.Header().Set(name, "token_unavailable")
					}
				})
				sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
				resp, err := http.Get(sc.url + "/x")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 503 {
					t.Fatalf("status %d, want the upstream's 503 passed through", resp.StatusCode)
				}
				for _, h := range []http.Header{resp.Header, resp.Trailer} {
					for k := range h {
						if foldHeader(k) == foldHeader(ErrorHeader) {
							t.Fatalf("the upstream's %s reached the app", k)
						}
					}
				}
			})
		}
	}
}

// TestTraceRefused: TRACE would echo the sidecar's credentials back to the
// app, so the sidecar answers it unless the binding allows it.
func TestTraceRefused(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	cases := []struct {
		name       string
		allow      bool
		wantStatus int
	}{
		{"refused by default", false, http.StatusMethodNotAllowed},
		{"forwarded when allowed", true, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up, last := inspectingUpstream(t, nil)
			sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, func(b *config.Binding) { b.Upstream.AllowTrace = tc.allow }))
			req, _ := http.NewRequest(http.MethodTrace, sc.url+"/x", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				resp.Body.Close()
				t.Fatalf("TRACE: status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.allow {
				resp.Body.Close()
				if s := last.Load(); s == nil || s.method != http.MethodTrace || s.header.Get("Authorization") != "Bearer AT-1" {
					t.Fatalf("upstream saw %+v, want the TRACE with the sidecar's token", s)
				}
				return
			}
			if a := resp.Header.Get("Allow"); a == "" || strings.Contains(a, "TRACE") {
				t.Errorf("Allow = %q", a)
			}
			code, detail := errorBody(t, resp)
			if code != "method_not_allowed" || !strings.Contains(detail, "upstream.allowTrace") {
				t.Fatalf("got %s %q, want method_not_allowed naming upstream.allowTrace", code, detail)
			}
			if last.Load() != nil {
				t.Fatal("the TRACE request reached the upstream")
			}
		})
	}
}

// TestInsecureHTTPWarns: the opt-in to cleartext is loud at start-up, and
// names the hosts without anything secret.
func TestInsecureHTTPWarns(t *testing.T) {
	cases := []struct {
		name      string
		allow     bool
		upstream  string
		wantHosts []any
	}{
		{"opted in", true, "http://api.partner.example:8080", []any{"api.partner.example:8080"}},
		{"opted in, loopback only", true, "http://127.0.0.1:8080", []any{}},
		{"not opted in", false, "https://api.partner.example", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bearerBinding(t, "https://auth.partner.example/t", tc.upstream, func(b *config.Binding) { b.AllowInsecureHTTP = tc.allow })
			core, logs := observer.New(zap.WarnLevel)
			if _, err := newUnstarted(t, cfg, zap.New(core)); err != nil {
				t.Fatal(err)
			}
			warns := logs.FilterMessageSnippet("allowInsecureHTTP").All()
			if tc.wantHosts == nil {
				if len(warns) != 0 {
					t.Fatalf("warned without the opt-in: %v", warns)
				}
				return
			}
			if len(warns) != 1 {
				t.Fatalf("got %d allowInsecureHTTP warnings, want 1", len(warns))
			}
			got, _ := warns[0].ContextMap()["http_hosts"].([]any)
			if fmt.Sprint(got) != fmt.Sprint(tc.wantHosts) {
				t.Errorf("http_hosts = %v, want %v", got, tc.wantHosts)
			}
		})
	}
}
