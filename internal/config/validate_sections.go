package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Per-section checks of one binding, split from validate.go so each file
// stays about one responsibility: this one knows the protocol rules.

// validateTokenSource checks a token source: the grant, the token endpoint
// and the client authentication. p is the source's path: the binding's own
// (bp) or one of its providers'; URLs are allowed cleartext by the
// binding's allowInsecureHTTP at bp.
func (b *Binding) validateTokenSource(bp, p string, errs *fieldErrors) {
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
	validateScopes(errs, p+".grant.scopes", g.Scopes)
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
		b.validateURLAt(bp, p+".grant.ciba.authorizeURL", c.AuthorizeURL, errs)
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
		if c.Purpose == "" && len(g.Scopes) == 0 && !b.cibaScopedByOperations() {
			errs.add(p+".grant.ciba.purpose", "a purpose (dpv:<purpose>#<scope>) or grant.scopes is required (or, with unmatched: deny, one on every operation)")
		}
	}
	if te := g.TokenExchange; te != nil {
		b.validateTokenExchange(p+".grant.tokenExchange", te, errs)
	}
	if j := g.JWTBearer; j != nil {
		b.validateJWTBearer(p, j, errs)
	}
	if te := b.TokenEndpoint; te != nil {
		b.validateURLAt(bp, p+".tokenEndpoint.url", te.URL, errs)
		if te.Method != "GET" && te.Method != "POST" {
			errs.add(p+".tokenEndpoint.method", "must be GET or POST, got %q", te.Method)
		}
		te.Proxy.validate(p+".tokenEndpoint.proxy", errs)
	}
	b.validateClientAuth(p+".clientAuth", errs)
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

// MaxJWTBearerSubjectBytes bounds a jwt_bearer sub: room for a TS.43
// operator token, short enough to keep hostile values out of cache keys and
// request bodies.
const MaxJWTBearerSubjectBytes = 1024

// validateJWTBearer checks grant.jwtBearer; p is the binding's path, because
// the grant also needs privateKey and clientAuth.clientIDFile.
func (b *Binding) validateJWTBearer(p string, j *JWTBearer, errs *fieldErrors) {
	jp := p + ".grant.jwtBearer"
	switch {
	case j.Subject != "" && j.SubjectHeader != "":
		errs.add(jp, "set exactly one of subject (fixed) or subjectHeader (per request), not both")
	case j.Subject == "" && j.SubjectHeader == "":
		errs.add(jp, "set exactly one of subject (fixed) or subjectHeader (per request)")
	case j.SubjectHeader != "":
		validateHeader(errs, jp+".subjectHeader", j.SubjectHeader)
		if j.CacheSize < 1 {
			errs.add(jp+".cacheSize", "must be at least 1")
		}
	default:
		if err := ValidateJWTBearerSubject(j.Subject); err != nil {
			errs.add(jp+".subject", "%v", err)
		}
		if j.CacheSize != 0 {
			errs.add(jp+".cacheSize", "only used with subjectHeader; a fixed subject has one token")
		}
	}
	switch d := j.Lifetime.Duration; {
	case d <= 0:
		errs.add(jp+".lifetime", "must be positive")
	case d > MaxJWTBearerLifetime:
		errs.add(jp+".lifetime", "must be <= %s, got %s", MaxJWTBearerLifetime, d)
	case d%time.Second != 0:
		errs.add(jp+".lifetime", "must be whole seconds (iat/exp are in seconds), got %s", d)
	}
	switch j.Algorithm {
	case "", AlgRS256, AlgPS256, AlgES256:
	default:
		errs.add(jp+".algorithm", "must be %s, %s or %s (or empty: by key type), got %q", AlgRS256, AlgPS256, AlgES256, j.Algorithm)
	}
	if b.PrivateKey == nil {
		errs.add(jp, "requires privateKey to sign the assertion")
	}
	if b.ClientAuth.ClientIDFile == "" {
		errs.add(p+".clientAuth.clientIDFile", "required with grant.jwtBearer: the client ID is the assertion's iss")
	}
}

// ValidateJWTBearerSubject checks a jwt_bearer sub, fixed or from a request
// header: the authorization server decides what it names (CAMARA: tel:+... or
// operatortoken:...), the sidecar only keeps it safe to send and cache. The
// error never repeats the value, which may be a phone number.
func ValidateJWTBearerSubject(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > MaxJWTBearerSubjectBytes:
		return fmt.Errorf("longer than %d bytes (%d)", MaxJWTBearerSubjectBytes, len(s))
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errors.New("contains a control character")
	}
	return nil
}

func (b *Binding) validateClientAuth(p string, errs *fieldErrors) {
	a := b.ClientAuth
	needsToken := b.Grant.Type != GrantNone && b.Grant.Type != ""
	switch a.Method {
	case AuthClientSecretBasic, AuthClientSecretPost, AuthClientSecretJWT:
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
		errs.add(p+".method", "unsupported method %q (want client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth or none)", a.Method)
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

func (r Refresh) validate(p string, errs *fieldErrors) {
	if r.Before.Duration < 0 {
		errs.add(p+".before", "must not be negative")
	}
	if d := r.ExpirySkew.Duration; d < 0 || d > MaxExpirySkew {
		errs.add(p+".expirySkew", "must be between 0s and %s, got %s", MaxExpirySkew, d)
	}
	if d := r.MinInterval.Duration; d < 0 || d > MaxMinRefresh {
		errs.add(p+".minInterval", "must be between 0s and %s, got %s", MaxMinRefresh, d)
	}
	if n := r.MaxCallsPerSecond; n < 0 || n > MaxMaxTokenCalls {
		errs.add(p+".maxCallsPerSecond", "must be between 1 and %d, got %d", MaxMaxTokenCalls, n)
	}
}
