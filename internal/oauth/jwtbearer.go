package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// GrantTypeJWTBearer is the RFC 7523 §2.1 grant_type.
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// JWTBearerRequest is one RFC 7523 §2.1 authorization grant. The assertion
// is signed with Credentials.Key, and its iss is Credentials.ClientID: the
// client vouches for Subject with its own key.
type JWTBearerRequest struct {
	Subject string
	// Audience is aud; the token URL when empty.
	Audience string
	// Algorithm is RS256, PS256 or ES256; empty picks by key type (see
	// AssertionAlgorithm).
	Algorithm string
	KeyID     string
	// Lifetime is exp-iat, at most config.MaxJWTBearerLifetime;
	// AssertionLifetime when zero.
	Lifetime time.Duration
	Scopes   []string
}

// JWTBearer runs the RFC 7523 §2.1 grant, with the client's configured
// client authentication alongside (RFC 7521 §4.1 allows any). The assertion
// is built afresh for every attempt, so a DPoP nonce retry never replays a
// jti the server has already seen.
func (c *Client) JWTBearer(ctx context.Context, r JWTBearerRequest) (*Token, error) {
	if r.Subject == "" {
		return nil, errors.New("oauth: jwt-bearer: Subject is empty")
	}
	switch {
	case r.Lifetime == 0:
		r.Lifetime = AssertionLifetime
	case r.Lifetime < 0 || r.Lifetime > config.MaxJWTBearerLifetime:
		return nil, fmt.Errorf("oauth: jwt-bearer: Lifetime must be at most %s, got %s", config.MaxJWTBearerLifetime, r.Lifetime)
	}
	if c.o.Credentials == nil {
		return nil, errors.New("oauth: jwt-bearer: Credentials are required (the client ID is iss, the key signs)")
	}
	if r.Audience == "" {
		r.Audience = c.o.TokenURL
	}
	p := url.Values{"grant_type": {GrantTypeJWTBearer}}
	setScope(p, r.Scopes)
	return c.tokenWith(ctx, p, nil, func(creds Credentials, now time.Time, form url.Values) ([]string, error) {
		a, err := r.assertion(creds, now)
		if err != nil {
			return nil, fmt.Errorf("jwt-bearer: %w", err)
		}
		form.Set("assertion", a)
		return []string{a}, nil
	})
}

// assertion signs the RFC 7523 §3 JWT.
func (r JWTBearerRequest) assertion(creds Credentials, now time.Time) (string, error) {
	if creds.ClientID == "" {
		return "", errors.New("client ID is empty (it is the assertion's iss)")
	}
	if creds.Key == nil {
		return "", errors.New("no private key to sign the assertion")
	}
	alg, err := assertionMethod(creds.Key, r.Algorithm)
	if err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(alg, jwt.MapClaims{
		"iss": creds.ClientID,
		"sub": r.Subject,
		"aud": r.Audience, // a plain string, as for client assertions
		"iat": now.Unix(),
		"exp": now.Add(r.Lifetime).Unix(),
		"jti": uuid.NewString(),
	})
	if r.KeyID != "" {
		tok.Header["kid"] = r.KeyID
	}
	s, err := tok.SignedString(creds.Key)
	if err != nil {
		return "", fmt.Errorf("signing the assertion with %s: %w", alg.Alg(), err)
	}
	return s, nil
}

// AssertionAlgorithm reports the JWS algorithm a jwt-bearer assertion signed
// with key gets: alg when the key can make it, otherwise an error saying
// what key it needs. The sidecar calls it at start-up to fail early.
func AssertionAlgorithm(key crypto.Signer, alg string) (string, error) {
	m, err := assertionMethod(key, alg)
	if err != nil {
		return "", err
	}
	return m.Alg(), nil
}

func assertionMethod(key crypto.Signer, alg string) (jwt.SigningMethod, error) {
	switch alg {
	case "":
		return signingMethod(key)
	case config.AlgRS256, config.AlgPS256:
		if _, ok := key.(*rsa.PrivateKey); !ok {
			return nil, fmt.Errorf("%s needs an RSA key, got %T", alg, key)
		}
		if alg == config.AlgPS256 {
			return jwt.SigningMethodPS256, nil
		}
		return jwt.SigningMethodRS256, nil
	case config.AlgES256:
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s needs an ECDSA P-256 key, got %T", alg, key)
		}
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%s needs an ECDSA P-256 key, got %s", alg, k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q (want %s, %s or %s)", alg, config.AlgRS256, config.AlgPS256, config.AlgES256)
}
