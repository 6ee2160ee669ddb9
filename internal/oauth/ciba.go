package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CIBA poll-mode constants (OpenID CIBA Core §7.3, §11).
const (
	GrantTypeCIBA = "urn:openid:params:grant-type:ciba"
	// DefaultCIBAInterval is the poll interval when the server names none.
	DefaultCIBAInterval = 5 * time.Second
	// SlowDownStep is added to the interval on every slow_down (RFC 8628 §3.5,
	// which CIBA §11 adopts).
	SlowDownStep = 5 * time.Second
	// maxTransientPollFailures bounds how many consecutive network or 5xx
	// failures polling rides out before giving up; a single blip should not
	// make the subscriber approve a second time.
	maxTransientPollFailures = 3
)

// CIBARequest starts one backchannel authentication.
type CIBARequest struct {
	AuthorizeURL, LoginHint, Purpose string
	// LoginHintFormat selects how LoginHint is checked before anything is
	// sent; the zero value is Open Gateway's tel:/ipport:.
	LoginHintFormat LoginHintFormat
	Scopes          []string
	// ExtraParams go to the authorize call only; Options.ExtraParams go to
	// the token calls.
	ExtraParams map[string]string
}

// CIBAAuthorization is a started backchannel authentication (§7.3): what
// polling needs. It is plain data so that another process (a replica
// sharing a token store) can poll an authorization this one started.
type CIBAAuthorization struct {
	AuthReqID string
	// Expiry is when the server forgets AuthReqID (the response's
	// expires_in, counted from its arrival).
	Expiry time.Time
	// Interval is the least time between two polls.
	Interval time.Duration
}

// CIBA runs the OpenID CIBA poll-mode flow: authenticate the client to the
// backchannel authentication endpoint with login_hint and purpose, then
// poll the token endpoint until the subscriber approves or the request
// ends. It returns *Error with Code access_denied or expired_token when the
// subscriber refuses or does not answer in time; ctx bounds the whole wait.
func (c *Client) CIBA(ctx context.Context, r CIBARequest) (*Token, error) {
	auth, err := c.CIBAAuthorize(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.CIBAPoll(ctx, auth)
}

// CIBAAuthorize starts the flow: it sends the backchannel authentication
// request, which prompts the subscriber, and returns the authorization to
// poll with CIBAPoll.
func (c *Client) CIBAAuthorize(ctx context.Context, r CIBARequest) (*CIBAAuthorization, error) {
	if err := r.LoginHintFormat.Validate(r.LoginHint); err != nil {
		return nil, fmt.Errorf("oauth: ciba: %w", err)
	}
	authURL, err := parseEndpointURL(r.AuthorizeURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: ciba: AuthorizeURL: %w", err)
	}
	return c.cibaAuthorize(ctx, authURL, r)
}

func (c *Client) cibaAuthorize(ctx context.Context, authURL *url.URL, r CIBARequest) (*CIBAAuthorization, error) {
	p := url.Values{}
	for k, v := range r.ExtraParams {
		p.Set(k, v)
	}
	p.Set("login_hint", r.LoginHint)
	// Open Gateway's purpose (dpv:<purpose>#<scope>) carries the scope and
	// replaces the scope parameter; a scope=openid sent next to it makes a
	// server grant only openid, and the partner API then refuses the token.
	if r.Purpose == "" || len(r.Scopes) > 0 {
		p.Set("scope", cibaScope(r.Scopes))
	}
	if r.Purpose != "" {
		p.Set("purpose", r.Purpose)
	}
	const ep = "backchannel authentication endpoint"
	// The spec fixes POST for this endpoint whatever the token call uses.
	rep, err := c.do(ctx, call{endpoint: ep, url: authURL, method: http.MethodPost, params: p})
	if err != nil {
		return nil, err
	}
	if rep.status < 200 || rep.status > 299 {
		e := parseErrorResponse(rep.status, rep.contentType, rep.body, rep.secrets)
		e.endpoint = ep
		e.RetryAfter = parseRetryAfter(rep.header.Get("Retry-After"))
		return nil, e
	}
	obj, err := decodeObject(rep.contentType, rep.body)
	if err != nil {
		return nil, fmt.Errorf("oauth: %s response: %w", ep, err)
	}
	id, _, err := stringField(obj, "auth_req_id")
	if err == nil && id == "" {
		err = errors.New("missing auth_req_id")
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: %s response: %w", ep, err)
	}
	exp, present, err := numberField(obj, "expires_in")
	if err == nil && (!present || exp <= 0) {
		err = errors.New("missing or zero expires_in")
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: %s response: %w", ep, err)
	}
	a := &CIBAAuthorization{AuthReqID: id, Expiry: c.o.Now().Add(seconds(exp)), Interval: DefaultCIBAInterval}
	iv, present, err := numberField(obj, "interval")
	if err != nil {
		return nil, fmt.Errorf("oauth: %s response: %w", ep, err)
	}
	if present && iv >= 1 {
		a.Interval = seconds(iv)
	}
	return a, nil
}

// cibaScope always includes openid: CIBA is an OpenID Connect flow and
// servers reject requests without it.
func cibaScope(scopes []string) string {
	for _, s := range scopes {
		if s == "openid" {
			return strings.Join(scopes, " ")
		}
	}
	return strings.Join(append([]string{"openid"}, scopes...), " ")
}

// CIBAPoll polls the token endpoint for a, waiting a.Interval before each
// poll (also the first: whoever polled last, possibly another replica, may
// have just done so) and 5s more after each slow_down, until the subscriber
// approves or refuses or a expires.
func (c *Client) CIBAPoll(ctx context.Context, a *CIBAAuthorization) (*Token, error) {
	if a == nil || a.AuthReqID == "" {
		return nil, errors.New("oauth: ciba: poll needs an auth_req_id")
	}
	deadline := a.Expiry
	interval := max(a.Interval, time.Second)
	failures := 0
	for {
		if err := c.o.Sleep(ctx, interval); err != nil {
			return nil, fmt.Errorf("oauth: ciba: waiting for approval: %w", err)
		}
		if !c.o.Now().Before(deadline) {
			return nil, &Error{Code: "expired_token", Description: fmt.Sprintf("auth_req_id expired at %s without approval", deadline.UTC().Format(time.RFC3339))}
		}
		p := url.Values{"grant_type": {GrantTypeCIBA}, "auth_req_id": {a.AuthReqID}}
		t, err := c.token(ctx, p, []string{a.AuthReqID})
		if err == nil {
			return t, nil
		}
		var oe *Error
		switch {
		case errors.As(err, &oe) && oe.Code == "authorization_pending":
			failures = 0
		case errors.As(err, &oe) && oe.Code == "slow_down":
			failures = 0
			interval += SlowDownStep
		case ctx.Err() != nil:
			return nil, err
		case isTransient(err) && failures < maxTransientPollFailures-1:
			failures++
		default:
			// access_denied, expired_token, invalid_grant, or too many
			// transient failures: polling further cannot help.
			return nil, err
		}
	}
}

// isTransient is true for network failures and retryable server answers,
// false for definitive refusals and malformed responses.
func isTransient(err error) bool {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Retryable()
	}
	var ne net.Error
	return errors.As(err, &ne)
}
