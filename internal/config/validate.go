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
	b.Grant.setDefaults()
	if sc := b.SharedCache; sc != nil {
		if sc.KeyPrefix == "" {
			sc.KeyPrefix = DefaultSharedCacheKeyPrefix
		}
		if sc.Timeout.Duration == 0 {
			sc.Timeout.Duration = DefaultSharedCacheTimeout
		}
	}
	if len(b.Operations) > 0 && b.Unmatched == "" {
		b.Unmatched = UnmatchedAllow
	}
	for i := range b.Providers {
		p := &b.Providers[i]
		if p.TokenEndpoint != nil && p.TokenEndpoint.Method == "" {
			p.TokenEndpoint.Method = DefaultTokenHTTPMethod
		}
		p.Grant.setDefaults()
	}
}

// setDefaults fills a grant's optional fields, of the binding's own grant
// and of each provider's alike.
func (g *Grant) setDefaults() {
	if c := g.CIBA; c != nil {
		if c.LoginHintHeader == "" {
			c.LoginHintHeader = DefaultLoginHintHeader
		}
		if c.MaxWait.Duration == 0 {
			c.MaxWait.Duration = DefaultCIBAMaxWait
		}
		if c.CacheSize == 0 {
			c.CacheSize = DefaultCacheSize
		}
		if c.MaxPending == 0 {
			c.MaxPending = min(DefaultCIBAMaxPending, c.CacheSize)
		}
		if c.LoginHintFormat == "" {
			c.LoginHintFormat = LoginHintOpenGateway
		}
	}
	if j := g.JWTBearer; j != nil {
		if j.Lifetime.Duration == 0 {
			j.Lifetime.Duration = DefaultJWTBearerLifetime
		}
		if j.SubjectHeader != "" && j.CacheSize == 0 {
			j.CacheSize = DefaultCacheSize
		}
	}
	if te := g.TokenExchange; te != nil && te.GrantType == TokenExchangeTapkey {
		setIfEmpty(&te.Audience, DefaultTapkeyAudience)
		setIfEmpty(&te.RequestedTokenType, DefaultTapkeyRequestedTokenType)
		setIfEmpty(&te.SubjectTokenType, DefaultTapkeySubjectTokenType)
	}
	if te := g.TokenExchange; te != nil && te.SubjectToken.Mint != nil {
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

	b.validateTokenSource(p, p, errs)
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
	if sc := b.SharedCache; sc != nil {
		b.validateSharedCache(p+".sharedCache", sc, errs)
	}
	b.validateOperations(p, errs)
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
	b.validateURLAt(p, p+"."+field, raw, errs)
}

// validateURLAt checks the credential-bearing URL at path, which belongs to
// the binding at p (a provider's token endpoint is one of those).
func (b *Binding) validateURLAt(p, path, raw string, errs *fieldErrors) {
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
