package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// forgeToken signs claims with a key the provider does not trust, under the
// trusted key's kid so only the signature check can reject it.
func forgeToken(t *testing.T, s *Server, claims jwt.MapClaims) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sign(k, "RS256", s.SubjectTokenKeyID, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mint(t *testing.T, s *Server, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := sign(s.SubjectTokenKey, s.SubjectTokenAlg, s.SubjectTokenKeyID, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenExchangeRFC8693(t *testing.T) {
	s := Start(t, Options{})
	now := time.Now()
	valid, err := s.SubjectToken("user-42", now.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": s.SubjectTokenIssuer, "aud": s.SubjectTokenAudience, "sub": "user-42",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		mod(c)
		return c
	}
	const jwtType = "urn:ietf:params:oauth:token-type:jwt"
	tests := []struct {
		name    string
		auth    clientAuth
		form    url.Values
		wantErr string
	}{
		{name: "valid, basic", auth: basicAuth(basicClient), form: url.Values{"subject_token": {valid}, "subject_token_type": {jwtType}}},
		{name: "valid with audience and requested type, private_key_jwt", auth: jwtAuth, form: url.Values{
			"subject_token": {valid}, "subject_token_type": {jwtType}, "audience": {"https://api.partner.example/"},
			"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "scope": {"api:read"}}},
		{name: "valid, public client", auth: publicAuth, form: url.Values{"subject_token": {valid}, "subject_token_type": {jwtType}}},
		{name: "bad signature", auth: basicAuth(basicClient), form: url.Values{
			"subject_token": {forgeToken(t, s, claims(func(jwt.MapClaims) {}))}, "subject_token_type": {jwtType}}, wantErr: "invalid_grant"},
		{name: "expired subject token", auth: basicAuth(basicClient), form: url.Values{
			"subject_token": {mint(t, s, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }))}, "subject_token_type": {jwtType}}, wantErr: "invalid_grant"},
		{name: "wrong issuer", auth: basicAuth(basicClient), form: url.Values{
			"subject_token": {mint(t, s, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))}, "subject_token_type": {jwtType}}, wantErr: "invalid_grant"},
		{name: "wrong audience", auth: basicAuth(basicClient), form: url.Values{
			"subject_token": {mint(t, s, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }))}, "subject_token_type": {jwtType}}, wantErr: "invalid_grant"},
		{name: "not a JWT", auth: basicAuth(basicClient), form: url.Values{"subject_token": {"opaque"}, "subject_token_type": {jwtType}}, wantErr: "invalid_grant"},
		{name: "unsupported subject_token_type", auth: basicAuth(basicClient), form: url.Values{
			"subject_token": {valid}, "subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}}, wantErr: "invalid_request"},
		{name: "unsupported requested_token_type", auth: basicAuth(basicClient), form: url.Values{
			"subject_token": {valid}, "subject_token_type": {jwtType}, "requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, wantErr: "invalid_request"},
		{name: "missing subject_token", auth: basicAuth(basicClient), form: url.Values{"subject_token_type": {jwtType}}, wantErr: "invalid_request"},
		{name: "unknown audience", auth: basicAuth(basicClient), form: url.Values{
			"subject_token": {valid}, "subject_token_type": {jwtType}, "audience": {"https://elsewhere.example/"}}, wantErr: "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("grant_type", GrantTokenExchange)
			r := postForm(t, s, s.TokenEndpoint, tt.auth, tt.form, nil)
			if tt.wantErr != "" {
				wantError(t, r, 400, tt.wantErr)
				return
			}
			at := wantToken(t, r)
			if r.str("issued_token_type") != "urn:ietf:params:oauth:token-type:access_token" || r.str("token_type") != "Bearer" {
				t.Fatalf("response %v: want issued_token_type access_token URN and Bearer", r.body)
			}
			if _, ok := r.body["refresh_token"]; ok {
				t.Fatal("token exchange issued a refresh token")
			}
			res := callResource(t, s, "Bearer", at, "")
			if res.status != 200 || res.str("sub") != "user-42" {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
		})
	}
}

func TestTokenExchangeTapkey(t *testing.T) {
	s := Start(t, Options{})
	now := time.Now()
	valid, err := s.TapkeySubjectToken("ext-user", now.Add(300*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": s.SubjectTokenIssuer, "aud": s.TapkeyAudience, "sub": "ext-user",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		mod(c)
		return c
	}
	base := func(mod func(url.Values)) url.Values {
		v := url.Values{"grant_type": {GrantTapkey}, "provider": {s.TapkeyProvider}, "scope": {"read:user"},
			"subject_token_type": {"jwt"}, "subject_token": {valid}, "audience": {"tapkey_api"}}
		mod(v)
		return v
	}
	tests := []struct {
		name    string
		auth    clientAuth
		form    url.Values
		wantErr string
	}{
		{name: "valid, public client", auth: publicAuth, form: base(func(url.Values) {})},
		{name: "valid with requested_token_type, basic", auth: basicAuth(basicClient), form: base(func(v url.Values) {
			v.Set("requested_token_type", "access_token")
		})},
		{name: "missing audience", auth: publicAuth, form: base(func(v url.Values) { v.Del("audience") }), wantErr: "invalid_request"},
		{name: "bad signature", auth: publicAuth, form: base(func(v url.Values) {
			v.Set("subject_token", forgeToken(t, s, claims(func(jwt.MapClaims) {})))
		}), wantErr: "invalid_grant"},
		{name: "expired subject token", auth: publicAuth, form: base(func(v url.Values) {
			v.Set("subject_token", mint(t, s, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })))
		}), wantErr: "invalid_grant"},
		{name: "unknown provider", auth: publicAuth, form: base(func(v url.Values) { v.Set("provider", "other") }), wantErr: "invalid_request"},
		{name: "subject_token_type other than jwt", auth: publicAuth, form: base(func(v url.Values) {
			v.Set("subject_token_type", "urn:ietf:params:oauth:token-type:jwt")
		}), wantErr: "invalid_request"},
		{name: "audience other than tapkey_api", auth: publicAuth, form: base(func(v url.Values) { v.Set("audience", "other") }), wantErr: "invalid_request"},
		{name: "requested_token_type other than access_token", auth: publicAuth, form: base(func(v url.Values) {
			v.Set("requested_token_type", "refresh_token")
		}), wantErr: "invalid_request"},
		{name: "missing scope", auth: publicAuth, form: base(func(v url.Values) { v.Del("scope") }), wantErr: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, s, s.TokenEndpoint, tt.auth, tt.form, nil)
			if tt.wantErr != "" {
				wantError(t, r, 400, tt.wantErr)
				return
			}
			at := wantToken(t, r)
			if r.str("issued_token_type") != "access_token" || r.str("token_type") != "Bearer" {
				t.Fatalf("response %v: want issued_token_type access_token and Bearer", r.body)
			}
			if _, ok := r.body["refresh_token"]; ok {
				t.Fatal("Tapkey exchange must never issue a refresh token")
			}
			// The lifetime follows the external token (300s from now), not
			// the server's 10s access-token TTL.
			if exp := r.num("expires_in"); exp < 240 || exp > 300 {
				t.Fatalf("expires_in %v, want the subject token's remaining ~300s", exp)
			}
			res := callResource(t, s, "Bearer", at, "")
			if res.status != 200 || res.str("sub") != "ext-user" || res.str("scope") != "read:user" {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
		})
	}
}
