package pop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestMintDecodesWithGolangJWT reads Mint's output with an independent JWT
// library: signature, header and every claim, including a jti that needs
// escaping and the default random one.
func TestMintDecodesWithGolangJWT(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	tests := []struct {
		name     string
		sign     []string
		req      Request
		jti      string // "" = the default random jti
		wantJTI  string // "" = any version 4 UUID
		wantEHTS string
		values   []string
	}{
		{name: "default jti", sign: []string{"uri", "http-method", "body"},
			req:      Request{Method: "POST", URI: "/v1/orders?expand=items", Body: []byte(`{"sku":"ABC-123","qty":2}`)},
			wantEHTS: "uri;http-method;body", values: []string{"/v1/orders?expand=items", "POST", `{"sku":"ABC-123","qty":2}`}},
		{name: "jti needing escapes", sign: []string{"uri"}, req: Request{Method: "GET", URI: "/q?a=<b>"},
			jti: "a\"b\\c\n\x01<&>\u2028é\xff", wantJTI: "a\"b\\c\n\x01<&>\u2028é\ufffd",
			wantEHTS: "uri", values: []string{"/q?a=<b>"}},
		{name: "header and uri", sign: []string{"Content-Type", "uri", "http-method", "body"},
			req:      Request{Method: "GET", URI: "/a b", Header: hdr},
			wantEHTS: "Content-Type;uri;http-method", values: []string{"application/json; charset=utf-8", "/a b", "GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBuilder(key, tt.sign, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			b.Now = func() time.Time { return testNow }
			if tt.jti != "" {
				b.NewJTI = func() string { return tt.jti }
			}
			tok, err := b.Mint(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return testNow }),
				jwt.WithIssuedAt(), jwt.WithExpirationRequired())
			if err != nil {
				t.Fatalf("golang-jwt rejects %s: %v", tok, err)
			}
			if parsed.Header["alg"] != "RS256" || parsed.Header["typ"] != "JWT" || len(parsed.Header) != 2 {
				t.Errorf("header %v, want exactly alg RS256 and typ JWT", parsed.Header)
			}
			c := parsed.Claims.(jwt.MapClaims)
			if len(c) != 6 {
				t.Errorf("claims %v, want exactly ehts, edts, jti, v, iat, exp", c)
			}
			for k, want := range map[string]any{
				"ehts": tt.wantEHTS, "edts": edtsOf(tt.values...), "v": "1",
				"iat": float64(testNow.Unix()), "exp": float64(testNow.Unix() + 60),
			} {
				if c[k] != want {
					t.Errorf("claim %s = %#v, want %#v", k, c[k], want)
				}
			}
			jti, _ := c["jti"].(string)
			if tt.wantJTI != "" && jti != tt.wantJTI {
				t.Errorf("jti = %q, want %q", jti, tt.wantJTI)
			}
			if tt.wantJTI == "" && !uuidV4Text.MatchString(jti) {
				t.Errorf("default jti %q is not a version 4 UUID", jti)
			}
			// And the project's own validator, which follows T-Mobile's rules.
			v := &Validator{Key: &key.PublicKey, Now: func() time.Time { return testNow }}
			if _, err := v.Validate(tok, tt.req); err != nil {
				t.Errorf("Validator rejects it: %v", err)
			}
		})
	}
}

// TestMintAllocations holds Mint to the allocations of the bare signature
// it contains plus the returned string: everything else comes from pools.
func TestMintAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items on purpose")
	}
	key := testRSAKey(t, "rsa_pkcs8.pem")
	hdr := http.Header{"X-Multi": {"a", "b"}}
	b, err := NewBuilder(key, []string{"uri", "http-method", "body", "X-Multi"}, MaxLifetime)
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Method: "POST", URI: "/v1/orders?expand=items", Header: hdr, Body: []byte(`{"sku":"ABC-123","qty":2}`)}
	tok, err := b.Mint(r)
	if err != nil {
		t.Fatal(err)
	}
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	raw := testing.AllocsPerRun(20, func() {
		d := sha256.Sum256(input)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:]); err != nil {
			t.Fatal(err)
		}
	})
	mint := testing.AllocsPerRun(20, func() {
		if _, err := b.Mint(r); err != nil {
			t.Fatal(err)
		}
	})
	if mint > raw+1 {
		t.Errorf("Mint makes %v allocations, the raw signature %v: want at most one more (the token string)", mint, raw)
	}
}
