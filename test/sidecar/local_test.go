package sidecar

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// Local peers for what oidc-provider cannot do. Handlers check the wire
// rules themselves and report with t.Errorf (safe from any goroutine); they
// still answer, so a broken rule shows as a named error, not as a timeout.

const (
	localClientID     = "local client"
	localClientSecret = "s3cr:t+/%é"
)

// localBasic is the RFC 6749 §2.3.1 header the sidecar must send.
var localBasic = oauth.BasicAuth(localClientID, localClientSecret)

func localAuth(sec *secrets) config.ClientAuth {
	return config.ClientAuth{Method: config.AuthClientSecretBasic,
		ClientIDFile: sec.file("client_id", localClientID), ClientSecretFile: sec.file("client_secret", localClientSecret)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bearerAPI is an upstream that accepts only "Authorization: Bearer <want>".
func bearerAPI(t *testing.T, want string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+want {
			t.Errorf("upstream Authorization = %q, want the sidecar's bearer token", got)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "path": r.URL.Path})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func localBinding(name, upstream, tokenURL string, auth config.ClientAuth) config.Binding {
	return config.Binding{
		Name:          name,
		Upstream:      config.Upstream{URL: upstream},
		TokenEndpoint: &config.TokenEndpoint{URL: tokenURL},
		Grant:         config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"read", "write"}},
		ClientAuth:    auth,
	}
}

// TestLocalTokenEndpointMethodAndExtraParams: with method GET every
// parameter, extension ones included, travels in the query and there is no
// body; with POST they are all in the form body and the query is empty.
func TestLocalTokenEndpointMethodAndExtraParams(t *testing.T) {
	extra := map[string]string{"resource": "https://api.partner.example/", "tenant": "a b&c=d"}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			var calls atomic.Int32
			as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				body, _ := io.ReadAll(r.Body)
				var params url.Values
				if r.Method != method {
					t.Errorf("token request method %s, want %s", r.Method, method)
				}
				switch method {
				case http.MethodGet:
					if len(body) > 0 || r.ContentLength > 0 {
						t.Errorf("GET token request has a body %q", body)
					}
					params = r.URL.Query()
				case http.MethodPost:
					if r.URL.RawQuery != "" {
						t.Errorf("POST token request has a query %q", r.URL.RawQuery)
					}
					if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
						t.Errorf("Content-Type = %q", ct)
					}
					params, _ = url.ParseQuery(string(body))
				}
				want := url.Values{"grant_type": {"client_credentials"}, "scope": {"read write"},
					"resource": {extra["resource"]}, "tenant": {extra["tenant"]}}
				if params.Encode() != want.Encode() {
					t.Errorf("token parameters = %v, want %v", params, want)
				}
				if got := r.Header.Get("Authorization"); got != localBasic {
					t.Errorf("Authorization = %q, want RFC 6749 §2.3.1 form-encoded Basic", got)
				}
				writeJSON(w, 200, map[string]any{"access_token": "tok-" + method, "token_type": "Bearer", "expires_in": 3600})
			}))
			t.Cleanup(as.Close)
			sec := newSecrets(t)
			b := localBinding("m", bearerAPI(t, "tok-"+method).URL, as.URL+"/token", localAuth(sec))
			b.TokenEndpoint.Method = method
			b.TokenEndpoint.ExtraParams = extra
			sc := startSidecar(t, newConfig(t, b), waitStartup)
			r := appCall(t, http.MethodGet, sc.url("m", "/v1/things"), nil, nil)
			if r.status != 200 || r.str("path") != "/v1/things" {
				t.Errorf("app reply: %v", r)
			}
			if calls.Load() != 1 {
				t.Errorf("token endpoint called %d times, want 1", calls.Load())
			}
		})
	}
}

// TestLocalCIBAExtraParams: grant.ciba.extraParams go on the backchannel
// authorize request, tokenEndpoint.extraParams on the polls, and the
// authorization_pending polls are ridden out within maxWait.
func TestLocalCIBAExtraParams(t *testing.T) {
	var polls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bc-authorize", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		want := url.Values{"login_hint": {"tel:+34666666666"}, "purpose": {"dpv:FraudPreventionAndDetection#sim-swap"}, "acr_values": {"2"}}
		if r.PostForm.Encode() != want.Encode() {
			t.Errorf("authorize parameters = %v, want %v", r.PostForm, want)
		}
		if r.Header.Get("Authorization") != localBasic {
			t.Errorf("authorize without Basic client auth")
		}
		writeJSON(w, 200, map[string]any{"auth_req_id": "req-1", "expires_in": 60, "interval": 1})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		want := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {"req-1"}, "tenant": {"t1"}}
		if r.PostForm.Encode() != want.Encode() {
			t.Errorf("poll parameters = %v, want %v", r.PostForm, want)
		}
		if polls.Add(1) == 1 {
			writeJSON(w, 400, map[string]any{"error": "authorization_pending"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "ciba-tok", "token_type": "Bearer", "expires_in": 600})
	})
	as := httptest.NewServer(mux)
	t.Cleanup(as.Close)
	sec := newSecrets(t)
	b := localBinding("ciba", bearerAPI(t, "ciba-tok").URL, as.URL+"/token", localAuth(sec))
	b.Grant = config.Grant{Type: config.GrantCIBA, CIBA: &config.CIBAGrant{
		AuthorizeURL: as.URL + "/bc-authorize", Purpose: "dpv:FraudPreventionAndDetection#sim-swap",
		MaxWait: config.Duration{Duration: 20 * time.Second}, ExtraParams: map[string]string{"acr_values": "2"}}}
	b.TokenEndpoint.ExtraParams = map[string]string{"tenant": "t1"}
	sc := startSidecar(t, newConfig(t, b), waitLive)
	r := appCall(t, http.MethodGet, sc.url("ciba", "/x"), http.Header{"X-Login-Hint": {"tel:+34666666666"}}, nil)
	if r.status != 200 {
		t.Errorf("app reply: %v", r)
	}
	if polls.Load() != 2 {
		t.Errorf("polls = %d, want 2 (pending, then the token)", polls.Load())
	}
}

// staticAS answers every token request with body.
func staticAS(t *testing.T, body map[string]any) *httptest.Server {
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, body) }))
	t.Cleanup(as.Close)
	return as
}

// TestLocalPlacement checks RFC 6750 §2.2 (form) and §2.3 (query) on the
// wire: the token is where the binding says, nowhere else, and the app's
// own parameters survive.
func TestLocalPlacement(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		method     string
		path       string
		ct         string
		body       string
		wantStatus int
		wantError  string
		check      func(t *testing.T, r *http.Request, body string)
	}{
		{name: "query", in: config.PlaceQuery, method: http.MethodGet, path: "/v1/x?page=2&access_token=app-forged", wantStatus: 200,
			check: func(t *testing.T, r *http.Request, _ string) {
				q := r.URL.Query()
				if q.Get("access_token") != "tok" || len(q["access_token"]) != 1 || q.Get("page") != "2" {
					t.Errorf("query = %q, want page=2 and exactly one access_token=tok", r.URL.RawQuery)
				}
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store (RFC 6750 §2.3)", r.Header.Get("Cache-Control"))
				}
				if r.Header.Get("Authorization") != "" {
					t.Errorf("token also sent in Authorization")
				}
			}},
		{name: "form", in: config.PlaceForm, method: http.MethodPost, path: "/v1/x", ct: "application/x-www-form-urlencoded", body: "a=1&b=x+y", wantStatus: 200,
			check: func(t *testing.T, r *http.Request, body string) {
				f, _ := url.ParseQuery(body)
				if f.Get("access_token") != "tok" || f.Get("a") != "1" || f.Get("b") != "x y" {
					t.Errorf("form body = %q, want a, b and access_token=tok", body)
				}
				if r.URL.RawQuery != "" || r.Header.Get("Authorization") != "" {
					t.Errorf("token leaked outside the body: query %q, Authorization %q", r.URL.RawQuery, r.Header.Get("Authorization"))
				}
				if r.ContentLength != int64(len(body)) {
					t.Errorf("Content-Length %d, body %d bytes", r.ContentLength, len(body))
				}
			}},
		{name: "form with a JSON body", in: config.PlaceForm, method: http.MethodPost, path: "/v1/x", ct: "application/json", body: `{"a":1}`,
			wantStatus: http.StatusBadRequest, wantError: "token_placement"},
		{name: "form on a GET", in: config.PlaceForm, method: http.MethodGet, path: "/v1/x",
			wantStatus: http.StatusBadRequest, wantError: "token_placement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				body, _ := io.ReadAll(r.Body)
				if tt.check != nil {
					tt.check(t, r, string(body))
				}
				writeJSON(w, 200, map[string]any{"ok": true})
			}))
			t.Cleanup(api.Close)
			sec := newSecrets(t)
			as := staticAS(t, map[string]any{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})
			b := localBinding("p", api.URL, as.URL, localAuth(sec))
			b.TokenPlacement.In = tt.in
			sc := startSidecar(t, newConfig(t, b), waitStartup)
			h := http.Header{}
			if tt.ct != "" {
				h.Set("Content-Type", tt.ct)
			}
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			r := appCall(t, tt.method, sc.url("p", tt.path), h, body)
			if r.status != tt.wantStatus {
				t.Fatalf("app reply: %v, want status %d", r, tt.wantStatus)
			}
			if tt.wantError != "" {
				if r.str("error") != tt.wantError || r.header.Get("X-OAuth-Injector-Error") != tt.wantError {
					t.Errorf("error = %q / header %q, want %s", r.str("error"), r.header.Get("X-OAuth-Injector-Error"), tt.wantError)
				}
				if hits.Load() != 0 {
					t.Errorf("a request that cannot carry the token reached the partner")
				}
				if strings.Contains(string(r.raw), `"tok"`) {
					t.Errorf("the token leaked into the error: %s", r.raw)
				}
			}
		})
	}
}
