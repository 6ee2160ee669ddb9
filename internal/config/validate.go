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
	DefaultCIBAMaxWait      = 30 * time.Second
	DefaultMintLifetime     = 5 * time.Minute
	DefaultDrainTimeout     = 20 * time.Second
	DefaultReloadInterval   = 2 * time.Second
	DefaultTokenHTTPMethod  = "POST"
	DefaultTAAPSignLifetime = MaxPoPLifetime
)

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
	validateURL(p+".upstream.url", b.Upstream.URL, errs)

	g := b.Grant
	switch g.Type {
	case GrantNone:
		if b.OAuth1 == nil {
			errs.add(p+".grant.type", "\"none\" requires oauth1 request signing; without a token there is nothing to add")
		}
	case GrantClientCredentials, GrantPassword, GrantRefreshToken, GrantCIBA, GrantTokenExchange:
		if b.TokenEndpoint == nil {
			errs.add(p+".tokenEndpoint", "required for grant %q", g.Type)
		}
	case "implicit":
		errs.add(p+".grant.type", "the implicit grant is browser-only and returns tokens in a redirect; a backend sidecar cannot use it, use client_credentials or refresh_token")
	case "":
		errs.add(p+".grant.type", "required")
	default:
		errs.add(p+".grant.type", "unsupported grant %q (want one of client_credentials, password, refresh_token, ciba, token_exchange, none)", g.Type)
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
	if g.Password != nil {
		requireFile(errs, p+".grant.password.usernameFile", g.Password.UsernameFile)
		requireFile(errs, p+".grant.password.passwordFile", g.Password.PasswordFile)
	}
	if g.RefreshToken != nil {
		requireFile(errs, p+".grant.refreshToken.file", g.RefreshToken.File)
	}
	if c := g.CIBA; c != nil {
		validateURL(p+".grant.ciba.authorizeURL", c.AuthorizeURL, errs)
		validateHeader(errs, p+".grant.ciba.loginHintHeader", c.LoginHintHeader)
		if c.MaxWait.Duration < 0 {
			errs.add(p+".grant.ciba.maxWait", "must not be negative")
		}
		if c.CacheSize < 1 {
			errs.add(p+".grant.ciba.cacheSize", "must be at least 1")
		}
		if c.Purpose == "" && len(g.Scopes) == 0 {
			errs.add(p+".grant.ciba.purpose", "a purpose (dpv:<purpose>#<scope>) or grant.scopes is required")
		}
	}
	if te := g.TokenExchange; te != nil {
		b.validateTokenExchange(p+".grant.tokenExchange", te, errs)
	}
	if te := b.TokenEndpoint; te != nil {
		validateURL(p+".tokenEndpoint.url", te.URL, errs)
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
	if b.Refresh.Before.Duration < 0 {
		errs.add(p+".refresh.before", "must not be negative")
	}
}

func (b *Binding) validateTokenExchange(p string, te *TokenExchange, errs *fieldErrors) {
	switch te.GrantType {
	case TokenExchangeRFC8693:
		if te.SubjectTokenType == "" {
			errs.add(p+".subjectTokenType", "required for RFC 8693 (for example urn:ietf:params:oauth:token-type:jwt)")
		}
	case TokenExchangeTapkey:
		if te.Provider == "" {
			errs.add(p+".provider", "required for the Tapkey token exchange grant")
		}
		if te.SubjectTokenType != "" && te.SubjectTokenType != "jwt" {
			errs.add(p+".subjectTokenType", "must be \"jwt\" for the Tapkey grant, got %q", te.SubjectTokenType)
		}
		if te.Audience != "" && te.Audience != "tapkey_api" {
			errs.add(p+".audience", "must be \"tapkey_api\" when set for the Tapkey grant, got %q", te.Audience)
		}
		if te.RequestedTokenType != "" && te.RequestedTokenType != "access_token" {
			errs.add(p+".requestedTokenType", "must be \"access_token\" when set for the Tapkey grant, got %q", te.RequestedTokenType)
		}
	default:
		errs.add(p+".grantType", "must be %q or %q, got %q", TokenExchangeRFC8693, TokenExchangeTapkey, te.GrantType)
	}
	s := te.SubjectToken
	switch {
	case s.File != "" && s.Mint != nil:
		errs.add(p+".subjectToken", "set exactly one of file or mint, not both")
	case s.File == "" && s.Mint == nil:
		errs.add(p+".subjectToken", "set exactly one of file or mint")
	case s.Mint != nil:
		m := s.Mint
		if m.Issuer == "" {
			errs.add(p+".subjectToken.mint.issuer", "required")
		}
		if m.Audience == "" {
			errs.add(p+".subjectToken.mint.audience", "required")
		}
		if m.Lifetime.Duration <= 0 {
			errs.add(p+".subjectToken.mint.lifetime", "must be positive")
		}
		validateHeader(errs, p+".subjectToken.mint.subjectHeader", m.SubjectHeader)
		if m.CacheSize < 1 {
			errs.add(p+".subjectToken.mint.cacheSize", "must be at least 1")
		}
		if b.PrivateKey == nil {
			errs.add(p+".subjectToken.mint", "requires privateKey to sign the subject token")
		}
	}
}

func (b *Binding) validateClientAuth(p string, errs *fieldErrors) {
	a := b.ClientAuth
	needsToken := b.Grant.Type != GrantNone && b.Grant.Type != ""
	switch a.Method {
	case AuthClientSecretBasic, AuthClientSecretPost:
		requireFile(errs, p+".clientIDFile", a.ClientIDFile)
		requireFile(errs, p+".clientSecretFile", a.ClientSecretFile)
	case AuthPrivateKeyJWT:
		requireFile(errs, p+".clientIDFile", a.ClientIDFile)
		if b.PrivateKey == nil {
			errs.add(p+".method", "private_key_jwt requires privateKey")
		}
	case AuthTLSClientAuth:
		requireFile(errs, p+".clientIDFile", a.ClientIDFile)
		requireFile(errs, p+".tlsCertFile", a.TLSCertFile)
		requireFile(errs, p+".tlsKeyFile", a.TLSKeyFile)
	case AuthNone:
	case "":
		if needsToken {
			errs.add(p+".method", "required")
		}
	default:
		errs.add(p+".method", "unsupported method %q (want client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or none)", a.Method)
	}
}

func (b *Binding) validatePoP(p string, errs *fieldErrors) {
	pp := b.PoP
	if pp == nil {
		return
	}
	switch pp.Type {
	case PoPNone:
	case PoPTAAP:
		if b.PrivateKey == nil {
			errs.add(p+".type", "taap requires privateKey to sign PoP tokens")
		}
		validateHeader(errs, p+".header", pp.Header)
		seen := map[string]bool{}
		for i, s := range pp.Sign {
			f := fmt.Sprintf("%s.sign[%d]", p, i)
			switch {
			case s == "":
				errs.add(f, "must not be empty")
			case seen[strings.ToLower(s)]:
				errs.add(f, "%q is listed twice", s)
			case s != "uri" && s != "http-method" && s != "body" && !headerRE.MatchString(s):
				errs.add(f, "must be uri, http-method, body or a header name, got %q", s)
			}
			seen[strings.ToLower(s)] = true
		}
		if pp.Lifetime.Duration <= 0 {
			errs.add(p+".lifetime", "must be positive")
		} else if pp.Lifetime.Duration > MaxPoPLifetime {
			errs.add(p+".lifetime", "must be <= %s, got %s", MaxPoPLifetime, pp.Lifetime.Duration)
		} else if pp.Lifetime.Duration%time.Second != 0 {
			errs.add(p+".lifetime", "must be whole seconds (iat/exp are in seconds), got %s", pp.Lifetime.Duration)
		}
	case PoPDPoP:
		if len(pp.Sign) > 0 {
			errs.add(p+".sign", "only applies to taap")
		}
	default:
		errs.add(p+".type", "must be none, taap or dpop, got %q", pp.Type)
	}
	if pp.MaxBodyBytes < 0 {
		errs.add(p+".maxBodyBytes", "must be positive, got %d", pp.MaxBodyBytes)
	}
}

func (b *Binding) validateOAuth1(p string, o *OAuth1, errs *fieldErrors) {
	requireFile(errs, p+".consumerKeyFile", o.ConsumerKeyFile)
	switch o.SignatureMethod {
	case OAuth1HMACSHA1, OAuth1HMACSHA256, OAuth1Plaintext:
		requireFile(errs, p+".consumerSecretFile", o.ConsumerSecretFile)
	case OAuth1RSASHA1, OAuth1RSASHA256:
		if b.PrivateKey == nil {
			errs.add(p+".signatureMethod", "%s requires privateKey (an RSA key); an HMAC secret cannot sign RSA", o.SignatureMethod)
		}
	default:
		errs.add(p+".signatureMethod", "must be HMAC-SHA1, HMAC-SHA256, RSA-SHA1, RSA-SHA256 or PLAINTEXT, got %q", o.SignatureMethod)
	}
	if (o.TokenFile == "") != (o.TokenSecretFile == "") && o.SignatureMethod != OAuth1RSASHA1 && o.SignatureMethod != OAuth1RSASHA256 {
		errs.add(p+".tokenSecretFile", "tokenFile and tokenSecretFile must be set together for three-legged signing")
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

func validateURL(path, raw string, errs *fieldErrors) {
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
	if u.Host == "" {
		errs.add(path, "must include a host")
	}
	if u.User != nil {
		errs.add(path, "must not embed credentials; use clientAuth")
	}
}
