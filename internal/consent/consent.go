// Package consent is the one-time, person-in-the-loop bootstrap of a
// three-legged binding (`injector consent`): it obtains the OAuth 2 refresh
// token that grant.refreshToken.file names, by the authorization code grant
// with PKCE on a loopback redirect (RFC 6749 §4.1, RFC 7636, RFC 8252), or
// the OAuth 1.0a token and secret that oauth1.tokenFile/tokenSecretFile
// name, by the RFC 5849 §2 redirection flow. The result is a Kubernetes
// Secret manifest whose name and keys are the ones the binding reads.
//
// The sidecar itself never runs this: it needs a person and a browser. The
// package composes internal/oauth (code exchange, client authentication)
// and internal/signing (RFC 5849 signatures), and like the rest of the
// injector it links no Kubernetes client; the manifest is plain YAML.
package consent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// Flows, as --flow spells them.
const (
	FlowOAuth2 = "oauth2"
	FlowOAuth1 = "oauth1"
)

// DefaultTimeout is how long a run waits for the person to finish in the
// browser: a login with a second factor takes minutes, not hours.
const DefaultTimeout = 5 * time.Minute

// Errors a run ends with when the person or the provider said no; each is
// wrapped with what exactly happened.
var (
	ErrStateMismatch  = errors.New("state mismatch")
	ErrDenied         = errors.New("consent denied")
	ErrTimeout        = errors.New("timed out")
	ErrNoRefreshToken = errors.New("no refresh token issued")
)

// Options are the consent-only settings; everything else comes from the
// binding, read from the same config file `injector run` uses.
type Options struct {
	// Flow is FlowOAuth2, FlowOAuth1, or empty to pick from the binding.
	Flow string
	// AuthorizeURL is the provider's authorization endpoint (OAuth 2) or
	// resource owner authorization endpoint (OAuth 1.0a, RFC 5849 §2.2).
	AuthorizeURL string
	// RedirectPort is the loopback port; 0 lets the kernel pick one.
	RedirectPort int
	// Scopes replaces grant.scopes in the authorization request when non-nil.
	Scopes []string
	// OfflineAccess adds the offline_access scope (OpenID Connect Core
	// §11), which many providers require before they issue a refresh token.
	OfflineAccess bool
	// Prompt is sent as prompt= when not empty. "consent" makes providers
	// that skip the consent page for a known client show it, and issue a
	// refresh token again (OpenID Connect Core §11).
	Prompt string

	// RequestTokenURL and AccessTokenURL are the RFC 5849 §2.1 and §2.3
	// endpoints (OAuth 1.0a only).
	RequestTokenURL, AccessTokenURL string
	// OOB uses oauth_callback=oob: the provider shows the verifier and the
	// person types it into Stdin (OAuth 1.0a only).
	OOB bool

	// SecretName and SecretKey override the Secret derived from the
	// binding's file paths; SecretKey is for the OAuth 2 refresh token.
	SecretName, SecretKey string
	// Namespace is written into the manifest when not empty.
	Namespace string

	// Timeout bounds the wait for the person; DefaultTimeout when zero.
	Timeout time.Duration
	// OpenBrowser opens the authorization URL; nil only prints it.
	OpenBrowser func(url string) error
	// Stdin supplies an out-of-band verifier; Out gets the instructions for
	// the person. Nothing secret is ever written to Out.
	Stdin io.Reader
	Out   io.Writer
}

// Result is what a run obtained.
type Result struct {
	Flow    string
	Secrets []Secret
	// Scope is the scope the token endpoint reported granting (OAuth 2),
	// empty when it did not say.
	Scope string
}

// ChooseFlow picks the flow the binding needs: OAuth 2 for grant.type
// refresh_token, OAuth 1.0a for three-legged oauth1 signing (a tokenFile).
// want, when not empty, must be one of them.
func ChooseFlow(b *config.Binding, want string) (string, error) {
	var flows []string
	if b.Grant.Type == config.GrantRefreshToken && b.Grant.RefreshToken != nil {
		flows = append(flows, FlowOAuth2)
	}
	if b.OAuth1 != nil && b.OAuth1.TokenFile != "" {
		flows = append(flows, FlowOAuth1)
	}
	switch {
	case want != "" && want != FlowOAuth2 && want != FlowOAuth1:
		return "", fmt.Errorf("--flow %q: must be %s or %s", want, FlowOAuth2, FlowOAuth1)
	case len(flows) == 0:
		return "", fmt.Errorf("binding %q needs no consent: it has neither grant.type refresh_token nor three-legged oauth1 (oauth1.tokenFile); grant.type is %q", b.Name, b.Grant.Type)
	case want != "":
		for _, f := range flows {
			if f == want {
				return want, nil
			}
		}
		return "", fmt.Errorf("--flow %s: binding %q does not use it (it uses %s)", want, b.Name, strings.Join(flows, ", "))
	case len(flows) > 1:
		return "", fmt.Errorf("binding %q has both grant.type refresh_token and three-legged oauth1: choose one with --flow %s or --flow %s", b.Name, FlowOAuth2, FlowOAuth1)
	}
	return flows[0], nil
}

// Run obtains the credential binding b needs, with the person
// approving in a browser, and returns the Secrets to store it in. Every
// check that does not need the person runs before the browser opens.
func Run(ctx context.Context, b *config.Binding, o Options) (*Result, error) {
	flow, err := ChooseFlow(b, o.Flow)
	if err != nil {
		return nil, err
	}
	if err := checkNamespace(o.Namespace); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if flow == FlowOAuth1 {
		return runOAuth1(ctx, b, &o)
	}
	return runOAuth2(ctx, b, &o)
}

// present shows the person where to go, and opens it where a browser exists.
func (o *Options) present(authURL string) {
	fmt.Fprintf(o.Out, "Open this URL in a browser, sign in and grant access:\n\n  %s\n\n", authURL)
	if o.OpenBrowser == nil {
		return
	}
	if err := o.OpenBrowser(authURL); err != nil {
		fmt.Fprintf(o.Out, "Could not start a browser (%v); open the URL yourself.\n", err)
		return
	}
	fmt.Fprintln(o.Out, "Opened it in your browser.")
}

// randomToken is an unguessable value for state: 256 bits, URL-safe.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// endpointURL parses a consent-only endpoint flag. Like the binding's own
// URLs it must be https, or http on loopback or with allowInsecureHTTP.
// Query parameters the flow sets itself (reserved) are refused: silently
// overriding one, or sending it twice, would change what the person
// approves.
func endpointURL(b *config.Binding, flag, raw string, reserved ...string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s is required", flag)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: not a valid URL", flag)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%s: scheme must be https or http, got %q", flag, u.Scheme)
	case u.Host == "":
		return nil, fmt.Errorf("%s: must include a host", flag)
	case u.User != nil:
		return nil, fmt.Errorf("%s: must not embed credentials", flag)
	case u.Fragment != "":
		return nil, fmt.Errorf("%s: must not have a fragment", flag)
	case u.Scheme == "http" && !b.AllowInsecureHTTP && !config.IsLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("%s: http:// on a non-loopback host; use https:// or set allowInsecureHTTP on the binding", flag)
	}
	q := u.Query()
	for _, p := range reserved {
		if q.Has(p) {
			return nil, fmt.Errorf("%s: has query parameter %q, which injector consent sets itself", flag, p)
		}
	}
	return u, nil
}

// withQuery returns u with params added to its own query.
func withQuery(u *url.URL, params url.Values) string {
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	c := *u
	c.RawQuery = q.Encode()
	return c.String()
}

// maxServerText bounds what a provider's error text may add to a message.
const maxServerText = 200

// serverText makes provider-supplied text safe to print: values this run
// sent or received (secrets) are redacted, control characters (terminal
// escapes) become spaces, and the length is capped.
func serverText(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 3 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxServerText {
		s = string(r[:maxServerText]) + "…"
	}
	return strings.TrimSpace(s)
}
