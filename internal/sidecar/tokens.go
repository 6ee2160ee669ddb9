package sidecar

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
	"github.com/oauth-injector/oauth-injector/internal/sharedcache"
)

// ciba fetches include the subscriber's approval, which takes minutes, so
// they get a far longer budget than a plain token call.
const cibaFetchTimeout = 10 * time.Minute

func (b *binding) newTokenSource() error {
	c := b.cfg
	if c.Grant.Type == config.GrantNone {
		return nil
	}
	var err error
	if b.client, err = b.newClient(c.TokenEndpoint, c.ClientAuth, "tokenEndpoint", true); err != nil {
		return err
	}
	fl := newFetchLog(b)
	ro := refresher.Options{
		Fetch:       b.fetch,
		Before:      c.Refresh.Before.Duration,
		ExpirySkew:  c.Refresh.ExpirySkew.Duration,
		MinInterval: c.Refresh.MinInterval.Duration,
		RateLimit:   float64(c.Refresh.MaxCallsPerSecond),
		Observe:     fl.observe,
		Notice:      fl.notice,
		Now:         b.now,
	}
	b.clientLevel = !c.PerSubject()
	switch g := c.Grant; {
	case g.CIBA != nil:
		b.subjectHeader = g.CIBA.LoginHintHeader
		ro.MaxSubjects = g.CIBA.CacheSize
		ro.MaxPending = g.CIBA.MaxPending
		ro.WaitLimit = g.CIBA.MaxWait.Duration
		ro.FetchTimeout = cibaFetchTimeout
	case g.TokenExchange != nil && g.TokenExchange.SubjectToken.Mint != nil:
		b.subjectHeader = g.TokenExchange.SubjectToken.Mint.SubjectHeader
		ro.MaxSubjects = g.TokenExchange.SubjectToken.Mint.CacheSize
	case g.JWTBearer != nil:
		if err := b.setupJWTBearer(&ro); err != nil {
			return err
		}
	}
	if c.SharedCache != nil {
		if b.shared, err = b.newSharedLevel(); err != nil {
			return err
		}
	}
	if b.tokens, err = b.newCache(ro, b.ownSource(), keyOf("", c.Grant)); err != nil {
		return err
	}
	if len(c.Operations) > 0 {
		if b.ops, err = newOpRouter(b, ro); err != nil {
			return err
		}
	}
	if c.Grant.CIBA != nil {
		b.metrics.pendingAuthorizations(b.pending)
	}
	return nil
}

// newClient builds the token endpoint client of the binding's own token
// source (own) or of one provider's; field is the token endpoint's config
// path.
func (b *binding) newClient(te *config.TokenEndpoint, auth config.ClientAuth, field string, own bool) (*oauth.Client, error) {
	// A provider's endpoint does not get the binding's mutual TLS
	// certificate: it is the identity of another client. Its proxy
	// section applies as the binding's own token endpoint's does.
	tr, err := b.newTransport(field, te.CAFile, te.Proxy, own)
	if err != nil {
		return nil, err
	}
	opts := oauth.Options{
		TokenURL:    te.URL,
		Method:      te.Method,
		ExtraParams: te.ExtraParams,
		AuthMethod:  auth.Method,
		Audience:    auth.Audience,
		// Read per token request so rotated files apply at once.
		Credentials: func() (oauth.Credentials, error) {
			return oauth.Credentials{
				ClientID:     b.files.text(auth.ClientIDFile),
				ClientSecret: b.files.text(auth.ClientSecretFile),
				Key:          b.signer(),
			}, nil
		},
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		Now:        b.now,
	}
	if b.taap != nil && *b.cfg.PoP.OnTokenEndpoint {
		opts.BeforeSend = b.signTokenCall
	}
	if b.dpop != nil {
		opts.DPoP = func(method, htu, nonce string) (string, error) { return b.dpop.Proof(method, htu, "", nonce) }
	}
	client, err := oauth.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return client, nil
}

// signTokenCall adds the TAAP PoP to the token request: T-Mobile requires a
// PoP on "the OAuth 2.0 server" call as well as on every API call.
func (b *binding) signTokenCall(req *http.Request, body []byte) error {
	start := time.Now()
	tok, err := b.taap.Mint(pop.Request{Method: req.Method, URI: pop.URIValue(req.URL), Header: req.Header, Body: body})
	if err != nil {
		return fmt.Errorf("pop for token call: %w", err)
	}
	b.metrics.popSign.Observe(time.Since(start).Seconds())
	req.Header.Set(b.cfg.PoP.Header, tok)
	return nil
}

// grantSource is one way to get a token: a token endpoint client and the
// grant it runs, with the scopes (and CIBA purpose) of the tokens wanted.
// The binding's own grant is one; operations with other scopes, and
// providers, make more.
type grantSource struct {
	client *oauth.Client
	grant  config.Grant
	// refresh is the refresh token of the source's provider as the server
	// rotates it: one chain per provider, whatever the scopes.
	refresh *refreshChain
}

// ownSource is the binding's own grant, client and refresh chain.
func (b *binding) ownSource() grantSource {
	return grantSource{client: b.client, grant: b.cfg.Grant, refresh: &b.refreshToken}
}

// fetch is the refresher's FetchFunc for the binding's own grant: one grant
// round trip for subject.
func (b *binding) fetch(ctx context.Context, subject string, _ *oauth.Token) (*oauth.Token, error) {
	return b.fetchFrom(ctx, b.ownSource(), subject)
}

func (b *binding) fetchFrom(ctx context.Context, src grantSource, subject string) (*oauth.Token, error) {
	g := src.grant
	switch g.Type {
	case config.GrantClientCredentials:
		return src.client.ClientCredentials(ctx, g.Scopes)
	case config.GrantPassword:
		return src.client.Password(ctx, b.files.text(g.Password.UsernameFile), b.files.text(g.Password.PasswordFile), g.Scopes)
	case config.GrantRefreshToken:
		return b.fetchRefresh(ctx, src)
	case config.GrantCIBA:
		return src.client.CIBA(ctx, cibaRequest(g, subject))
	case config.GrantJWTBearer:
		return b.fetchJWTBearer(ctx, src, subject)
	case config.GrantTokenExchange:
		st, err := b.subjectToken(subject)
		if err != nil {
			return nil, err
		}
		x := g.TokenExchange
		return src.client.Exchange(ctx, oauth.ExchangeRequest{
			GrantType:          x.GrantType,
			SubjectToken:       st,
			SubjectTokenType:   x.SubjectTokenType,
			Provider:           x.Provider,
			Audience:           x.Audience,
			RequestedTokenType: x.RequestedTokenType,
			Scopes:             g.Scopes,
		})
	}
	return nil, fmt.Errorf("grant.type %q has no token source", g.Type)
}

func cibaRequest(g config.Grant, subject string) oauth.CIBARequest {
	return oauth.CIBARequest{
		AuthorizeURL:    g.CIBA.AuthorizeURL,
		LoginHint:       subject,
		LoginHintFormat: oauth.LoginHintFormat(g.CIBA.LoginHintFormat),
		Purpose:         g.CIBA.Purpose,
		Scopes:          g.Scopes,
		ExtraParams:     g.CIBA.ExtraParams,
	}
}

// refreshChain is a provider's refresh token as the server rotates it. A
// server that rotates accepts each refresh token once, so refreshes through
// one chain take turns: operations with other scopes have token caches of
// their own, each refreshing from the same chain.
type refreshChain struct {
	mu  sync.Mutex
	cur *rotatedRT
	// shared is the chain's side in the shared cache, set when the
	// binding has one: every cache of the provider refreshes through it.
	shared *sharedcache.Chain
}

// fetchRefresh uses the newest refresh token we know. A server that rotates
// refresh tokens invalidates the one in the Secret after first use, so the
// rotated one is kept in memory; it is dropped only when a person puts a new
// token into the Secret (the file content changes).
func (b *binding) fetchRefresh(ctx context.Context, src grantSource) (*oauth.Token, error) {
	g := src.grant
	fileRT := b.files.text(g.RefreshToken.File)
	sum := sha256.Sum256([]byte(fileRT))
	fileSum := hex.EncodeToString(sum[:])
	chain := src.refresh
	chain.mu.Lock()
	defer chain.mu.Unlock()
	rt := fileRT
	if cur := chain.cur; cur != nil && cur.fileSum == fileSum {
		rt = cur.token
	}
	tok, err := src.client.Refresh(ctx, rt, g.Scopes)
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = rt
	} else if tok.RefreshToken != rt {
		b.log.Info("refresh token rotated by the server; keeping the new one in memory only")
	}
	chain.cur = &rotatedRT{fileSum: fileSum, token: tok.RefreshToken}
	return tok, nil
}

// ErrSubjectToken marks a subject token that cannot be used for exchange.
var ErrSubjectToken = errors.New("subject token unusable")

// subjectToken returns the token to exchange: read fresh from a rotating
// file (a projected ServiceAccount token), or minted per user.
func (b *binding) subjectToken(subject string) (string, error) {
	src := b.cfg.Grant.TokenExchange.SubjectToken
	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return "", fmt.Errorf("%w: grant.tokenExchange.subjectToken.file: %w", ErrSubjectToken, err)
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", fmt.Errorf("%w: grant.tokenExchange.subjectToken.file %s is empty", ErrSubjectToken, src.File)
		}
		// Read without verifying: the partner verifies; this only fails fast
		// with a clear message instead of a vague invalid_grant.
		if exp, ok := oauth.JWTExpiry(tok); ok && !b.now().Before(exp) {
			return "", fmt.Errorf("%w: grant.tokenExchange.subjectToken.file %s holds a JWT that expired at %s", ErrSubjectToken, src.File, exp.UTC().Format(time.RFC3339))
		}
		return tok, nil
	}
	return b.mintSubject(src.Mint, subject)
}

// mintSubject makes the sidecar the identity provider registered with the
// partner. The subject JWT's lifetime bounds the exchanged token's lifetime
// (Tapkey states this), so it is the knob for per-user token lifetime.
func (b *binding) mintSubject(m *config.MintSubject, subject string) (string, error) {
	now := b.now()
	claims := jwt.MapClaims{
		"iss": m.Issuer,
		"aud": m.Audience,
		"sub": subject,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(m.Lifetime.Duration).Unix(),
		"jti": uuid.NewString(),
	}
	var method jwt.SigningMethod
	switch b.signer().(type) {
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		method = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("%w: privateKey must be RSA or ECDSA P-256 to mint subject tokens", ErrSubjectToken)
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(b.signer())
	if err != nil {
		return "", fmt.Errorf("%w: signing: %w", ErrSubjectToken, err)
	}
	return s, nil
}

func (b *binding) warm(ctx context.Context) {
	if b.tokens == nil || !b.clientLevel {
		return
	}
	for _, c := range b.caches() {
		go c.Warm(ctx, "")
	}
}

func (b *binding) ready() bool {
	if b.tokens == nil || !b.clientLevel {
		return true
	}
	for _, c := range b.caches() {
		if !c.Ready("") {
			return false
		}
	}
	return true
}

// FetchOnce runs one binding's grant once, outside any cache; the injector's
// token subcommand uses it to debug credentials.
func FetchOnce(ctx context.Context, cfg *config.Config, name, subject string, log *zap.Logger) (*oauth.Token, error) {
	bc, ok := cfg.Binding(name)
	if !ok {
		return nil, fmt.Errorf("binding %q not found in config", name)
	}
	b, err := newBinding(bc, bindingEnv{log: log, metrics: NewMetrics(), now: time.Now, after: realAfterFunc})
	if err != nil {
		return nil, err
	}
	if b.client == nil {
		return nil, fmt.Errorf("binding %q uses grant %q, which has no token endpoint", name, bc.Grant.Type)
	}
	if b.subjectHeader != "" && subject == "" {
		return nil, fmt.Errorf("binding %q needs --subject (header %s supplies it per request)", name, b.subjectHeader)
	}
	return b.fetch(ctx, subject, nil)
}
