package consent

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// offlineAccess is the OpenID Connect Core §11 scope that asks for a
// refresh token.
const offlineAccess = "offline_access"

// authParams are the authorization request parameters the OAuth 2 flow sets.
var authParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "prompt"}

// runOAuth2 is the authorization code grant with PKCE S256 through a
// loopback redirect (RFC 8252 §7.3), for the refresh token a
// grant.type refresh_token binding starts from.
func runOAuth2(ctx context.Context, b *config.Binding, o *Options) (*Result, error) {
	if o.OOB || o.RequestTokenURL != "" || o.AccessTokenURL != "" {
		return nil, fmt.Errorf("--oob, --request-token-url and --access-token-url are for OAuth 1.0a; binding %q uses OAuth 2", b.Name)
	}
	ref, err := refForFile(b.Name, "grant.refreshToken.file", b.Grant.RefreshToken.File, o.SecretName, o.SecretKey)
	if err != nil {
		return nil, err
	}
	authz, err := endpointURL(b, "--authorize-url", o.AuthorizeURL, authParams...)
	if err != nil {
		return nil, err
	}
	client, creds, err := tokenClient(b)
	if err != nil {
		return nil, err
	}
	pkce, err := oauth.NewPKCE()
	if err != nil {
		return nil, err
	}
	state, err := randomToken()
	if err != nil {
		return nil, err
	}
	rcv, err := listen(o.RedirectPort, func(q url.Values) (url.Values, error) { return checkCodeResponse(q, state) })
	if err != nil {
		return nil, err
	}
	defer rcv.close()

	params := url.Values{
		"response_type":         {"code"},
		"client_id":             {creds.ClientID},
		"redirect_uri":          {rcv.URL},
		"state":                 {state},
		"code_challenge":        {pkce.Challenge},
		"code_challenge_method": {oauth.ChallengeMethod},
	}
	if s := o.scopes(b); len(s) > 0 {
		params.Set("scope", strings.Join(s, " "))
	}
	if o.Prompt != "" {
		params.Set("prompt", o.Prompt)
	}
	fmt.Fprintf(o.Out, "Binding %q: authorization code grant with PKCE; the provider redirects to %s\n", b.Name, rcv.URL)
	o.present(withQuery(authz, params))
	fmt.Fprintf(o.Out, "Waiting up to %s for the authorization response...\n", o.Timeout)

	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	resp, err := rcv.wait(wctx, o.Timeout)
	cancel()
	if err != nil {
		return nil, err
	}
	tok, err := client.AuthorizationCode(ctx, resp.Get("code"), rcv.URL, pkce.Verifier)
	if err != nil {
		return nil, fmt.Errorf("exchanging the authorization code: %w", err)
	}
	if tok.RefreshToken == "" {
		return nil, fmt.Errorf("%w: the token endpoint answered without a refresh_token; keep --offline-access on (some providers want a parameter such as access_type=offline in --authorize-url instead) and check that the client may use the refresh_token grant", ErrNoRefreshToken)
	}
	return &Result{Flow: FlowOAuth2, Secrets: secretsFor(o.Namespace, []SecretRef{ref}, []string{tok.RefreshToken}), Scope: tok.Scope}, nil
}

// scopes is --scope or grant.scopes, plus offline_access when asked for.
func (o *Options) scopes(b *config.Binding) []string {
	s := b.Grant.Scopes
	if o.Scopes != nil {
		s = o.Scopes
	}
	s = slices.Clone(s)
	if o.OfflineAccess && !slices.Contains(s, offlineAccess) {
		s = append(s, offlineAccess)
	}
	return s
}

// checkCodeResponse reads an RFC 6749 §4.1.2 authorization response. The
// state comes first: an error response with a foreign state is not this
// run's business either (§10.12).
func checkCodeResponse(q url.Values, state string) (url.Values, error) {
	got := q.Get("state")
	if got == "" {
		return nil, fmt.Errorf("%w: the authorization response carries no state; it is not the answer to this run's request", ErrStateMismatch)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
		return nil, fmt.Errorf("%w: the authorization response carries a state this run did not send (a stale browser tab, or a redirect this run did not start); run injector consent again", ErrStateMismatch)
	}
	if e := q.Get("error"); e != "" {
		desc := ""
		if d := serverText(q.Get("error_description")); d != "" {
			desc = ": " + d
		}
		if e == "access_denied" {
			return nil, fmt.Errorf("%w: the authorization server answered error=access_denied%s", ErrDenied, desc)
		}
		return nil, fmt.Errorf("the authorization server refused the request: error=%s%s", serverText(e), desc)
	}
	code := q.Get("code")
	if code == "" {
		return nil, errors.New("the authorization response has neither a code nor an error")
	}
	return url.Values{"code": {code}}, nil
}
