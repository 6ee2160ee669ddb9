package taapsim

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const issuer = "taapsim"

// Token kinds, carried in the "token_use" claim so an ID token cannot be
// presented as an access token or the other way round.
const (
	useAccess = "access"
	useID     = "id"
)

type simClaims struct {
	TokenUse string `json:"token_use"`
	jwt.RegisteredClaims
}

// issue mints one access or ID token for clientID, signed with the
// simulator's own key.
func (s *Server) issue(use, clientID string, now time.Time, ttl time.Duration) (string, error) {
	c := simClaims{
		TokenUse: use,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   clientID,
			Audience:  jwt.ClaimStrings{clientID},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        uuid.NewString(),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = s.kid
	return t.SignedString(s.signKey)
}

// verify checks a token this simulator issued: signature, issuer, expiry
// (by the simulator clock) and that it is the expected kind.
func (s *Server) verify(raw, use string) (*simClaims, error) {
	if raw == "" {
		return nil, errors.New("missing")
	}
	c := &simClaims{}
	_, err := jwt.ParseWithClaims(raw, c,
		func(*jwt.Token) (any, error) { return &s.signKey.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		// golang-jwt's messages describe the failed check, never the
		// token itself.
		return nil, err
	}
	if c.TokenUse != use {
		return nil, fmt.Errorf("token_use is %q, want %q", c.TokenUse, use)
	}
	return c, nil
}
