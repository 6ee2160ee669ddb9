package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// bearerClaims are valid RFC 7523 §3 claims for client's assertion about sub.
func bearerClaims(s *Server, client Client, sub string, edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": client.ID, "sub": sub, "aud": s.TokenEndpoint,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": uuid.NewString(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func bearerForm(assertion string) url.Values {
	return url.Values{"grant_type": {GrantJWTBearer}, "assertion": {assertion}, "scope": {"api:read"}}
}

// TestJWTBearerGrant: the provider's RFC 7523 §2.1 grant issues a token for
// the assertion's sub to any client whose registered key signed it, with
// that client's own authentication alongside, and refuses (invalid_grant)
// every assertion §3 says a server must refuse, plus replays.
func TestJWTBearerGrant(t *testing.T) {
	s := Start(t, Options{})
	otherKey := newECKey(t)
	signed := func(claims jwt.MapClaims) string {
		a, err := sign(s.ClientKey, s.ClientKeyAlg, s.ClientKeyID, claims)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	basic := s.BasicClient
	replayed := signed(bearerClaims(s, basic, "tel:+34600000009", nil))
	if r := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), bearerForm(replayed), nil); r.status != http.StatusOK {
		t.Fatalf("first use: %d %v", r.status, r.body)
	}
	tests := []struct {
		name      string
		auth      clientAuth
		assertion string
		wantErr   string
		wantSub   string
	}{
		{name: "basic client", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "tel:+34600000001", nil)), wantSub: "tel:+34600000001"},
		{name: "private_key_jwt client, issuer as aud", auth: jwtAuth,
			assertion: signed(bearerClaims(s, s.PrivateKeyJWTClient, "operatortoken:abc", func(c jwt.MapClaims) { c["aud"] = s.Issuer })), wantSub: "operatortoken:abc"},
		{name: "public client, exp 300s ahead", auth: publicAuth,
			assertion: signed(bearerClaims(s, s.PublicClient, "u-7", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(300 * time.Second).Unix() })), wantSub: "u-7"},
		{name: "replayed jti", auth: basicAuth(basicClient), assertion: replayed, wantErr: "invalid_grant"},
		{name: "expired", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "s", func(c jwt.MapClaims) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Minute).Unix(), time.Now().Add(-time.Minute).Unix()
		})), wantErr: "invalid_grant"},
		{name: "exp more than 300s ahead", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "s", func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(10 * time.Minute).Unix()
		})), wantErr: "invalid_grant"},
		{name: "iat in the future", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "s", func(c jwt.MapClaims) {
			c["iat"] = time.Now().Add(time.Minute).Unix()
		})), wantErr: "invalid_grant"},
		{name: "no exp", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "s", func(c jwt.MapClaims) { delete(c, "exp") })), wantErr: "invalid_grant"},
		{name: "no jti", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "s", func(c jwt.MapClaims) { delete(c, "jti") })), wantErr: "invalid_grant"},
		{name: "no sub", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "s", func(c jwt.MapClaims) { delete(c, "sub") })), wantErr: "invalid_grant"},
		{name: "another server's aud", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "s", func(c jwt.MapClaims) {
			c["aud"] = "https://elsewhere.example/token"
		})), wantErr: "invalid_grant"},
		{name: "iss is another client", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, s.PostClient, "s", nil)), wantErr: "invalid_grant"},
		{name: "signed by an unregistered key", auth: basicAuth(basicClient), assertion: func() string {
			a, err := sign(otherKey, "ES256", s.ClientKeyID, bearerClaims(s, basic, "s", nil))
			if err != nil {
				t.Fatal(err)
			}
			return a
		}(), wantErr: "invalid_grant"},
		{name: "HS256 keyed with the client secret", auth: basicAuth(basicClient), assertion: func() string {
			a, err := jwt.NewWithClaims(jwt.SigningMethodHS256, bearerClaims(s, basic, "s", nil)).SignedString([]byte(basic.Secret))
			if err != nil {
				t.Fatal(err)
			}
			return a
		}(), wantErr: "invalid_grant"},
		{name: "unknown subject", auth: basicAuth(basicClient), assertion: signed(bearerClaims(s, basic, "tel:+34999999999", nil)), wantErr: "invalid_grant"},
		{name: "valid assertion, wrong client secret", auth: basicAuth(wrongSecret(basicClient)),
			assertion: signed(bearerClaims(s, basic, "s", nil)), wantErr: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, s, s.TokenEndpoint, tt.auth, bearerForm(tt.assertion), nil)
			switch tt.wantErr {
			case "":
			case "invalid_client":
				wantError(t, r, http.StatusUnauthorized, tt.wantErr)
				return
			default:
				wantError(t, r, http.StatusBadRequest, tt.wantErr)
				return
			}
			at := wantToken(t, r)
			if r.str("refresh_token") != "" {
				t.Error("a refresh token was issued; the client signs a new assertion instead")
			}
			res := callResource(t, s, "Bearer", at, "")
			if res.status != http.StatusOK || res.str("sub") != tt.wantSub || res.str("scope") != "api:read" {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
		})
	}
	t.Run("missing assertion", func(t *testing.T) {
		r := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), url.Values{"grant_type": {GrantJWTBearer}}, nil)
		wantError(t, r, http.StatusBadRequest, "invalid_request")
	})
}

// TestJWTBearerGrantPS256: an RSA key registered for PS256 verifies PS256
// assertions, and the registration is binding: RS256 with the same key is
// refused.
func TestJWTBearerGrantPS256(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := Start(t, Options{ClientPublicKey: k.Public(), ClientKeyAlg: "PS256"})
	for _, tt := range []struct{ alg, wantErr string }{{"PS256", ""}, {"RS256", "invalid_grant"}} {
		t.Run(tt.alg, func(t *testing.T) {
			a, err := sign(k, tt.alg, s.ClientKeyID, bearerClaims(s, s.BasicClient, "tel:+34600000002", nil))
			if err != nil {
				t.Fatal(err)
			}
			r := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), bearerForm(a), nil)
			if tt.wantErr != "" {
				wantError(t, r, http.StatusBadRequest, tt.wantErr)
				return
			}
			res := callResource(t, s, "Bearer", wantToken(t, r), "")
			if res.status != http.StatusOK || res.str("sub") != "tel:+34600000002" {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
		})
	}
}
