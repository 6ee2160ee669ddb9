package oidctest

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// secretJWTAssertion builds a client_secret_jwt assertion for the HS256
// client; edit changes the claims, alg and key to make it wrong.
func secretJWTAssertion(t *testing.T, s *Server, alg jwt.SigningMethod, secret string, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": s.SecretJWTClient.ID, "sub": s.SecretJWTClient.ID, "aud": s.TokenEndpoint,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": uuid.NewString(),
	}
	if edit != nil {
		edit(c)
	}
	a, err := jwt.NewWithClaims(alg, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func assertionAuth(assertion string) clientAuth {
	return func(_ *testing.T, s *Server, form url.Values, _ http.Header) {
		form.Set("client_id", s.SecretJWTClient.ID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
}

// TestClientSecretJWT: the provider's built-in client_secret_jwt accepts an
// HS256 assertion keyed with the registered secret and refuses everything a
// strict RFC 7523 §3 server must refuse.
func TestClientSecretJWT(t *testing.T) {
	s := Start(t, Options{})
	secret := s.SecretJWTClient.Secret
	replayed := secretJWTAssertion(t, s, jwt.SigningMethodHS256, secret, nil)
	if r := postForm(t, s, s.TokenEndpoint, assertionAuth(replayed), url.Values{"grant_type": {"client_credentials"}}, nil); r.status != http.StatusOK {
		t.Fatalf("first use of the assertion: %d %v", r.status, r.body)
	}
	tests := []struct {
		name    string
		auth    clientAuth
		wantErr string
	}{
		{name: "valid", auth: assertionAuth(secretJWTAssertion(t, s, jwt.SigningMethodHS256, secret, nil))},
		{name: "issuer as audience", auth: assertionAuth(secretJWTAssertion(t, s, jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["aud"] = s.Issuer }))},
		{name: "wrong secret", auth: assertionAuth(secretJWTAssertion(t, s, jwt.SigningMethodHS256, secret+"x", nil)), wantErr: "invalid_client"},
		{name: "replayed jti", auth: assertionAuth(replayed), wantErr: "invalid_client"},
		{name: "expired", auth: assertionAuth(secretJWTAssertion(t, s, jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) {
			c["iat"], c["exp"] = time.Now().Add(-5*time.Minute).Unix(), time.Now().Add(-time.Minute).Unix()
		})), wantErr: "invalid_client"},
		{name: "other audience", auth: assertionAuth(secretJWTAssertion(t, s, jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["aud"] = "https://elsewhere.example" })), wantErr: "invalid_client"},
		{name: "no jti", auth: assertionAuth(secretJWTAssertion(t, s, jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { delete(c, "jti") })), wantErr: "invalid_client"},
		{name: "HS512 when HS256 is registered", auth: assertionAuth(secretJWTAssertion(t, s, jwt.SigningMethodHS512, secret, nil)), wantErr: "invalid_client"},
		{name: "the secret sent as client_secret_basic", auth: basicAuth(func(s *Server) Client { return s.SecretJWTClient }), wantErr: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, s, s.TokenEndpoint, tt.auth, url.Values{"grant_type": {"client_credentials"}, "scope": {"api:read"}}, nil)
			if tt.wantErr != "" {
				wantError(t, r, http.StatusUnauthorized, tt.wantErr)
				return
			}
			res := callResource(t, s, "Bearer", wantToken(t, r), "")
			if res.status != http.StatusOK || res.str("client_id") != s.SecretJWTClient.ID {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
		})
	}
}
