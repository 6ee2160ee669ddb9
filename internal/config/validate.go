package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by SetDefaults. They are exported so docs and the webhook
// state the same numbers the sidecar uses.
const (
	DefaultAdminListen      = ":15020"
	DefaultPoPHeader        = "X-Authorization"
	DefaultIDTokenHeader    = "X-Auth-Originator"
	DefaultLoginHintHeader  = "X-Login-Hint"
	DefaultSubjectHeader    = "X-User"
	DefaultCacheSize        = 1024
	DefaultRefreshBefore    = 30 * time.Second
	DefaultExpirySkew       = 10 * time.Second
	DefaultMinRefresh       = time.Second
	DefaultMaxTokenCalls    = 10
	MaxExpirySkew           = 5 * time.Minute
	MaxMinRefresh           = 10 * time.Minute
	MaxMaxTokenCalls        = 1000
	DefaultCIBAMaxWait      = 30 * time.Second
	DefaultCIBAMaxPending   = 100
	DefaultMintLifetime     = 5 * time.Minute
	DefaultDrainTimeout     = 20 * time.Second
	DefaultReloadInterval   = 2 * time.Second
	DefaultTokenHTTPMethod  = "POST"
	DefaultTAAPSignLifetime = MaxPoPLifetime
	// DefaultResponseHeaderTimeout is generous for an API call yet ends
	// the wait for an upstream that accepted the connection and hung.
	DefaultResponseHeaderTimeout = 30 * time.Second
	// DefaultBodyReadTimeout is far more than an app on the same pod needs
	// to send pop.maxBodyBytes over loopback.
	DefaultBodyReadTimeout = 10 * time.Second
	// Tapkey's token exchange values (https://developers.tapkey.io, "Token
	// Exchange"); its endpoint refuses an exchange without audience.
	DefaultTapkeyAudience           = "tapkey_api"
	DefaultTapkeyRequestedTokenType = "access_token"
	DefaultTapkeySubjectTokenType   = "jwt"

	DefaultSharedCacheKeyPrefix = "oauth-injector:"
	DefaultSharedCacheTimeout   = 200 * time.Millisecond
	// MaxSharedCacheTimeout keeps "bounded" meaningful: every request that
	// misses the local cache may wait this long for the store.
	MaxSharedCacheTimeout = 5 * time.Second
)

// DefaultJWTBearerLifetime is exp-iat of a jwt_bearer assertion: as short as
// a client assertion, since a new one is signed for every token request.
const DefaultJWTBearerLifetime = time.Minute

// DefaultTAAPSign is the sign list used when a TAAP binding names none.
var DefaultTAAPSign = []string{"uri", "http-method", "body"}

// SetDefaults fills every optional field so the sidecar never re-derives them.
func (c *Config) SetDefaults() {
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.DrainTimeout.Duration == 0 {
		c.DrainTimeout.Duration = DefaultDrainTimeout
	}
	if c.ReloadInterval.Duration == 0 {
		c.ReloadInterval.Duration = DefaultReloadInterval
	}
	if c.BodyReadTimeout.Duration == 0 {
		c.BodyReadTimeout.Duration = DefaultBodyReadTimeout
	}
	for i := range c.Bindings {
		c.Bindings[i].setDefaults()
	}
}

func (b *Binding) setDefaults() {
	if b.TokenEndpoint != nil && b.TokenEndpoint.Method == "" {
		b.TokenEndpoint.Method = DefaultTokenHTTPMethod
	}
	if b.Refresh.Before.Duration == 0 {
		b.Refresh.Before.Duration = DefaultRefreshBefore
	}
	if b.Upstream.ResponseHeaderTimeout.Duration == 0 {
		b.Upstream.ResponseHeaderTimeout.Duration = DefaultResponseHeaderTimeout
	}
	if b.Refresh.ExpirySkew.Duration == 0 {
		b.Refresh.ExpirySkew.Duration = DefaultExpirySkew
	}
	if b.Refresh.MinInterval.Duration == 0 {
		b.Refresh.MinInterval.Duration = DefaultMinRefresh
	}
	if b.Refresh.MaxCallsPerSecond == 0 {
		b.Refresh.MaxCallsPerSecond = DefaultMaxTokenCalls
	}
	if b.TokenPlacement.In == "" {
		b.TokenPlacement.In = PlaceHeader
	}
	if p := b.PoP; p != nil {
		if p.Type == PoPTAAP {
			if p.Header == "" {
				p.Header = DefaultPoPHeader
			}
			if len(p.Sign) == 0 {
				p.Sign = append([]string(nil), DefaultTAAPSign...)
			}
			if p.Lifetime.Duration == 0 {
				p.Lifetime.Duration = DefaultTAAPSignLifetime
			}
			if b.TokenPlacement.IDTokenHeader == "" {
				b.TokenPlacement.IDTokenHeader = DefaultIDTokenHeader
			}
		}
		if p.OnTokenEndpoint == nil && p.Type != PoPNone {
			t := true
			p.OnTokenEndpoint = &t
		}
		if p.MaxBodyBytes == 0 {
			p.MaxBodyBytes = DefaultMaxBodyBytes
		}
	}
	if g := b.Grant.CIBA; g != nil {
		if g.LoginHintHeader == "" {
			g.LoginHintHeader = DefaultLoginHintHeader
		}
		if g.MaxWait.Duration == 0 {
			g.MaxWait.Duration = DefaultCIBAMaxWait
		}
		if g.CacheSize == 0 {
			g.CacheSize = DefaultCacheSize
		}
		if g.MaxPending == 0 {
			g.MaxPending = min(DefaultCIBAMaxPending, g.CacheSize)
		}
		if g.LoginHintFormat == "" {
			g.LoginHintFormat = LoginHintOpenGateway
		}
	}
	if j := b.Grant.JWTBearer; j != nil {
		if j.Lifetime.Duration == 0 {
			j.Lifetime.Duration = DefaultJWTBearerLifetime
		}
		if j.SubjectHeader != "" && j.CacheSize == 0 {
			j.CacheSize = DefaultCacheSize
		}
	}
	if te := b.Grant.TokenExchange; te != nil && te.GrantType == TokenExchangeTapkey {
		setIfEmpty(&te.Audience, DefaultTapkeyAudience)
		setIfEmpty(&te.RequestedTokenType, DefaultTapkeyRequestedTokenType)
		setIfEmpty(&te.SubjectTokenType, DefaultTapkeySubjectTokenType)
	}
	if sc := b.SharedCache; sc != nil {
		if sc.KeyPrefix == "" {
			sc.KeyPrefix = DefaultSharedCacheKeyPrefix
		}
		if sc.Timeout.Duration == 0 {
			sc.Timeout.Duration = DefaultSharedCacheTimeout
		}
	}
	if te := b.Grant.TokenExchange; te != nil && te.SubjectToken.Mint != nil {
		m := te.SubjectToken.Mint
		if m.SubjectHeader == "" {
			m.SubjectHeader = DefaultSubjectHeader
		}
		if m.Lifetime.Duration == 0 {
			m.Lifetime.Duration = DefaultMintLifetime
		}
		if m.CacheSize == 0 {
			m.CacheSize = DefaultCacheSize
		}
	}
}

func setIfEmpty(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// fieldErrors collects every problem so a user fixes a config in one pass.
type fieldErrors []string

func (e *fieldErrors) add(path, format string, args ...any) {
	*e = append(*e, path+": "+fmt.Sprintf(format, args...))
}

// ValidationError lists every invalid field, each prefixed with its path.
type ValidationError struct{ Problems []string }

func (v *ValidationError) Error() string {
	return "config: " + strings.Join(v.Problems, "; ")
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
var headerRE = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")

// Validate checks the config after defaults. It never echoes file contents,
// only paths, so errors are safe to log.
func (c *Config) Validate() error {
	var errs fieldErrors
	if c.Version != Version {
		errs.add("version", "must be %q, got %q", Version, c.Version)
	}
	adminPort := 0
	if _, p, err := net.SplitHostPort(c.Admin.Listen); err != nil {
		errs.add("admin.listen", "must be host:port, got %q", c.Admin.Listen)
	} else if adminPort, err = strconv.Atoi(p); err != nil || adminPort < 1 || adminPort > 65535 {
		errs.add("admin.listen", "port must be 1-65535, got %q", p)
	}
	if c.DrainTimeout.Duration < 0 {
		errs.add("drainTimeout", "must not be negative")
	}
	if c.ReloadInterval.Duration < 0 {
		errs.add("reloadInterval", "must not be negative")
	}
	if c.BodyReadTimeout.Duration <= 0 {
		errs.add("bodyReadTimeout", "must be positive, got %s", c.BodyReadTimeout.Duration)
	}
	if len(c.Bindings) == 0 {
		errs.add("bindings", "at least one binding is required")
	}
	names := map[string]int{}
	ports := map[int]string{adminPort: "admin.listen"}
	for i := range c.Bindings {
		b := &c.Bindings[i]
		p := fmt.Sprintf("bindings[%d]", i)
		if j, dup := names[b.Name]; dup && b.Name != "" {
			errs.add(p+".name", "duplicates bindings[%d].name %q", j, b.Name)
		}
		names[b.Name] = i
		if b.ListenPort >= 1 && b.ListenPort <= 65535 {
			if other, dup := ports[b.ListenPort]; dup {
				errs.add(p+".listenPort", "port %d is already used by %s", b.ListenPort, other)
			}
			ports[b.ListenPort] = p + ".listenPort"
		}
		b.validate(p, &errs)
	}
	if len(errs) > 0 {
		return &ValidationError{Problems: errs}
	}
	return nil
}

func (b *Binding) validate(p string, errs *fieldErrors) {
	if !nameRE.MatchString(b.Name) || len(b.Name) > 63 {
		errs.add(p+".name", "must be a DNS label (lowercase letters, digits, '-'), got %q", b.Name)
	}
	if b.ListenPort < 1 || b.ListenPort > 65535 {
		errs.add(p+".listenPort", "must be 1-65535, got %d", b.ListenPort)
	}
	b.validateURL(p, "upstream.url", b.Upstream.URL, errs)
	if d := b.Upstream.ResponseHeaderTimeout.Duration; d <= 0 {
		errs.add(p+".upstream.responseHeaderTimeout", "must be positive, got %s", d)
	}

	g := b.Grant
	switch g.Type {
	case GrantNone:
		if b.OAuth1 == nil {
			errs.add(p+".grant.type", "\"none\" requires oauth1 request signing; without a token there is nothing to add")
		}
	case GrantClientCredentials, GrantPassword, GrantRefreshToken, GrantCIBA, GrantTokenExchange, GrantJWTBearer:
		if b.TokenEndpoint == nil {
			errs.add(p+".tokenEndpoint", "required for grant %q", g.Type)
		}
	case "implicit":
		errs.add(p+".grant.type", "the implicit grant is browser-only and returns tokens in a redirect; a backend sidecar cannot use it, use client_credentials or refresh_token")
	case "":
		errs.add(p+".grant.type", "required")
	default:
		errs.add(p+".grant.type", "unsupported grant %q (want one of client_credentials, password, refresh_token, ciba, token_exchange, jwt_bearer, none)", g.Type)
	}
	for i, s := range g.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			errs.add(fmt.Sprintf("%s.grant.scopes[%d]", p, i), "must be a non-empty scope token without spaces, quotes or backslashes")
		}
	}
	requireSub := func(field string, present bool, want string) {
		if g.Type == want && !present {
			errs.add(p+".grant."+field, "required when grant.type is %q", want)
		}
		if g.Type != want && present {
			errs.add(p+".grant."+field, "only allowed when grant.type is %q", want)
		}
	}
	requireSub("password", g.Password != nil, GrantPassword)
	requireSub("refreshToken", g.RefreshToken != nil, GrantRefreshToken)
	requireSub("ciba", g.CIBA != nil, GrantCIBA)
	requireSub("tokenExchange", g.TokenExchange != nil, GrantTokenExchange)
	requireSub("jwtBearer", g.JWTBearer != nil, GrantJWTBearer)
	if g.Password != nil {
		requireFile(errs, p+".grant.password.usernameFile", g.Password.UsernameFile)
		requireFile(errs, p+".grant.password.passwordFile", g.Password.PasswordFile)
	}
	if g.RefreshToken != nil {
		requireFile(errs, p+".grant.refreshToken.file", g.RefreshToken.File)
	}
	if c := g.CIBA; c != nil {
		b.validateURL(p, "grant.ciba.authorizeURL", c.AuthorizeURL, errs)
		validateHeader(errs, p+".grant.ciba.loginHintHeader", c.LoginHintHeader)
		if c.MaxWait.Duration < 0 {
			errs.add(p+".grant.ciba.maxWait", "must not be negative")
		}
		if c.CacheSize < 1 {
			errs.add(p+".grant.ciba.cacheSize", "must be at least 1")
		}
		if c.MaxPending < 1 {
			errs.add(p+".grant.ciba.maxPending", "must be at least 1")
		} else if c.MaxPending > c.CacheSize {
			errs.add(p+".grant.ciba.maxPending", "must not exceed grant.ciba.cacheSize (%d): every approval needs a cache entry to land in", c.CacheSize)
		}
		if c.LoginHintFormat != LoginHintOpenGateway && c.LoginHintFormat != LoginHintOpaque {
			errs.add(p+".grant.ciba.loginHintFormat", "must be %s or %s, got %q", LoginHintOpenGateway, LoginHintOpaque, c.LoginHintFormat)
		}
		if c.Purpose == "" && len(g.Scopes) == 0 {
			errs.add(p+".grant.ciba.purpose", "a purpose (dpv:<purpose>#<scope>) or grant.scopes is required")
		}
	}
	if te := g.TokenExchange; te != nil {
		b.validateTokenExchange(p+".grant.tokenExchange", te, errs)
	}
	if j := g.JWTBearer; j != nil {
		b.validateJWTBearer(p, j, errs)
	}
	if te := b.TokenEndpoint; te != nil {
		b.validateURL(p, "tokenEndpoint.url", te.URL, errs)
		if te.Method != "GET" && te.Method != "POST" {
			errs.add(p+".tokenEndpoint.method", "must be GET or POST, got %q", te.Method)
		}
	}
	b.validateClientAuth(p+".clientAuth", errs)
	if k := b.PrivateKey; k != nil {
		requireFile(errs, p+".privateKey.file", k.File)
	}
	b.validatePoP(p+".pop", errs)
	switch b.TokenPlacement.In {
	case PlaceHeader, PlaceQuery, PlaceForm:
	default:
		errs.add(p+".tokenPlacement.in", "must be header, query or form, got %q", b.TokenPlacement.In)
	}
	if h := b.TokenPlacement.IDTokenHeader; h != "" {
		validateHeader(errs, p+".tokenPlacement.idTokenHeader", h)
	}
	if o := b.OAuth1; o != nil {
		b.validateOAuth1(p+".oauth1", o, errs)
	}
	b.Refresh.validate(p+".refresh", errs)
	b.Upstream.Proxy.validate(p+".upstream.proxy", errs)
	if te := b.TokenEndpoint; te != nil {
		te.Proxy.validate(p+".tokenEndpoint.proxy", errs)
	}
	if sc := b.SharedCache; sc != nil {
		b.validateSharedCache(p+".sharedCache", sc, errs)
	}
}

func requireFile(errs *fieldErrors, path, v string) {
	if v == "" {
		errs.add(path, "required")
	} else if !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, ".") {
		// Relative paths are allowed for local runs; reject obvious
		// mistakes such as a secret value pasted where a path belongs.
		if strings.ContainsAny(v, " \n\t") {
			errs.add(path, "must be a file path")
		}
	}
}

func validateHeader(errs *fieldErrors, path, h string) {
	if !headerRE.MatchString(h) {
		errs.add(path, "must be a valid HTTP header name, got %q", h)
	}
}

// validateURL checks a credential-bearing URL of the binding at p.
func (b *Binding) validateURL(p, field, raw string, errs *fieldErrors) {
	path := p + "." + field
	if raw == "" {
		errs.add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		errs.add(path, "not a valid URL: %v", errors.Unwrap(err))
		return
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		errs.add(path, "scheme must be https or http, got %q", u.Scheme)
	}
	if u.Scheme == "http" && !b.AllowInsecureHTTP && !IsLoopbackHost(u.Hostname()) {
		errs.add(path, "http:// sends credentials in cleartext; use https:// or set %s.allowInsecureHTTP: true (loopback hosts are exempt)", p)
	}
	if u.Host == "" {
		errs.add(path, "must include a host")
	}
	if u.User != nil {
		errs.add(path, "must not embed credentials; use clientAuth")
	}
}

// IsLoopbackHost reports whether host (without port or brackets) can only
// be reached inside the pod or machine: localhost, 127.0.0.0/8 or ::1.
// Cleartext to it never crosses a network.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
