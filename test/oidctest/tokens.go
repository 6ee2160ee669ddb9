package oidctest

import (
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// sign produces a compact JWS with the key's algorithm and kid.
func sign(key crypto.Signer, alg, kid string, claims jwt.MapClaims) (string, error) {
	if key == nil {
		return "", errors.New("oidctest: no private key (the caller supplied only a public key)")
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return "", fmt.Errorf("oidctest: unknown signing algorithm %q", alg)
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("oidctest: sign JWT with %s: %w", alg, err)
	}
	return s, nil
}

// SubjectToken mints an RFC 8693 subject token for sub (iss and aud as the
// provider expects) expiring at exp, signed with SubjectTokenKey.
func (s *Server) SubjectToken(sub string, exp time.Time) (string, error) {
	return sign(s.SubjectTokenKey, s.SubjectTokenAlg, s.SubjectTokenKeyID, jwt.MapClaims{
		"iss": s.SubjectTokenIssuer, "aud": s.SubjectTokenAudience, "sub": sub,
		"iat": time.Now().Unix(), "exp": exp.Unix(), "jti": uuid.NewString(),
	})
}

// TapkeySubjectToken mints an external token for Tapkey's token exchange.
func (s *Server) TapkeySubjectToken(sub string, exp time.Time) (string, error) {
	return sign(s.SubjectTokenKey, s.SubjectTokenAlg, s.SubjectTokenKeyID, jwt.MapClaims{
		"iss": s.SubjectTokenIssuer, "aud": s.TapkeyAudience, "sub": sub,
		"iat": time.Now().Unix(), "exp": exp.Unix(), "jti": uuid.NewString(),
	})
}

// ClientAssertion mints a private_key_jwt assertion (RFC 7523) for the
// private_key_jwt client, audience the token endpoint.
func (s *Server) ClientAssertion() (string, error) {
	now := time.Now()
	return sign(s.ClientKey, s.ClientKeyAlg, s.ClientKeyID, jwt.MapClaims{
		"iss": s.PrivateKeyJWTClient.ID, "sub": s.PrivateKeyJWTClient.ID, "aud": s.TokenEndpoint,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": uuid.NewString(),
	})
}
