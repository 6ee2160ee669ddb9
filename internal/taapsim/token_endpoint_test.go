package taapsim

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestTokenEndpoint(t *testing.T) {
	other := loadKey(t, "other_rsa_pkcs8.pem")
	cc := url.Values{"grant_type": {"client_credentials"}}
	tests := []struct {
		name       string
		method     string
		form       url.Values
		authz      string
		ctype      string
		popKey     *rsa.PrivateKey // nil: the client's key
		sign       []string
		noPoP      bool
		mutateBody bool
		down       bool
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{name: "basic auth", form: cc, authz: basic(testClientID, testClientSecret), wantStatus: 200},
		{name: "form credentials", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testClientSecret}}, wantStatus: 200},
		{name: "content-type signed too", form: cc, authz: basic(testClientID, testClientSecret), sign: []string{"Content-Type", "uri", "http-method", "body"}, wantStatus: 200},
		{name: "basic without form-url-encoding", form: cc,
			authz:      "Basic " + base64.StdEncoding.EncodeToString([]byte("client%3A1:"+url.PathEscape(testClientSecret)+"%zz")),
			wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong secret", form: cc, authz: basic(testClientID, "nope"), wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong client id", form: cc, authz: basic("someone", testClientSecret), wantStatus: 401, wantError: "invalid_client"},
		{name: "no credentials", form: cc, wantStatus: 401, wantError: "invalid_client"},
		{name: "bearer instead of basic", form: cc, authz: "Bearer x", wantStatus: 401, wantError: "invalid_client"},
		{name: "basic and form together", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}}, authz: basic(testClientID, testClientSecret), wantStatus: 400, wantError: "invalid_request"},
		{name: "other grant type", form: url.Values{"grant_type": {"password"}}, authz: basic(testClientID, testClientSecret), wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "json body", form: cc, authz: basic(testClientID, testClientSecret), ctype: "application/json", wantStatus: 400, wantError: "invalid_request"},
		{name: "missing PoP", form: cc, authz: basic(testClientID, testClientSecret), noPoP: true, wantStatus: 401, wantError: "invalid_request", wantDesc: "pop: missing X-Authorization header"},
		{name: "PoP from another key", form: cc, authz: basic(testClientID, testClientSecret), popKey: other, wantStatus: 401, wantError: "invalid_request", wantDesc: "pop: signature invalid"},
		{name: "PoP without body", form: cc, authz: basic(testClientID, testClientSecret), sign: []string{"uri", "http-method"}, wantStatus: 401, wantError: "invalid_request", wantDesc: "does not cover body"},
		{name: "PoP without method", form: cc, authz: basic(testClientID, testClientSecret), sign: []string{"uri", "body"}, wantStatus: 401, wantError: "invalid_request", wantDesc: "does not cover http-method"},
		{name: "body changed after signing", form: cc, authz: basic(testClientID, testClientSecret), mutateBody: true, wantStatus: 401, wantError: "invalid_request", wantDesc: "pop: edts does not match"},
		{name: "GET", method: http.MethodGet, form: cc, authz: basic(testClientID, testClientSecret), wantStatus: 405, wantError: "invalid_request"},
		{name: "outage", form: cc, authz: basic(testClientID, testClientSecret), down: true, wantStatus: 503, wantError: "temporarily_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "other_rsa_pkcs8.pem")
			f.srv.SetDown(tt.down)
			body := []byte(tt.form.Encode())
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, TokenPath, bytes.NewReader(body))
			ctype := tt.ctype
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			r.Header.Set("Content-Type", ctype)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			if !tt.noPoP {
				key := tt.popKey
				if key == nil {
					key = f.key
				}
				f.sign(r, body, key, tt.sign)
			}
			if tt.mutateBody {
				body = append(body, []byte("&scope=admin")...)
				r.Body = http.NoBody
				r = r.Clone(r.Context())
				r.Body = readCloser(body)
			}
			w := f.serve(r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if got := f.srv.TokenRequests(); got != 1 {
				t.Errorf("TokenRequests() = %d, want 1", got)
			}
			m := decodeJSON(t, w)
			if tt.wantStatus == 200 {
				if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["access_token"] == "" || m["id_token"] == "" {
					t.Fatalf("token response %v", m)
				}
				if _, err := f.srv.verify(m["access_token"].(string), useAccess); err != nil {
					t.Errorf("issued access token does not verify: %v", err)
				}
				return
			}
			if m["error"] != tt.wantError {
				t.Errorf("error %v, want %q (%v)", m["error"], tt.wantError, m["error_description"])
			}
			if desc, _ := m["error_description"].(string); !strings.Contains(desc, tt.wantDesc) {
				t.Errorf("error_description %q, want it to contain %q", desc, tt.wantDesc)
			}
			if strings.Contains(w.Body.String(), testClientSecret) || strings.Contains(w.Body.String(), url.QueryEscape(testClientSecret)) {
				t.Errorf("response leaks the client secret")
			}
		})
	}
}

func readCloser(b []byte) *bodyReader { return &bodyReader{bytes.NewReader(b)} }

type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

func TestTokenEndpointReplayAndRecovery(t *testing.T) {
	f := newFixture(t, "other_rsa_pkcs8.pem")
	r, body := tokenRequest(url.Values{"grant_type": {"client_credentials"}})
	r.Header.Set("Authorization", basic(testClientID, testClientSecret))
	f.sign(r, body, f.key, nil)
	replay := r.Clone(r.Context())
	replay.Body = readCloser(body)
	if w := f.serve(r); w.Code != 200 {
		t.Fatalf("first call: %d %s", w.Code, w.Body)
	}
	w := f.serve(replay)
	if w.Code != 401 || decodeJSON(t, w)["error"] != "pop_replay" {
		t.Fatalf("replayed PoP: %d %s", w.Code, w.Body)
	}

	f.srv.SetDown(true)
	r2, body2 := tokenRequest(url.Values{"grant_type": {"client_credentials"}})
	r2.Header.Set("Authorization", basic(testClientID, testClientSecret))
	f.sign(r2, body2, f.key, nil)
	if w := f.serve(r2); w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("while down: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	f.srv.SetDown(false)
	f.getTokens()
	if got := f.srv.TokenRequests(); got != 4 {
		t.Errorf("TokenRequests() = %d, want 4 (ok, replay, down, ok)", got)
	}
}
