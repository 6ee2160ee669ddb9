package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestJWTBearerGrant: RFC 7523 §2.1 on the wire (grant_type, assertion,
// scope) and §3 in the assertion (iss = client id, sub, aud, exp, iat, a
// fresh jti), signed with the algorithm the key or the request names, next
// to whatever client authentication the binding uses.
func TestJWTBearerGrant(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name     string
		key      crypto.Signer
		req      JWTBearerRequest
		wantAlg  string
		wantAud  string
		wantLife time.Duration
	}{
		{"RSA by default RS256", rsaKey(t), JWTBearerRequest{Subject: "tel:+34600000001"}, "RS256", "TOKENURL", AssertionLifetime},
		{"RSA as PS256, kid, 300s", rsaKey(t), JWTBearerRequest{Subject: "u1", Algorithm: config.AlgPS256, KeyID: "k-7", Lifetime: 300 * time.Second}, "PS256", "TOKENURL", 300 * time.Second},
		{"P-256, configured audience", ec256, JWTBearerRequest{Subject: "operatortoken:abc", Audience: "https://issuer.example"}, "ES256", "https://issuer.example", AssertionLifetime},
		{"P-256 named ES256", ec256, JWTBearerRequest{Subject: "u2", Algorithm: config.AlgES256, Scopes: []string{"a", "b"}}, "ES256", "TOKENURL", AssertionLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, okBody))
			c := newTestClient(t, f, Options{
				AuthMethod:  config.AuthClientSecretBasic,
				Credentials: staticCreds(Credentials{ClientID: testClientID, ClientSecret: testClientSecret, Key: tt.key}),
			})
			for range 2 {
				if _, err := c.JWTBearer(context.Background(), tt.req); err != nil {
					t.Fatal(err)
				}
			}
			jtis := map[string]bool{}
			for _, r := range f.requests() {
				if r.Header.Get("Authorization") != BasicAuth(testClientID, testClientSecret) {
					t.Errorf("client authentication missing next to the grant: %q", r.Header.Get("Authorization"))
				}
				form := mustParseQuery(t, r.Body)
				if form.Get("grant_type") != GrantTypeJWTBearer {
					t.Errorf("grant_type = %q", form.Get("grant_type"))
				}
				if got := form.Get("scope"); got != strings.Join(tt.req.Scopes, " ") {
					t.Errorf("scope = %q", got)
				}
				if form.Has("client_assertion") {
					t.Error("the grant assertion went out as a client assertion")
				}
				wantAud := strings.Replace(tt.wantAud, "TOKENURL", f.URL+"/token", 1)
				claims := jwt.MapClaims{}
				tok, err := jwt.ParseWithClaims(form.Get("assertion"), claims,
					func(*jwt.Token) (any, error) { return tt.key.Public(), nil },
					jwt.WithValidMethods([]string{tt.wantAlg}),
					jwt.WithTimeFunc(func() time.Time { return testNow }),
					jwt.WithAudience(wantAud), jwt.WithIssuer(testClientID), jwt.WithSubject(tt.req.Subject),
					jwt.WithIssuedAt(), jwt.WithExpirationRequired())
				if err != nil {
					t.Fatalf("assertion does not verify: %v", err)
				}
				if kid, _ := tok.Header["kid"].(string); kid != tt.req.KeyID {
					t.Errorf("kid = %q, want %q", kid, tt.req.KeyID)
				}
				if aud, _ := claims["aud"].(string); aud != wantAud {
					t.Errorf("aud = %#v, want the plain string %q", claims["aud"], wantAud)
				}
				iat, _ := claims["iat"].(float64)
				exp, _ := claims["exp"].(float64)
				if int64(iat) != testNow.Unix() || int64(exp) != testNow.Add(tt.wantLife).Unix() {
					t.Errorf("iat/exp = %v/%v, want %d/%d", iat, exp, testNow.Unix(), testNow.Add(tt.wantLife).Unix())
				}
				jti, _ := claims["jti"].(string)
				if _, err := uuid.Parse(jti); err != nil || jtis[jti] {
					t.Errorf("jti %q is not a fresh UUID", jti)
				}
				jtis[jti] = true
			}
		})
	}
}

// TestJWTBearerRefusedBeforeSending: what the client can tell is wrong never
// reaches the server, and the error says what.
func TestJWTBearerRefusedBeforeSending(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name  string
		creds *Credentials // nil: no Credentials func at all
		req   JWTBearerRequest
		want  string
	}{
		{"empty subject", &Credentials{ClientID: testClientID, Key: ec256}, JWTBearerRequest{}, "jwt-bearer: Subject is empty"},
		{"lifetime over 300s", &Credentials{ClientID: testClientID, Key: ec256}, JWTBearerRequest{Subject: "s", Lifetime: 301 * time.Second}, "jwt-bearer: Lifetime must be at most 5m0s, got 5m1s"},
		{"PS256 with an EC key", &Credentials{ClientID: testClientID, Key: ec256}, JWTBearerRequest{Subject: "s", Algorithm: "PS256"}, "PS256 needs an RSA key, got *ecdsa.PrivateKey"},
		{"ES256 with an RSA key", &Credentials{ClientID: testClientID, Key: rsaKey(t)}, JWTBearerRequest{Subject: "s", Algorithm: "ES256"}, "ES256 needs an ECDSA P-256 key"},
		{"ES256 with a P-384 key", &Credentials{ClientID: testClientID, Key: ec384}, JWTBearerRequest{Subject: "s", Algorithm: "ES256"}, "ES256 needs an ECDSA P-256 key, got P-384"},
		{"unknown algorithm", &Credentials{ClientID: testClientID, Key: ec256}, JWTBearerRequest{Subject: "s", Algorithm: "HS256"}, `unsupported algorithm "HS256"`},
		{"no key", &Credentials{ClientID: testClientID}, JWTBearerRequest{Subject: "s"}, "jwt-bearer: no private key to sign the assertion"},
		{"no client id", &Credentials{Key: ec256}, JWTBearerRequest{Subject: "s"}, "jwt-bearer: client ID is empty (it is the assertion's iss)"},
		{"no credentials", nil, JWTBearerRequest{Subject: "s"}, "jwt-bearer: Credentials are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, okBody))
			var c *Client
			if tt.creds != nil {
				c = newTestClient(t, f, Options{AuthMethod: config.AuthNone, Credentials: staticCreds(*tt.creds)})
			} else {
				// newTestClient would supply Credentials.
				var err error
				if c, err = NewClient(Options{TokenURL: f.URL + "/token", AuthMethod: config.AuthNone}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.JWTBearer(context.Background(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("sent %d requests", n)
			}
		})
	}
}
