package pop

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestURIValue(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"no query", "https://api.example.com/v1/echo", "/v1/echo"},
		{"empty path", "https://api.example.com", "/"},
		{"empty path with query", "https://api.example.com?a=1", "/?a=1"},
		{"plain query", "https://h/v1/echo?x=1&y=2", "/v1/echo?x=1&y=2"},
		{"encoded values decoded", "https://h/p?redirect=https%3A%2F%2Fx.example%2Fa%3Fb%3Dc", "/p?redirect=https://x.example/a?b=c"},
		{"plus is a space", "https://h/p?q=a+b", "/p?q=a b"},
		{"encoded plus stays plus", "https://h/p?q=a%2Bb", "/p?q=a+b"},
		{"space escape", "https://h/p?q=a%20b", "/p?q=a b"},
		{"unicode", "https://h/p?name=%C3%A9t%C3%A9&city=%E6%9D%B1%E4%BA%AC", "/p?name=été&city=東京"},
		{"raw unicode", "https://h/p?name=été", "/p?name=été"},
		{"path escapes kept as sent", "https://h/a%2Fb/c%20d?x=%41", "/a%2Fb/c%20d?x=A"},
		{"malformed escape used as sent", "https://h/p?q=100%zz", "/p?q=100%zz"},
		{"repeated keys", "https://h/p?a=1&a=2", "/p?a=1&a=2"},
		{"key without value", "https://h/p?flag", "/p?flag"},
		{"empty query after ?", "https://h/p?", "/p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := URIValue(u); got != tt.want {
				t.Errorf("URIValue(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	if got := URIValue(nil); got != "" {
		t.Errorf("URIValue(nil) = %q", got)
	}
}

func TestNewBuilderRejects(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	tests := []struct {
		name     string
		sign     []string
		lifetime time.Duration
		nilKey   bool
		wantErr  string
	}{
		{name: "nil key", sign: []string{"uri"}, nilKey: true, wantErr: "key is nil"},
		{name: "empty sign", wantErr: "sign list is empty"},
		{name: "separator in name", sign: []string{"uri;body"}, wantErr: `sign[0] "uri;body"`},
		{name: "quote in name", sign: []string{"uri", `a"b`}, wantErr: `sign[1]`},
		{name: "empty name", sign: []string{""}, wantErr: `sign[0] ""`},
		{name: "duplicate header case-insensitively", sign: []string{"Content-Type", "content-type"}, wantErr: "listed twice"},
		{name: "lifetime too long", sign: []string{"uri"}, lifetime: 121 * time.Second, wantErr: "lifetime"},
		{name: "fractional lifetime", sign: []string{"uri"}, lifetime: 1500 * time.Millisecond, wantErr: "whole seconds"},
		{name: "negative lifetime", sign: []string{"uri"}, lifetime: -time.Second, wantErr: "lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := key
			if tt.nilKey {
				k = nil
			}
			_, err := NewBuilder(k, tt.sign, tt.lifetime)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	b, err := NewBuilder(key, []string{"uri"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Lifetime != MaxLifetime {
		t.Errorf("zero lifetime became %s, want %s", b.Lifetime, MaxLifetime)
	}
}

type decodedToken struct {
	header map[string]any
	claims map[string]any
}

func decodeToken(t *testing.T, tok string) decodedToken {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var d decodedToken
	for i, dst := range []*map[string]any{&d.header, &d.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && string(raw) != `{"alg":"RS256","typ":"JWT"}` {
			t.Fatalf("header is %s", raw)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("segment %d is not JSON: %v", i, err)
		}
	}
	return d
}

func edtsOf(values ...string) string {
	h := sha256.Sum256([]byte(strings.Join(values, "")))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// TestMintClaims checks the claims against an independent computation of
// ehts/edts, including the rule that empty values drop out of ehts.
func TestMintClaims(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Add("X-Multi", "a")
	hdr.Add("X-Multi", "b")
	tests := []struct {
		name     string
		sign     []string
		req      Request
		wantEHTS string
		values   []string
	}{
		{name: "uri method body", sign: []string{"uri", "http-method", "body"},
			req:      Request{Method: "POST", URI: "/v1/echo?x=1", Body: []byte(`{"a":1}`)},
			wantEHTS: "uri;http-method;body", values: []string{"/v1/echo?x=1", "POST", `{"a":1}`}},
		{name: "header first", sign: []string{"Content-Type", "uri", "http-method"},
			req:      Request{Method: "POST", URI: "/t", Header: hdr},
			wantEHTS: "Content-Type;uri;http-method", values: []string{"application/json", "/t", "POST"}},
		{name: "GET without body drops body", sign: []string{"uri", "http-method", "body"},
			req:      Request{Method: "GET", URI: "/v1/echo"},
			wantEHTS: "uri;http-method", values: []string{"/v1/echo", "GET"}},
		{name: "empty body drops body", sign: []string{"uri", "http-method", "body"},
			req:      Request{Method: "POST", URI: "/v1/echo", Body: []byte{}},
			wantEHTS: "uri;http-method", values: []string{"/v1/echo", "POST"}},
		{name: "absent header dropped", sign: []string{"uri", "X-Absent", "http-method"},
			req:      Request{Method: "GET", URI: "/a", Header: hdr},
			wantEHTS: "uri;http-method", values: []string{"/a", "GET"}},
		{name: "header lookup is case-insensitive", sign: []string{"content-type", "uri"},
			req:      Request{Method: "GET", URI: "/a", Header: hdr},
			wantEHTS: "content-type;uri", values: []string{"application/json", "/a"}},
		{name: "repeated header signed combined", sign: []string{"X-Multi"},
			req:      Request{Method: "GET", URI: "/a", Header: hdr},
			wantEHTS: "X-Multi", values: []string{"a, b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBuilder(key, tt.sign, 90*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			b.Now = func() time.Time { return testNow }
			b.NewJTI = func() string { return "jti-1" }
			tok, err := b.Mint(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			c := decodeToken(t, tok).claims
			want := map[string]any{
				"ehts": tt.wantEHTS, "edts": edtsOf(tt.values...), "jti": "jti-1", "v": "1",
				"iat": float64(testNow.Unix()), "exp": float64(testNow.Unix() + 90),
			}
			if len(c) != len(want) {
				t.Errorf("claims %v, want exactly %v", c, want)
			}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("claim %s = %v, want %v", k, c[k], v)
				}
			}
		})
	}
}

func TestMintErrors(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	b, err := NewBuilder(key, []string{"body", "X-Absent"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Mint(Request{Method: "GET", URI: "/"}); err == nil || !strings.Contains(err.Error(), "no key in the sign list has a value") {
		t.Errorf("all-empty sign list: error %v", err)
	}
	b.Lifetime = 5 * time.Minute
	if _, err := b.Mint(Request{Body: []byte("x")}); err == nil || !strings.Contains(err.Error(), "lifetime") {
		t.Errorf("lifetime changed after NewBuilder: error %v", err)
	}
	var zero Builder
	zero.Sign, zero.Lifetime = []string{"uri"}, time.Minute
	if _, err := zero.Mint(Request{URI: "/"}); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("zero Builder: error %v", err)
	}
}

func TestMintJTIEscaping(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	b, _ := NewBuilder(key, []string{"uri"}, 0)
	weird := "a\"b\\c\n\x01é"
	b.NewJTI = func() string { return weird }
	tok, err := b.Mint(Request{URI: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeToken(t, tok).claims["jti"]; got != weird {
		t.Fatalf("jti round-tripped as %q", got)
	}
}

func TestMintDefaultsAreRandomAndCurrent(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	b, _ := NewBuilder(key, []string{"uri", "http-method"}, 0)
	r := Request{Method: "GET", URI: "/"}
	t1, _ := b.Mint(r)
	t2, _ := b.Mint(r)
	c1, c2 := decodeToken(t, t1).claims, decodeToken(t, t2).claims
	if c1["jti"] == c2["jti"] {
		t.Errorf("two tokens share jti %v", c1["jti"])
	}
	v := &Validator{Key: &key.PublicKey}
	if _, err := v.Validate(t1, r); err != nil {
		t.Errorf("token minted with the real clock does not validate now: %v", err)
	}
}

// TestSetKeyConcurrent rotates the key while minting; run with -race. Every
// token must verify under exactly one of the two keys.
func TestSetKeyConcurrent(t *testing.T) {
	k1 := testRSAKey(t, "rsa_pkcs8.pem")
	k2 := testRSAKey(t, "other_rsa_pkcs8.pem")
	b, _ := NewBuilder(k1, []string{"uri"}, 0)
	r := Request{URI: "/"}
	v1, v2 := &Validator{Key: &k1.PublicKey}, &Validator{Key: &k2.PublicKey}
	var wg sync.WaitGroup
	toks := make(chan string, 40)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				tok, err := b.Mint(r)
				if err != nil {
					t.Error(err)
					return
				}
				toks <- tok
			}
		}()
	}
	for i := range 10 {
		if i%2 == 0 {
			b.SetKey(k2)
		} else {
			b.SetKey(k1)
		}
	}
	b.SetKey(nil) // ignored
	wg.Wait()
	close(toks)
	for tok := range toks {
		_, e1 := v1.Validate(tok, r)
		_, e2 := v2.Validate(tok, r)
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("token verifies under both or neither key: %v / %v", e1, e2)
		}
	}
}

// TestGolden pins the exact bytes of Mint: PKCS#1 v1.5 signatures are
// deterministic, so any change in claim order, encoding or digest shows up.
func TestGolden(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	hdr := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name string
		sign []string
		req  Request
	}{
		{"post-uri-method-body", []string{"uri", "http-method", "body"},
			Request{Method: "POST", URI: "/v1/echo?x=1", Body: []byte(`{"hello":"world"}`)}},
		{"token-endpoint-content-type", []string{"Content-Type", "uri", "http-method", "body"},
			Request{Method: "POST", URI: "/oauth2/v6/tokens", Header: hdr, Body: []byte("grant_type=client_credentials")}},
		{"get-no-body", []string{"uri", "http-method", "body"},
			Request{Method: "GET", URI: "/v1/echo?q=a b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBuilder(key, tc.sign, MaxLifetime)
			if err != nil {
				t.Fatal(err)
			}
			b.Now = func() time.Time { return testNow }
			b.NewJTI = func() string { return "5b0e7a44-8c4f-4f43-9a7e-0d1c2b3a4f5e" }
			got, err := b.Mint(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tc.name+".jwt")
			if os.Getenv("UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create)", err)
			}
			if got != string(bytes.TrimSpace(want)) {
				t.Errorf("Mint output differs from %s (UPDATE_GOLDEN=1 regenerates)\n got: %s\nwant: %s", path, got, want)
			}
			v := &Validator{Key: &key.PublicKey, Now: func() time.Time { return testNow }}
			if _, err := v.Validate(string(bytes.TrimSpace(want)), tc.req); err != nil {
				t.Errorf("golden token does not validate: %v", err)
			}
		})
	}
}
