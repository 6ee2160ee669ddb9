package oauth

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseTokenResponse feeds arbitrary bodies and content-types to both
// response parsers. They must never panic, must return exactly one of a
// token or an error, and an accepted token must satisfy the invariants the
// refresher and signers rely on.
func FuzzParseTokenResponse(f *testing.F) {
	seeds := []struct{ ctype, body string }{
		{"application/json", okBody},
		{"application/json;charset=UTF-8", `{"access_token":"a","token_type":"mac","mac_key":"k","mac_algorithm":"hmac-sha-1","expires_in":"60"}`},
		{"application/json", `{"access_token":"a","token_type":"N_A","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}`},
		{"", `{"access_token":"a","token_type":"DPoP","scope":["x","y"],"expires_in":1e308}`},
		{"application/json", `{"error":"invalid_client","error_description":"bad\u0000"}`},
		{"text/html", "<html>oops</html>"},
		{"application/json", `{"access_token":`},
		{"application/json", `[1,2]`},
		{"application/json", `null`},
		{"application/json", `{"access_token":"a","token_type":"bearer","expires_in":-1}`},
		{"application/json", `{"access_token":"a","token_type":"bearer","expires_in":"NaN"}`},
		{"bogus/;;", `{}`},
		{"application/json", "\xff\xfe"},
	}
	for _, s := range seeds {
		f.Add(s.ctype, []byte(s.body))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		tok, err := parseTokenResponse(200, ctype, body, now, []string{"sekret"})
		if (tok == nil) == (err == nil) {
			t.Fatalf("token=%v err=%v: want exactly one", tok, err)
		}
		if tok != nil {
			if tok.AccessToken == "" {
				t.Fatal("accepted a token without access_token")
			}
			switch tok.TokenType {
			case TokenTypeBearer, TokenTypeMAC, TokenTypeDPoP, TokenTypeNA:
			default:
				t.Fatalf("accepted token_type %q", tok.TokenType)
			}
			if tok.TokenType == TokenTypeMAC && (tok.MACKey == "" || (tok.MACAlgorithm != MACHMACSHA1 && tok.MACAlgorithm != MACHMACSHA256)) {
				t.Fatalf("accepted mac token without usable key/algorithm")
			}
			if !tok.Expiry.IsZero() && tok.Expiry.Before(now) {
				t.Fatalf("expiry %v before issue time", tok.Expiry)
			}
		}
		e := parseErrorResponse(400, ctype, body, []string{"sekret"})
		if e == nil || e.Code == "" {
			t.Fatalf("parseErrorResponse returned %+v", e)
		}
		if strings.Contains(e.Error(), "sekret") {
			t.Fatalf("error leaks a redacted value: %q", e.Error())
		}
		if len(e.Description) > maxDescriptionLen+len("…")+len("[redacted]") {
			t.Fatalf("description not capped: %d bytes", len(e.Description))
		}
		if utf8.ValidString(e.Description) && strings.ContainsAny(e.Description, "\n\r\x1b") {
			t.Fatalf("description keeps control characters: %q", e.Description)
		}
	})
}
