package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
)

// PKCE is one RFC 7636 verifier and its S256 challenge. Only S256 is made:
// "plain" sends the verifier itself through the browser, which is what PKCE
// exists to avoid.
type PKCE struct {
	Verifier  string
	Challenge string
}

// ChallengeMethod is the code_challenge_method value for PKCE.Challenge.
const ChallengeMethod = "S256"

// NewPKCE draws a 43-character verifier from 32 random bytes: the minimum
// length RFC 7636 §4.1 allows, with 256 bits of entropy as §7.1 recommends.
func NewPKCE() (PKCE, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return PKCE{}, err
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	return PKCE{Verifier: v, Challenge: S256Challenge(v)}, nil
}

// S256Challenge is RFC 7636 §4.2: BASE64URL(SHA256(ASCII(verifier))).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AuthorizationCode runs the RFC 6749 §4.1.3 code exchange with the RFC 7636
// §4.5 code_verifier. redirectURI must be the exact value the authorization
// request carried. Code and verifier are kept out of any error.
func (c *Client) AuthorizationCode(ctx context.Context, code, redirectURI, codeVerifier string) (*Token, error) {
	switch {
	case code == "":
		return nil, errors.New("oauth: authorization code grant: code is empty")
	case redirectURI == "":
		return nil, errors.New("oauth: authorization code grant: redirect_uri is empty")
	case codeVerifier == "":
		return nil, errors.New("oauth: authorization code grant: code_verifier is empty")
	}
	p := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {codeVerifier},
	}
	return c.token(ctx, p, []string{code, codeVerifier})
}
