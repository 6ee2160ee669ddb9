package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/operations"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
)

// Operation-specific tokens (docs/operations.md). A binding with operations
// keeps one token cache per (provider, scope set, CIBA purpose) and sends
// each request with the token of the operation it matches, so no request
// carries scopes it does not need. Each cache is an ordinary
// refresher.Cache with the binding's refresh options: refresh ahead,
// single flight, backoff, circuit and rate limit work per cache as they do
// for a binding without operations. Operations with the same provider,
// scopes and purpose share a cache, and the binding's own token is reused
// for operations that ask for exactly its scopes.

// opRouter picks each request's token cache.
type opRouter struct {
	match *operations.Matcher
	// byOp is the cache of each operation, by its index in the config.
	byOp []*refresher.Cache
	// unmatched serves requests no operation matches; nil refuses them.
	unmatched *refresher.Cache
	// caches are the distinct caches requests can reach, for warming,
	// readiness and the pending gauge.
	caches []*refresher.Cache
	// own are the caches made here, which Close must stop.
	own []*refresher.Cache
}

// sourceKey identifies a token: who issues it and what it is for.
type sourceKey struct {
	provider, scopes, purpose string
}

// newOpRouter builds the caches of the binding's operations. ro is the
// binding's own cache options; each cache gets a copy with its own fetch.
func newOpRouter(b *binding, ro refresher.Options) (r *opRouter, err error) {
	c := b.cfg
	routes := make([]operations.Route, len(c.Operations))
	for i, o := range c.Operations {
		routes[i] = operations.Route{Name: o.Name, Methods: o.Methods, Path: o.Path}
	}
	r = &opRouter{byOp: make([]*refresher.Cache, len(c.Operations))}
	if r.match, err = operations.Compile(routes); err != nil {
		return nil, fmt.Errorf("operations: %w", err) // config.Validate refuses these first
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	sources := map[string]grantSource{"": b.ownSource()}
	logs := map[string]*fetchLog{}
	caches := map[sourceKey]*refresher.Cache{keyOf("", c.Grant): b.tokens}
	for i, o := range c.Operations {
		src, ok := sources[o.Provider]
		if !ok {
			if src, logs[o.Provider], err = b.providerSource(o.Provider); err != nil {
				return nil, err
			}
			sources[o.Provider] = src
		}
		src.grant = withOperation(src.grant, o)
		k := keyOf(o.Provider, src.grant)
		cache, ok := caches[k]
		if !ok {
			co := ro
			co.Fetch = func(ctx context.Context, subject string, _ *oauth.Token) (*oauth.Token, error) {
				return b.fetchFrom(ctx, src, subject)
			}
			if fl := logs[o.Provider]; fl != nil {
				co.Observe, co.Notice = fl.observe, fl.notice
			}
			if cache, err = b.newCache(co, src, k); err != nil {
				return nil, fmt.Errorf("operations[%d] (%s): %w", i, o.Name, err)
			}
			caches[k] = cache
			r.own = append(r.own, cache)
		}
		r.byOp[i] = cache
	}
	if c.Unmatched != config.UnmatchedDeny {
		r.unmatched = b.tokens
	}
	for _, cache := range append(slices.Clone(r.byOp), r.unmatched) {
		if cache != nil && !slices.Contains(r.caches, cache) {
			r.caches = append(r.caches, cache)
		}
	}
	return r, nil
}

// providerSource builds the token source of a named provider: its own
// client (token endpoint and client authentication), grant and refresh
// chain, and a fetch log that names it.
func (b *binding) providerSource(name string) (grantSource, *fetchLog, error) {
	i := slices.IndexFunc(b.cfg.Providers, func(p config.Provider) bool { return p.Name == name })
	if i < 0 {
		return grantSource{}, nil, fmt.Errorf("operations: provider %q is not defined", name)
	}
	p := &b.cfg.Providers[i]
	field := fmt.Sprintf("providers[%d]", i)
	if j := p.Grant.JWTBearer; j != nil {
		if err := b.checkAssertionKey(field+".grant", j); err != nil {
			return grantSource{}, nil, err
		}
	}
	client, err := b.newClient(p.TokenEndpoint, p.ClientAuth, field+".tokenEndpoint", false)
	if err != nil {
		return grantSource{}, nil, err
	}
	fl := newFetchLog(b)
	fl.log = b.log.With(zap.String("provider", name))
	fl.grant = p.Grant.Type
	if u, err := url.Parse(p.TokenEndpoint.URL); err == nil {
		fl.endpoint = u.Host
	}
	return grantSource{client: client, grant: p.Grant, refresh: &refreshChain{}}, fl, nil
}

// withOperation is g with the operation's scopes and CIBA purpose in place
// of its own, where the operation sets them.
func withOperation(g config.Grant, o config.Operation) config.Grant {
	if len(o.Scopes) > 0 {
		g.Scopes = o.Scopes
	}
	if o.Purpose != "" && g.CIBA != nil {
		ciba := *g.CIBA
		ciba.Purpose = o.Purpose
		g.CIBA = &ciba
	}
	return g
}

// keyOf is the cache key of a grant: its scopes as a set, and its purpose.
func keyOf(provider string, g config.Grant) sourceKey {
	scopes := slices.Clone(g.Scopes)
	slices.Sort(scopes)
	k := sourceKey{provider: provider, scopes: strings.Join(slices.Compact(scopes), " ")}
	if g.CIBA != nil {
		k.purpose = g.CIBA.Purpose
	}
	return k
}

// route returns the token cache for r, or the error the app gets: 403
// operation_not_allowed for an unmatched request with unmatched: deny, 400
// invalid_path for a path whose operation cannot be told safely.
func (o *opRouter) route(r *http.Request) (*refresher.Cache, *proxyError) {
	i, err := o.match.Match(r.Method, r.URL)
	switch {
	case err != nil:
		detail := "the path has an invalid percent-escape"
		if errors.Is(err, operations.ErrDotSegment) {
			detail = "the path has a \".\" or \"..\" segment; the sidecar chooses the token by the path, so it refuses paths the upstream would rewrite"
		}
		return nil, newProxyError(http.StatusBadRequest, "invalid_path", detail)
	case i >= 0:
		return o.byOp[i], nil
	case o.unmatched != nil:
		return o.unmatched, nil
	}
	return nil, newProxyError(http.StatusForbidden, "operation_not_allowed",
		fmt.Sprintf("%s %s matches no operation of this binding, and it refuses unmatched requests (unmatched: deny)", r.Method, r.URL.EscapedPath()))
}

func (o *opRouter) close() {
	for _, c := range o.own {
		c.Close()
	}
}

// caches are the binding's token caches requests can reach.
func (b *binding) caches() []*refresher.Cache {
	if b.ops != nil {
		return b.ops.caches
	}
	return []*refresher.Cache{b.tokens}
}

// pending counts the binding's CIBA authorizations in flight, over every
// purpose.
func (b *binding) pending() int {
	n := 0
	for _, c := range b.caches() {
		n += c.Pending()
	}
	return n
}

// closeTokens stops every token cache of the binding, then the shared
// cache behind them.
func (b *binding) closeTokens() {
	if b.ops != nil {
		b.ops.close()
	}
	if b.tokens != nil {
		b.tokens.Close()
	}
	if b.shared != nil {
		b.shared.close()
	}
}
