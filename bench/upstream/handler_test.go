package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := NewHandler()
	srv := httptest.NewServer(h)
	defer srv.Close()

	cases := []struct {
		name, method, path string
		wantCode           int
		check              func(t *testing.T, body string)
	}{
		{name: "resource", method: "GET", path: "/v1/things?a=1", wantCode: 200, check: func(t *testing.T, b string) {
			var v map[string]any
			if err := json.Unmarshal([]byte(b), &v); err != nil || v["status"] != "ok" {
				t.Errorf("resource body %q: want JSON with status ok (err %v)", b, err)
			}
		}},
		{name: "token POST", method: "POST", path: "/token", wantCode: 200, check: func(t *testing.T, b string) {
			var v struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
			}
			if err := json.Unmarshal([]byte(b), &v); err != nil {
				t.Fatalf("token body %q: %v", b, err)
			}
			if v.AccessToken != BenchToken || v.TokenType != "Bearer" || v.ExpiresIn != TokenTTL {
				t.Errorf("token = %+v", v)
			}
		}},
		{name: "token GET", method: "GET", path: "/token", wantCode: 200},
		{name: "token PUT refused", method: "PUT", path: "/token", wantCode: 405},
		{name: "stats counts", method: "GET", path: "/stats", wantCode: 200, check: func(t *testing.T, b string) {
			// One resource call and two accepted token calls precede this case.
			if !strings.Contains(b, `"tokenCalls":2`) || !strings.Contains(b, `"resourceCalls":1`) {
				t.Errorf("stats = %q, want tokenCalls 2 and resourceCalls 1", b)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("grant_type=client_credentials"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tc.wantCode, b)
			}
			if tc.check != nil {
				tc.check(t, string(b))
			}
		})
	}
}
