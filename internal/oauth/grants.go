package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// ClientCredentials runs the RFC 6749 §4.4 grant.
func (c *Client) ClientCredentials(ctx context.Context, scopes []string) (*Token, error) {
	p := url.Values{"grant_type": {"client_credentials"}}
	setScope(p, scopes)
	return c.token(ctx, p, nil)
}

// Password runs the RFC 6749 §4.3 resource-owner password grant.
func (c *Client) Password(ctx context.Context, username, password string, scopes []string) (*Token, error) {
	if username == "" {
		return nil, errors.New("oauth: password grant: username is empty")
	}
	if password == "" {
		return nil, errors.New("oauth: password grant: password is empty")
	}
	p := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	setScope(p, scopes)
	return c.token(ctx, p, []string{password})
}

// Refresh runs the RFC 6749 §6 refresh grant. The returned Token's
// RefreshToken is the rotated one when the server issued one, and
// refreshToken otherwise (§6: the client keeps using the old one), so the
// caller can always store what it gets back.
func (c *Client) Refresh(ctx context.Context, refreshToken string, scopes []string) (*Token, error) {
	if refreshToken == "" {
		return nil, errors.New("oauth: refresh grant: refresh token is empty")
	}
	p := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	setScope(p, scopes)
	t, err := c.token(ctx, p, []string{refreshToken})
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = refreshToken
	}
	return t, nil
}

// ExchangeRequest is an RFC 8693 token exchange, or Tapkey's variant of it
// (GrantType config.TokenExchangeTapkey, which requires Provider and
// defaults SubjectTokenType to "jwt").
type ExchangeRequest struct {
	GrantType, SubjectToken, SubjectTokenType, Provider, Audience, RequestedTokenType string
	Scopes                                                                            []string
}

// Exchange runs a token exchange. GrantType defaults to RFC 8693's.
func (c *Client) Exchange(ctx context.Context, r ExchangeRequest) (*Token, error) {
	if r.GrantType == "" {
		r.GrantType = config.TokenExchangeRFC8693
	}
	if r.SubjectToken == "" {
		return nil, errors.New("oauth: token exchange: SubjectToken is empty")
	}
	if r.GrantType == config.TokenExchangeTapkey {
		if r.Provider == "" {
			return nil, errors.New("oauth: token exchange: Provider is required for " + config.TokenExchangeTapkey)
		}
		if r.SubjectTokenType == "" {
			r.SubjectTokenType = "jwt"
		}
	}
	if r.SubjectTokenType == "" {
		return nil, errors.New("oauth: token exchange: SubjectTokenType is empty")
	}
	p := url.Values{
		"grant_type":         {r.GrantType},
		"subject_token":      {r.SubjectToken},
		"subject_token_type": {r.SubjectTokenType},
	}
	for k, v := range map[string]string{"provider": r.Provider, "audience": r.Audience, "requested_token_type": r.RequestedTokenType} {
		if v != "" {
			p.Set(k, v)
		}
	}
	setScope(p, r.Scopes)
	return c.token(ctx, p, []string{r.SubjectToken})
}

func setScope(p url.Values, scopes []string) {
	if len(scopes) > 0 {
		p.Set("scope", strings.Join(scopes, " "))
	}
}
