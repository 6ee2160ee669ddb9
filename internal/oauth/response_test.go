package oauth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name    string
		ctype   string
		body    string
		want    *Token
		wantErr string
	}{
		{name: "full bearer", ctype: "application/json; charset=utf-8",
			body: `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt","id_token":"idt","scope":"a b","issued_token_type":"urn:x"}`,
			want: &Token{AccessToken: "at", TokenType: "bearer", RefreshToken: "rt", IDToken: "idt", Scope: "a b", IssuedTokenType: "urn:x", Expiry: testNow.Add(time.Hour)}},
		{name: "expires_in as string", ctype: "application/json", body: `{"access_token":"at","token_type":"bearer","expires_in":"120"}`,
			want: &Token{AccessToken: "at", TokenType: "bearer", Expiry: testNow.Add(2 * time.Minute)}},
		{name: "no expires_in", ctype: "application/json", body: `{"access_token":"at","token_type":"BEARER"}`,
			want: &Token{AccessToken: "at", TokenType: "bearer"}},
		{name: "expires_in zero means unknown", ctype: "application/json", body: `{"access_token":"at","token_type":"bearer","expires_in":0}`,
			want: &Token{AccessToken: "at", TokenType: "bearer"}},
		{name: "huge expires_in is clamped", ctype: "application/json", body: `{"access_token":"at","token_type":"bearer","expires_in":1e300}`,
			want: &Token{AccessToken: "at", TokenType: "bearer", Expiry: testNow.Add(maxLifetime)}},
		{name: "missing content-type tolerated", body: `{"access_token":"at","token_type":"bearer"}`,
			want: &Token{AccessToken: "at", TokenType: "bearer"}},
		{name: "vendor +json", ctype: "application/vnd.acme+json", body: `{"access_token":"at","token_type":"dpop"}`,
			want: &Token{AccessToken: "at", TokenType: "dpop"}},
		{name: "RFC 8693 N_A", ctype: "application/json", body: `{"access_token":"at","token_type":"N_A","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}`,
			want: &Token{AccessToken: "at", TokenType: "n_a", IssuedTokenType: "urn:ietf:params:oauth:token-type:jwt"}},
		{name: "mac", ctype: "application/json", body: `{"access_token":"at","token_type":"mac","mac_key":"k","mac_algorithm":"HMAC-SHA-256"}`,
			want: &Token{AccessToken: "at", TokenType: "mac", MACKey: "k", MACAlgorithm: "hmac-sha-256"}},
		{name: "scope as array", ctype: "application/json", body: `{"access_token":"at","token_type":"bearer","scope":["a","b"]}`,
			want: &Token{AccessToken: "at", TokenType: "bearer", Scope: "a b"}},

		{name: "garbage", ctype: "application/json", body: `xyzzy-secret`, wantErr: "body is not valid JSON: syntax error at byte 1"},
		{name: "HTML", ctype: "text/html; charset=utf-8", body: `<!DOCTYPE html><p>secret-page</p>`, wantErr: `body is HTML or XML, not JSON (content-type "text/html; charset=utf-8", 33 bytes)`},
		{name: "truncated", ctype: "application/json", body: `{"access_token":"secret-trunc`, wantErr: "body is truncated JSON"},
		{name: "empty", ctype: "application/json", body: "  ", wantErr: "empty body"},
		{name: "array", ctype: "application/json", body: `["secret-arr"]`, wantErr: "body is a JSON array, want an object"},
		{name: "null", ctype: "application/json", body: `null`, wantErr: "body is JSON null"},
		{name: "wrong content-type", ctype: "application/x-www-form-urlencoded", body: `access_token=secret-form&token_type=bearer`, wantErr: `body is not JSON (content-type "application/x-www-form-urlencoded"`},
		{name: "missing access_token", ctype: "application/json", body: `{"token_type":"bearer"}`, wantErr: "missing access_token"},
		{name: "empty access_token", ctype: "application/json", body: `{"access_token":"","token_type":"bearer"}`, wantErr: "missing access_token"},
		{name: "missing token_type", ctype: "application/json", body: `{"access_token":"secret-at"}`, wantErr: "missing token_type"},
		{name: "access_token not a string", ctype: "application/json", body: `{"access_token":12345678,"token_type":"bearer"}`, wantErr: "field access_token must be a string"},
		{name: "unknown token_type", ctype: "application/json", body: `{"access_token":"secret-at","token_type":"PoP"}`, wantErr: `unknown token_type "pop"`},
		{name: "mac without mac_key", ctype: "application/json", body: `{"access_token":"secret-at","token_type":"mac","mac_algorithm":"hmac-sha-1"}`, wantErr: "token_type mac requires mac_key"},
		{name: "mac without algorithm", ctype: "application/json", body: `{"access_token":"secret-at","token_type":"mac","mac_key":"secret-k"}`, wantErr: "token_type mac requires mac_algorithm"},
		{name: "mac bad algorithm", ctype: "application/json", body: `{"access_token":"secret-at","token_type":"mac","mac_key":"secret-k","mac_algorithm":"md5"}`, wantErr: `unsupported mac_algorithm "md5"`},
		{name: "expires_in not numeric", ctype: "application/json", body: `{"access_token":"secret-at","token_type":"bearer","expires_in":"soon"}`, wantErr: "field expires_in must be a number or a numeric string"},
		{name: "expires_in negative", ctype: "application/json", body: `{"access_token":"secret-at","token_type":"bearer","expires_in":-5}`, wantErr: "field expires_in must not be negative"},
		{name: "scope wrong type", ctype: "application/json", body: `{"access_token":"secret-at","token_type":"bearer","scope":7}`, wantErr: "field scope must be a string or an array of strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTokenResponse(200, tt.ctype, []byte(tt.body), testNow, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret-") {
					t.Errorf("error echoes the body: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.IssuedAt = testNow
			if *got != *tt.want {
				t.Errorf("token = %+v\n      want %+v", *got, *tt.want)
			}
		})
	}
}

func TestParseErrorResponseRedactsEchoedSecrets(t *testing.T) {
	body := `{"error":"invalid_grant","error_description":"refresh token ` + testRefresh + ` is revoked"}`
	e := parseErrorResponse(400, "application/json", []byte(body), []string{testRefresh})
	if strings.Contains(e.Error(), testRefresh) || !strings.Contains(e.Description, "[redacted]") {
		t.Errorf("description not redacted: %q", e.Description)
	}
}

func TestErrorRetryable(t *testing.T) {
	tests := []struct {
		e    Error
		want bool
	}{
		{Error{StatusCode: 400, Code: "invalid_grant"}, false},
		{Error{StatusCode: 401, Code: "invalid_client"}, false},
		{Error{StatusCode: 503, Code: "http_503"}, true},
		{Error{StatusCode: 429, Code: "http_429"}, true},
		{Error{StatusCode: 400, Code: "temporarily_unavailable"}, true},
	}
	for _, tt := range tests {
		if got := tt.e.Retryable(); got != tt.want {
			t.Errorf("%+v.Retryable() = %v, want %v", tt.e, got, tt.want)
		}
	}
	var target *Error
	if !errors.As(error(&Error{Code: "x"}), &target) {
		t.Error("errors.As failed")
	}
}
