package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestErrorResponses(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		ctype, body string
		retryAfter  string
		want        Error
		wantMsg     string
	}{
		{name: "RFC 6749 error", status: 401, ctype: "application/json",
			body:    `{"error":"invalid_client","error_description":"Client authentication failed","error_uri":"https://as/doc"}`,
			want:    Error{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed", URI: "https://as/doc"},
			wantMsg: "token endpoint: invalid_client (401): Client authentication failed"},
		{name: "HTML error page", status: 502, ctype: "text/html", body: "<html><body>Bad Gateway</body></html>",
			want:    Error{StatusCode: 502, Code: "http_502", Description: `no RFC 6749 error in body (content-type "text/html", 37 bytes)`},
			wantMsg: "token endpoint: http_502 (502)"},
		{name: "empty 503 with Retry-After", status: 503, retryAfter: "7",
			want:    Error{StatusCode: 503, Code: "http_503", Description: "no RFC 6749 error in body (no content-type, 0 bytes)", RetryAfter: 7 * time.Second},
			wantMsg: "token endpoint: http_503 (503)"},
		{name: "2xx carrying an error", status: 200, ctype: "application/json", body: `{"error":"invalid_scope"}`,
			want: Error{StatusCode: 200, Code: "invalid_scope"}, wantMsg: "token endpoint: invalid_scope (200)"},
		{name: "redirect is not followed", status: 302, ctype: "text/plain",
			want: Error{StatusCode: 302, Code: "http_302", Description: `no RFC 6749 error in body (content-type "text/plain", 0 bytes)`}},
		{name: "control characters are neutralised", status: 400, ctype: "application/json",
			body: `{"error":"invalid_request","error_description":"line1\nline2\u001b[31m"}`,
			want: Error{StatusCode: 400, Code: "invalid_request", Description: "line1 line2 [31m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 302 {
					w.Header().Set("Location", "https://elsewhere.example/steal")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := newTestClient(t, f, Options{}).ClientCredentials(context.Background(), nil)
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			got := *oe
			got.endpoint = ""
			if got != tt.want {
				t.Errorf("error = %+v\n       want %+v", got, tt.want)
			}
			if tt.wantMsg != "" && !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), tt.wantMsg)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("server saw %d requests", n)
			}
		})
	}
}

func TestOversizedResponse(t *testing.T) {
	f := newFakeAS(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+strings.Repeat("a", DefaultMaxResponseBytes)+`","token_type":"bearer"}`)
	})
	_, err := newTestClient(t, f, Options{}).ClientCredentials(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "token response exceeds 1048576 bytes") {
		t.Fatalf("err = %v", err)
	}
	small := newTestClient(t, f, Options{MaxResponseBytes: 100})
	if _, err := small.ClientCredentials(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "exceeds 100 bytes") {
		t.Fatalf("err = %v", err)
	}
}
