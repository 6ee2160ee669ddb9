package sidecar

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// dpopHeader is "DPoP" in canonical form, so setting it costs no copy.
const dpopHeader = "Dpop"

func (b *binding) placeToken(req *http.Request, body *[]byte, tok *oauth.Token) error {
	if b.placed.apply(req.Header, tok) {
		return nil
	}
	if n := b.cfg.TokenPlacement.IDTokenHeader; n != "" && tok.IDToken != "" {
		req.Header.Set(n, tok.IDToken)
	}
	if tok.TokenType == "mac" {
		if err := b.mac.Sign(req, tok.AccessToken, tok.MACKey, tok.MACAlgorithm); err != nil {
			return newProxyError(http.StatusInternalServerError, "signing_failed", "MAC: "+err.Error())
		}
		return nil
	}
	scheme := "Bearer"
	if b.dpop != nil {
		scheme = "DPoP"
		var nonce string
		if n := b.dpopNonce.Load(); n != nil {
			nonce = *n
		}
		proof, err := b.dpop.Proof(req.Method, req.URL.String(), tok.AccessToken, nonce)
		if err != nil {
			return newProxyError(http.StatusInternalServerError, "signing_failed", "DPoP: "+err.Error())
		}
		req.Header[dpopHeader] = []string{proof}
	}
	nb, err := signing.PlaceToken(req, *body, b.cfg.TokenPlacement.In, scheme, tok.AccessToken)
	if err != nil {
		if errors.Is(err, signing.ErrPlacement) {
			return newProxyError(http.StatusBadRequest, "token_placement", err.Error())
		}
		return err
	}
	// Only one token serves every request: with per-user tokens or per-
	// operation scopes they alternate, so each request would replace the
	// cache and pay for it instead of saving.
	if scheme == "Bearer" && b.cfg.TokenPlacement.In == config.PlaceHeader && b.clientLevel && b.ops == nil {
		b.placed.store(req.Header, tok, b.cfg.TokenPlacement.IDTokenHeader)
	}
	if b.cfg.TokenPlacement.In == config.PlaceForm {
		*body = nb
		req.Body = io.NopCloser(bytes.NewReader(nb))
		req.ContentLength = int64(len(nb))
		req.Header.Set("Content-Length", strconv.Itoa(len(nb)))
	}
	return nil
}

// placedHeaders remembers the header values the current token puts on
// every request with bearer header placement (Authorization and the ID
// token header), so a request with a cached token builds no strings. The
// slices are shared by every request and never modified: the request path
// replaces fields, it never appends to them.
type placedHeaders struct{ p atomic.Pointer[placed] }

type placed struct {
	tok *oauth.Token
	// access is the token string the values were built from, compared too
	// in case a token were ever changed in place.
	access        string
	authorization []string
	idTokenKey    string
	idToken       []string
}

// apply puts tok's cached values on h and reports whether there were any.
func (c *placedHeaders) apply(h http.Header, tok *oauth.Token) bool {
	p := c.p.Load()
	if p == nil || p.tok != tok || p.access != tok.AccessToken {
		return false
	}
	h["Authorization"] = p.authorization
	if p.idToken != nil {
		h[p.idTokenKey] = p.idToken
	}
	return true
}

// store caches what PlaceToken (which validated the token) put on h.
func (c *placedHeaders) store(h http.Header, tok *oauth.Token, idTokenHeader string) {
	p := &placed{tok: tok, access: tok.AccessToken, authorization: h["Authorization"]}
	if idTokenHeader != "" && tok.IDToken != "" {
		p.idTokenKey = http.CanonicalHeaderKey(idTokenHeader)
		p.idToken = h[p.idTokenKey]
	}
	c.p.Store(p)
}
