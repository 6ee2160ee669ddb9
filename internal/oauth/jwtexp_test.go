package oauth

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"
)

// jws builds an unsigned-looking compact JWS around payload; JWTExpiry never
// checks signatures, so the signature part is filler.
func jws(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"at+jwt"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestJWTExpiry(t *testing.T) {
	exp := time.Unix(1893456000, 0) // 2030-01-01
	tests := []struct {
		name   string
		tok    string
		want   time.Time
		wantOK bool
	}{
		{"integer exp", jws(`{"sub":"x","exp":1893456000}`), exp, true},
		{"fractional exp", jws(`{"exp":1893456000.5}`), exp.Add(500 * time.Millisecond), true},
		{"no exp claim", jws(`{"sub":"x"}`), time.Time{}, false},
		{"exp is a string", jws(`{"exp":"1893456000"}`), time.Time{}, false},
		{"exp null", jws(`{"exp":null}`), time.Time{}, false},
		{"negative exp", jws(`{"exp":-1}`), time.Time{}, false},
		{"payload not JSON", "eyJhbGciOiJub25lIn0.bm90LWpzb24.", time.Time{}, false},
		{"payload not base64url", "a.!!!.c", time.Time{}, false},
		{"opaque token", "2YotnFZFEjr1zCsicMWpAA", time.Time{}, false},
		{"JWE has five parts and is unreadable", "a.b.c.d.e", time.Time{}, false},
		{"two parts", "a.b", time.Time{}, false},
		{"payload is an array", jws(`[1,2]`), time.Time{}, false},
		{"huge exp does not overflow", jws(`{"exp":1e300}`), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := JWTExpiry(tt.tok)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Fatalf("JWTExpiry = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestTokenExpiryRespectsJWTExp: a JWT access token's exp caps the expiry
// derived from expires_in (issue 8 item 1), and stands in for a missing
// expires_in; it never extends the server's stated lifetime.
func TestTokenExpiryRespectsJWTExp(t *testing.T) {
	at := func(d time.Duration) string {
		return jws(`{"exp":` + strconv.FormatInt(testNow.Add(d).Unix(), 10) + `}`)
	}
	tests := []struct {
		name      string
		accessTok string
		expiresIn string // "" leaves it out
		want      time.Duration
	}{
		{"exp earlier than expires_in wins", at(60 * time.Second), "3600", 60 * time.Second},
		{"expires_in earlier than exp wins", at(2 * time.Hour), "3600", time.Hour},
		{"exp stands in for a missing expires_in", at(90 * time.Second), "", 90 * time.Second},
		{"exp stands in for expires_in 0", at(90 * time.Second), "0", 90 * time.Second},
		{"opaque token keeps expires_in", "opaque-token", "3600", time.Hour},
		{"exp in the past is kept: the token is unusable", at(-time.Minute), "3600", -time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"access_token":"` + tt.accessTok + `","token_type":"bearer"`
			if tt.expiresIn != "" {
				body += `,"expires_in":` + tt.expiresIn
			}
			body += "}"
			tok, err := parseTokenResponse(200, "application/json", []byte(body), testNow, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Expiry.Sub(testNow); got != tt.want {
				t.Errorf("expiry = now+%s, want now+%s", got, tt.want)
			}
		})
	}
}
