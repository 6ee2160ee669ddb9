package oauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// DefaultHTTPTimeout bounds one token call when the caller supplies no client.
const DefaultHTTPTimeout = 30 * time.Second

// Options configure a Client. Only TokenURL is always required; Credentials
// is required unless AuthMethod is none.
type Options struct {
	TokenURL string
	// Method is POST (default) or GET; GET sends every parameter in the
	// query string, as Akana-style gateways allow.
	Method string
	// ExtraParams are RFC 6749 §8.2 extension parameters added to every
	// token request. A grant's own parameter of the same name wins.
	ExtraParams map[string]string
	// AuthMethod is one of the config.Auth* constants;
	// client_secret_basic when empty (the RFC 7591 default).
	AuthMethod string
	// Audience is the aud of private_key_jwt and client_secret_jwt client
	// assertions; TokenURL when empty.
	Audience    string
	Credentials func() (Credentials, error)
	// HTTPClient carries the transport (mTLS certificate, private CA). The
	// client is copied and redirects are refused: a token endpoint that
	// redirects would otherwise make us replay credentials elsewhere.
	HTTPClient *http.Client
	// BeforeSend lets the caller sign each call (TAAP PoP in
	// X-Authorization). body is the exact encoded form body, nil for GET.
	// It also runs for the CIBA authorize call (req.URL tells them apart)
	// and again for a DPoP nonce retry, whose body differs when a fresh
	// client assertion is in it.
	BeforeSend func(req *http.Request, body []byte) error
	// DPoP returns a DPoP proof for (method, URL without query, nonce). When
	// set, token calls carry a DPoP header and one use_dpop_nonce challenge
	// is answered by retrying with the server's nonce.
	DPoP             func(method, htu, nonce string) (string, error)
	MaxResponseBytes int64
	Now              func() time.Time
	// Sleep waits between CIBA polls; it must return ctx.Err() when ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls one token endpoint. It is safe for concurrent use.
type Client struct {
	o        Options
	tokenURL *url.URL
	http     *http.Client

	mu        sync.Mutex
	dpopNonce string // the most recent DPoP-Nonce, reused to save a round trip
}

// reservedParams are set by the client itself; letting ExtraParams carry them
// would silently change the grant or the client authentication.
var reservedParams = []string{
	"grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type",
	"username", "password", "refresh_token", "auth_req_id", "subject_token", "subject_token_type",
	"code", "code_verifier", "redirect_uri",
	"assertion",
}

// NewClient validates o and returns a client. Errors name the Options field.
func NewClient(o Options) (*Client, error) {
	u, err := parseEndpointURL(o.TokenURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: TokenURL: %w", err)
	}
	switch m := strings.ToUpper(o.Method); m {
	case "":
		o.Method = http.MethodPost
	case http.MethodPost, http.MethodGet:
		o.Method = m
	default:
		return nil, fmt.Errorf("oauth: Method: must be GET or POST, got %q", o.Method)
	}
	for k := range o.ExtraParams {
		if k == "" {
			return nil, errors.New("oauth: ExtraParams: empty parameter name")
		}
		for _, r := range reservedParams {
			if k == r {
				return nil, fmt.Errorf("oauth: ExtraParams[%s]: reserved, the client sets it", k)
			}
		}
	}
	switch o.AuthMethod {
	case "":
		o.AuthMethod = config.AuthClientSecretBasic
	case config.AuthClientSecretBasic, config.AuthClientSecretPost, config.AuthPrivateKeyJWT,
		config.AuthClientSecretJWT, config.AuthTLSClientAuth, config.AuthNone:
	default:
		return nil, fmt.Errorf("oauth: AuthMethod: unsupported %q (want client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth or none)", o.AuthMethod)
	}
	if o.Credentials == nil && o.AuthMethod != config.AuthNone {
		return nil, fmt.Errorf("oauth: Credentials: required for %s", o.AuthMethod)
	}
	if o.Audience == "" {
		o.Audience = o.TokenURL
	}
	switch {
	case o.MaxResponseBytes < 0:
		return nil, fmt.Errorf("oauth: MaxResponseBytes: must not be negative, got %d", o.MaxResponseBytes)
	case o.MaxResponseBytes == 0:
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	hc := &http.Client{Timeout: DefaultHTTPTimeout}
	if o.HTTPClient != nil {
		c := *o.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{o: o, tokenURL: u, http: hc}, nil
}

func parseEndpointURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("scheme must be https or http, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("must include a host")
	}
	if u.User != nil {
		return nil, errors.New("must not embed credentials")
	}
	return u, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call is one request to an endpoint of the authorization server.
type call struct {
	endpoint string // for error messages: "token endpoint", ...
	url      *url.URL
	method   string
	params   url.Values // grant parameters, before client authentication
	secrets  []string   // values that must not surface in errors
	dpop     bool
	// perAttempt adds parameters that must be new on every attempt (a
	// grant assertion with its jti) and returns their secret values.
	perAttempt func(creds Credentials, now time.Time, form url.Values) ([]string, error)
}

// reply is the raw answer; parsing is the caller's business because the
// token and CIBA authorize endpoints answer differently.
type reply struct {
	status      int
	contentType string
	header      http.Header
	body        []byte
	secrets     []string // call.secrets plus the client-auth values sent
}

// token sends a grant to the token endpoint and parses the answer.
func (c *Client) token(ctx context.Context, params url.Values, secrets []string) (*Token, error) {
	return c.tokenWith(ctx, params, secrets, nil)
}

// tokenWith is token with parameters rebuilt for every attempt (call.perAttempt).
func (c *Client) tokenWith(ctx context.Context, params url.Values, secrets []string, perAttempt func(Credentials, time.Time, url.Values) ([]string, error)) (*Token, error) {
	for k, v := range c.o.ExtraParams {
		if _, set := params[k]; !set {
			params.Set(k, v)
		}
	}
	r, err := c.do(ctx, call{endpoint: "token endpoint", url: c.tokenURL, method: c.o.Method, params: params, secrets: secrets, dpop: c.o.DPoP != nil, perAttempt: perAttempt})
	if err != nil {
		return nil, err
	}
	return c.tokenFromReply(r)
}

func (c *Client) tokenFromReply(r *reply) (*Token, error) {
	if r.status < 200 || r.status > 299 {
		e := parseErrorResponse(r.status, r.contentType, r.body, r.secrets)
		e.RetryAfter = parseRetryAfter(r.header.Get("Retry-After"))
		return nil, e
	}
	t, err := parseTokenResponse(r.status, r.contentType, r.body, c.o.Now(), r.secrets)
	var oe *Error
	if errors.As(err, &oe) {
		return nil, oe // same shape as a non-2xx error
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return t, nil
}

// do sends one call, answering a single DPoP nonce challenge. Credentials
// are read once per call; the request (and so any client assertion, whose
// jti must be fresh) is rebuilt for the retry.
func (c *Client) do(ctx context.Context, cl call) (*reply, error) {
	creds := Credentials{}
	if c.o.Credentials != nil {
		var err error
		if creds, err = c.o.Credentials(); err != nil {
			return nil, fmt.Errorf("oauth: reading credentials: %w", err)
		}
	}
	nonce := ""
	if cl.dpop {
		c.mu.Lock()
		nonce = c.dpopNonce
		c.mu.Unlock()
	}
	for attempt := 0; ; attempt++ {
		r, err := c.send(ctx, cl, creds, nonce)
		if err != nil {
			return nil, err
		}
		if !cl.dpop {
			return r, nil
		}
		if n := r.header.Get("DPoP-Nonce"); n != "" {
			c.mu.Lock()
			c.dpopNonce = n
			c.mu.Unlock()
			if attempt == 0 && n != nonce && isNonceChallenge(r) {
				nonce = n
				continue
			}
		}
		return r, nil
	}
}

// isNonceChallenge recognises RFC 9449 §8: a 400 with error use_dpop_nonce
// from the token endpoint, or a 401 whose WWW-Authenticate says so.
func isNonceChallenge(r *reply) bool {
	if r.status != http.StatusBadRequest && r.status != http.StatusUnauthorized {
		return false
	}
	if strings.Contains(r.header.Get("WWW-Authenticate"), "use_dpop_nonce") {
		return true
	}
	e := parseErrorResponse(r.status, r.contentType, r.body, nil)
	return e.Code == "use_dpop_nonce"
}

func (c *Client) send(ctx context.Context, cl call, creds Credentials, nonce string) (*reply, error) {
	form := url.Values{}
	for k, v := range cl.params {
		form[k] = append([]string(nil), v...)
	}
	header := http.Header{}
	now := c.o.Now()
	var grantSecrets []string
	if cl.perAttempt != nil {
		var err error
		if grantSecrets, err = cl.perAttempt(creds, now, form); err != nil {
			return nil, fmt.Errorf("oauth: %s: %w", cl.endpoint, err)
		}
	}
	authSecrets, err := applyClientAuth(c.o.AuthMethod, c.o.Audience, now, creds, form, header)
	if err != nil {
		return nil, fmt.Errorf("oauth: %s: %w", cl.endpoint, err)
	}
	secrets := append(append(append([]string(nil), cl.secrets...), grantSecrets...), authSecrets...)
	for _, s := range cl.secrets {
		secrets = append(secrets, url.QueryEscape(s))
	}

	encoded := form.Encode()
	target := *cl.url
	var body []byte
	var bodyReader io.Reader
	if cl.method == http.MethodGet {
		if target.RawQuery != "" {
			target.RawQuery += "&" + encoded
		} else {
			target.RawQuery = encoded
		}
	} else {
		body = []byte(encoded)
		bodyReader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target.String(), bodyReader)
	if err != nil {
		return nil, fmt.Errorf("oauth: %s: building request: %w", cl.endpoint, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "oauth-injector")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cl.dpop {
		htu := *cl.url
		htu.RawQuery, htu.Fragment, htu.RawFragment = "", "", ""
		proof, err := c.o.DPoP(cl.method, htu.String(), nonce)
		if err != nil {
			return nil, fmt.Errorf("oauth: %s: DPoP proof: %w", cl.endpoint, err)
		}
		req.Header.Set("DPoP", proof)
	}
	if c.o.BeforeSend != nil {
		if err := c.o.BeforeSend(req, body); err != nil {
			return nil, fmt.Errorf("oauth: %s: signing request: %w", cl.endpoint, err)
		}
	}

	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error quotes the full URL, whose query holds the credentials
		// for GET; report the endpoint without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("oauth: %s: %s %s: %w", cl.endpoint, cl.method, redactedURL(cl.url), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("oauth: %s: reading response (status %d): %w", cl.endpoint, resp.StatusCode, err)
	}
	if int64(len(data)) > c.o.MaxResponseBytes {
		return nil, fmt.Errorf("oauth: %s: token response exceeds %d bytes", cl.endpoint, c.o.MaxResponseBytes)
	}
	return &reply{
		status:      resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"),
		header:      resp.Header,
		body:        data,
		secrets:     secrets,
	}, nil
}

func redactedURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.RawFragment = "", "", ""
	return c.String()
}
