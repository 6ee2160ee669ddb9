// Package egress routes a binding's outbound connections through an HTTP
// proxy when its config asks for one (upstream.proxy, tokenEndpoint.proxy).
// It only fills in an http.Transport's proxy hooks: for an https:// target
// the Transport opens an HTTP CONNECT tunnel and runs TLS with the target
// inside it, so the target's certificate is verified against the
// destination's roots and the client certificate reaches the target, never
// the proxy; an http:// target is sent to the proxy in absolute form.
//
// Proxy credentials never live in a URL. net/http would take them from the
// proxy URL's userinfo, but a URL ends up in connection-pool keys and could
// end up in an error; instead they are read per tunnel (so a rotated Secret
// applies to the next connection) and sent only in Proxy-Authorization.
package egress

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// Credentials returns the current proxy username and password.
type Credentials func() (username, password string)

// Route is one destination's way out: a fixed proxy, or one chosen per
// target from the environment. A nil *Route means "connect directly".
type Route struct {
	field string // config path for messages, such as "upstream.proxy"
	fixed *url.URL
	env   func(*url.URL) (*url.URL, error)
	// envAuth holds the userinfo of the environment's proxy URLs, keyed by
	// proxy host:port, for when no credentials files are configured.
	envAuth map[string]*url.Userinfo
	creds   Credentials
	desc    string
	// direct: fromEnvironment, but the environment names no proxy.
	direct bool
}

// New builds the route for the proxy section at field (for example
// "upstream.proxy"); nil p gives a nil route. creds is nil when the config
// names no credentials files. The environment is read here, once.
func New(p *config.Proxy, field string, creds Credentials) (*Route, error) {
	if p == nil {
		return nil, nil
	}
	r := &Route{field: field, creds: creds}
	if !p.FromEnvironment {
		if err := config.CheckProxyURL(p.URL); err != nil {
			return nil, fmt.Errorf("%s.url: %w", field, err)
		}
		u, _ := url.Parse(p.URL)
		r.fixed = &url.URL{Scheme: u.Scheme, Host: u.Host}
		r.desc = r.fixed.String()
		return r, nil
	}
	env := httpproxy.FromEnvironment()
	r.envAuth = map[string]*url.Userinfo{}
	var err error
	if env.HTTPSProxy, err = r.envProxy("HTTPS_PROXY", env.HTTPSProxy); err != nil {
		return nil, err
	}
	if env.HTTPProxy, err = r.envProxy("HTTP_PROXY", env.HTTPProxy); err != nil {
		return nil, err
	}
	r.env = env.ProxyFunc()
	r.direct = env.HTTPSProxy == "" && env.HTTPProxy == ""
	r.desc = fmt.Sprintf("environment: HTTPS_PROXY=%q HTTP_PROXY=%q NO_PROXY=%q", env.HTTPSProxy, env.HTTPProxy, env.NoProxy)
	return r, nil
}

// envProxy checks one environment proxy as httpproxy parses it (a bare
// host:port means http://) and returns it without userinfo, which it keeps
// aside. Errors never echo the value: it may hold a password.
func (r *Route) envProxy(name, raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if u2, err2 := url.Parse("http://" + raw); err2 == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s.fromEnvironment: %s (or its lower-case form) is not a valid URL", r.field, name)
	}
	bare := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if err := config.CheckProxyURL(bare.String()); err != nil {
		return "", fmt.Errorf("%s.fromEnvironment: %s (or its lower-case form) %s: %w", r.field, name, bare, err)
	}
	if u.User != nil {
		r.envAuth[u.Host] = u.User
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String(), nil
}

// String describes the route for the start-up log; it holds no credentials.
func (r *Route) String() string { return r.desc }

// Direct reports that the route was asked to follow the environment and
// the environment names no proxy, so every connection goes out directly.
func (r *Route) Direct() bool { return r != nil && r.direct }

// proxyFor is the Transport's Proxy hook.
func (r *Route) proxyFor(req *http.Request) (*url.URL, error) {
	if r.fixed != nil {
		return r.fixed, nil
	}
	return r.env(req.URL)
}

// authorization is the Proxy-Authorization value for proxyHost, or "".
func (r *Route) authorization(proxyHost string) (string, error) {
	var user, pass string
	switch ui := r.envAuth[proxyHost]; {
	case r.creds != nil:
		user, pass = r.creds()
	case ui != nil:
		user = ui.Username()
		pass, _ = ui.Password()
	default:
		return "", nil
	}
	if strings.Contains(user, ":") {
		// RFC 7617 §2: the user-id cannot contain a colon; the proxy
		// would split it in the wrong place.
		return "", fmt.Errorf("%s: the proxy username contains ':', which Basic authentication cannot carry", r.field)
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), nil
}

// Apply installs the route on tr and returns the RoundTripper to use in its
// place. A nil route returns tr unchanged.
func (r *Route) Apply(tr *http.Transport) http.RoundTripper {
	if r == nil {
		return tr
	}
	tr.Proxy = r.proxyFor
	tr.GetProxyConnectHeader = func(_ context.Context, proxyURL *url.URL, _ string) (http.Header, error) {
		a, err := r.authorization(proxyURL.Host)
		if err != nil || a == "" {
			return nil, err
		}
		return http.Header{"Proxy-Authorization": {a}}, nil
	}
	tr.OnProxyConnectResponse = func(_ context.Context, proxyURL *url.URL, connect *http.Request, resp *http.Response) error {
		// net/http accepts only 200 and would report any other answer
		// by its bare reason phrase ("Proxy Authentication Required"),
		// naming neither the proxy nor the target.
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		return r.refused(proxyURL.Host, "CONNECT "+connect.Host, resp.StatusCode)
	}
	return &cleartext{next: tr, r: r}
}

// cleartext handles http:// targets, whose requests net/http sends to the
// proxy itself: it adds Proxy-Authorization, which net/http would only take
// from the proxy URL, and turns the proxy's 407 into an error instead of
// handing it on as if the target had answered.
type cleartext struct {
	next http.RoundTripper
	r    *Route
}

func (c *cleartext) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return c.next.RoundTrip(req)
	}
	px, err := c.r.proxyFor(req)
	if err != nil || px == nil {
		// The Transport asks the same hook and reports the error.
		return c.next.RoundTrip(req)
	}
	a, err := c.r.authorization(px.Host)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if a != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Proxy-Authorization", a)
	}
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusProxyAuthRequired {
		resp.Body.Close()
		return nil, c.r.refused(px.Host, req.Method+" "+req.URL.Host, resp.StatusCode)
	}
	return resp, err
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// Error is a proxy's refusal. It names the config field, the proxy and the
// target, never the credentials; the status text is ours, not the proxy's.
type Error struct {
	Field  string
	Proxy  string
	Target string // "CONNECT host:port" or "GET host:port"
	Status int
	hint   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: proxy %s answered %d %s to %s", e.Field, e.Proxy, e.Status, http.StatusText(e.Status), e.Target)
	if e.hint != "" {
		s += ": " + e.hint
	}
	return s
}

func (r *Route) refused(proxyHost, target string, status int) *Error {
	e := &Error{Field: r.field, Proxy: proxyHost, Target: target, Status: status}
	if status == http.StatusProxyAuthRequired {
		if r.creds != nil || r.envAuth[proxyHost] != nil {
			e.hint = "the proxy refused the configured credentials"
		} else {
			e.hint = "the proxy requires credentials and none are configured (credentialsSecretRef; usernameFile and passwordFile in the sidecar config)"
		}
	}
	return e
}
