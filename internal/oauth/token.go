// Package oauth is the token-endpoint client: grants, client authentication,
// GET or POST token calls, extension parameters, and parsing of token
// responses and RFC 6749 §5.2 errors. It never puts a secret or a token into
// an error message.
package oauth

import "time"

// Token is one parsed token response. Expiry is the earlier of the response
// time plus expires_in and, when the access token is a JWT, its exp claim;
// zero means neither was given, and callers treat such a token as valid
// until a 401.
type Token struct {
	AccessToken string
	// TokenType is lower-cased: "bearer", "mac", "dpop" or "n_a" (RFC 8693).
	TokenType       string
	IDToken         string
	RefreshToken    string
	Scope           string
	IssuedTokenType string
	Expiry          time.Time
	// IssuedAt is when the response arrived; lifetime-based refresh uses it.
	IssuedAt time.Time
	// MACKey and MACAlgorithm are set for token_type "mac".
	MACKey       string
	MACAlgorithm string
}

// Valid reports whether the token can still be sent at now.
func (t *Token) Valid(now time.Time) bool {
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || now.Before(t.Expiry))
}
