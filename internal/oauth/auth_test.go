package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

func TestBasicAuthVectors(t *testing.T) {
	tests := []struct{ id, secret, want string }{
		{"s6BhdRkqt3", "gX1fBat3bV", "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"},
		{"my client", "p@ss:w/rd+%", "Basic bXkrY2xpZW50OnAlNDBzcyUzQXclMkZyZCUyQiUyNQ=="},
	}
	for _, tt := range tests {
		if got := BasicAuth(tt.id, tt.secret); got != tt.want {
			t.Errorf("BasicAuth(%q, %q) = %q, want %q", tt.id, tt.secret, got, tt.want)
		}
	}
}

var (
	rsaOnce sync.Once
	rsaTest *rsa.PrivateKey
)

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaTest = k
	})
	return rsaTest
}

func TestPrivateKeyJWTAssertion(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name     string
		key      crypto.Signer
		alg      string
		audience string
		wantAud  string
	}{
		{"RSA", rsaKey(t), "RS256", "", "TOKENURL"},
		{"P-256", ec256, "ES256", "https://issuer.example", "https://issuer.example"},
		{"P-384", ec384, "ES384", "", "TOKENURL"},
		{"Ed25519", ed, "EdDSA", "", "TOKENURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, okBody))
			c := newTestClient(t, f, Options{
				AuthMethod:  config.AuthPrivateKeyJWT,
				Audience:    tt.audience,
				Credentials: staticCreds(Credentials{ClientID: testClientID, Key: tt.key}),
			})
			if _, err := c.ClientCredentials(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			r := f.only(t)
			if r.Header.Get("Authorization") != "" {
				t.Errorf("private_key_jwt also sent Authorization %q", r.Header.Get("Authorization"))
			}
			form := mustParseQuery(t, r.Body)
			if form.Get("client_assertion_type") != ClientAssertionType || form.Get("client_id") != testClientID {
				t.Errorf("form = %v", form)
			}
			if form.Get("client_secret") != "" {
				t.Error("client_secret sent with private_key_jwt")
			}
			wantAud := strings.Replace(tt.wantAud, "TOKENURL", f.URL+"/token", 1)
			claims := jwt.MapClaims{}
			tok, err := jwt.ParseWithClaims(form.Get("client_assertion"), claims,
				func(*jwt.Token) (any, error) { return tt.key.Public(), nil },
				jwt.WithValidMethods([]string{tt.alg}),
				jwt.WithTimeFunc(func() time.Time { return testNow }),
				jwt.WithAudience(wantAud), jwt.WithIssuer(testClientID), jwt.WithSubject(testClientID),
				jwt.WithIssuedAt(), jwt.WithExpirationRequired())
			if err != nil {
				t.Fatalf("assertion does not verify: %v", err)
			}
			if tok.Method.Alg() != tt.alg {
				t.Errorf("alg = %s, want %s", tok.Method.Alg(), tt.alg)
			}
			if aud, _ := claims["aud"].(string); aud != wantAud {
				t.Errorf("aud = %#v, want the plain string %q", claims["aud"], wantAud)
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if int64(iat) != testNow.Unix() || int64(exp) != testNow.Add(60*time.Second).Unix() {
				t.Errorf("iat/exp = %v/%v, want %d/%d", iat, exp, testNow.Unix(), testNow.Unix()+60)
			}
			jti, _ := claims["jti"].(string)
			if _, err := uuid.Parse(jti); err != nil {
				t.Errorf("jti %q is not a UUID", jti)
			}
		})
	}
}

func TestPrivateKeyJWTRejectsUnsupportedKeys(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	f := newFakeAS(t, jsonReply(200, okBody))
	c := newTestClient(t, f, Options{
		AuthMethod:  config.AuthPrivateKeyJWT,
		Credentials: staticCreds(Credentials{ClientID: "x", Key: p224}),
	})
	_, err := c.ClientCredentials(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "P-256 or P-384, got P-224") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientSecretJWTAssertion: RFC 7523 §2.2 / OpenID Core §9: an HS256 JWT
// keyed with the client secret's octets, iss = sub = client id, and the
// secret itself never on the wire.
func TestClientSecretJWTAssertion(t *testing.T) {
	tests := []struct {
		name, audience, wantAud string
	}{
		{"default audience is the token URL", "", "TOKENURL"},
		{"configured audience", "https://issuer.example", "https://issuer.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, okBody))
			c := newTestClient(t, f, Options{
				AuthMethod:  config.AuthClientSecretJWT,
				Audience:    tt.audience,
				Credentials: staticCreds(Credentials{ClientID: testClientID, ClientSecret: testClientSecret}),
			})
			for range 2 {
				if _, err := c.ClientCredentials(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
			}
			reqs := f.requests()
			jtis := map[string]bool{}
			for _, r := range reqs {
				if r.Header.Get("Authorization") != "" {
					t.Errorf("client_secret_jwt also sent Authorization %q", r.Header.Get("Authorization"))
				}
				if strings.Contains(r.Body, testClientSecret) || strings.Contains(r.Body, url.QueryEscape(testClientSecret)) {
					t.Error("the client secret itself went on the wire")
				}
				form := mustParseQuery(t, r.Body)
				if form.Get("client_assertion_type") != ClientAssertionType || form.Get("client_id") != testClientID || form.Has("client_secret") {
					t.Errorf("form = %v", form)
				}
				wantAud := strings.Replace(tt.wantAud, "TOKENURL", f.URL+"/token", 1)
				claims := jwt.MapClaims{}
				if _, err := jwt.ParseWithClaims(form.Get("client_assertion"), claims,
					func(*jwt.Token) (any, error) { return []byte(testClientSecret), nil },
					jwt.WithValidMethods([]string{"HS256"}),
					jwt.WithTimeFunc(func() time.Time { return testNow }),
					jwt.WithAudience(wantAud), jwt.WithIssuer(testClientID), jwt.WithSubject(testClientID),
					jwt.WithIssuedAt(), jwt.WithExpirationRequired()); err != nil {
					t.Fatalf("assertion does not verify with the client secret as HS256 key: %v", err)
				}
				if aud, _ := claims["aud"].(string); aud != wantAud {
					t.Errorf("aud = %#v, want the plain string %q", claims["aud"], wantAud)
				}
				iat, _ := claims["iat"].(float64)
				exp, _ := claims["exp"].(float64)
				if int64(iat) != testNow.Unix() || int64(exp) != testNow.Add(AssertionLifetime).Unix() {
					t.Errorf("iat/exp = %v/%v, want %d/%d", iat, exp, testNow.Unix(), testNow.Add(AssertionLifetime).Unix())
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
