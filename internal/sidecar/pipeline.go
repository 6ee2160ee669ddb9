package sidecar

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
)

// reqState is the pipeline's per-request state. On the direct path it is
// handed to roundTrip; requests that go through ReverseProxy (upgrades)
// carry it in their context.
type reqState struct {
	subject string
	// body is the buffered request body when the sidecar signs or rewrites
	// it; nil means the body streams through untouched.
	body     []byte
	buffered bool
	// trace forwards 1xx responses on the direct path; nil under
	// ReverseProxy, which has its own.
	trace *clientTrace
	// deadline is the slot of whichever deadline runs: the body read, then
	// each upstream attempt's response header wait.
	deadline deadlineEntry
	// tokens is the operation's token cache; nil means the binding's own.
	tokens *refresher.Cache
}

type stateKey struct{}

func (b *binding) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ex := &exchange{rec: statusRecorder{ResponseWriter: w}}
	rec, st := &ex.rec, &ex.st
	defer func() { b.metrics.request(rec.code(), time.Since(start)) }()

	if err := b.guard.admit(rec, r); err != nil {
		writeError(rec, b.cfg.Name, err)
		return
	}
	if b.ops != nil {
		tokens, perr := b.ops.route(r)
		if perr != nil {
			writeError(rec, b.cfg.Name, perr)
			return
		}
		st.tokens = tokens
	}
	if b.subjectHeader != "" {
		st.subject = strings.TrimSpace(r.Header.Get(b.subjectHeader))
		if err := b.checkSubject(st.subject); err != nil {
			writeError(rec, b.cfg.Name, err)
			return
		}
	}
	if b.needsBody(r) {
		body, release, err := b.bodies.read(rec, r, b.maxBody(), &st.deadline)
		if err != nil {
			writeError(rec, b.cfg.Name, classify(err))
			return
		}
		defer release()
		body = scrubForm(r, body)
		st.body, st.buffered = body, true
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	} else if r.ContentLength == 0 {
		st.buffered = true // nothing to replay but an empty body
	}
	if upgradeType(r.Header) != "" {
		b.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
		return
	}
	b.forward(ex, r)
}

func (b *binding) checkSubject(s string) *proxyError {
	if b.cfg.Grant.JWTBearer != nil {
		return checkJWTBearerSubject(b.subjectHeader, s)
	}
	if g := b.cfg.Grant.CIBA; g != nil {
		if s == "" {
			form := "tel:+<E.164> or ipport:<ip>[:port]"
			if g.LoginHintFormat == config.LoginHintOpaque {
				form = "a login_hint the authorization server knows, such as an e-mail address or user id"
			}
			return newProxyError(http.StatusBadRequest, "missing_login_hint", fmt.Sprintf("header %s is required: it names the subscriber (%s)", g.LoginHintHeader, form))
		}
		if err := oauth.LoginHintFormat(g.LoginHintFormat).Validate(s); err != nil {
			return newProxyError(http.StatusBadRequest, "invalid_login_hint", fmt.Sprintf("header %s: %v", g.LoginHintHeader, err))
		}
		return nil
	}
	if s == "" {
		return newProxyError(http.StatusBadRequest, "missing_subject", fmt.Sprintf("header %s is required: it names the user whose token is exchanged", b.subjectHeader))
	}
	return nil
}

func (b *binding) maxBody() int64 {
	if b.cfg.PoP != nil && b.cfg.PoP.MaxBodyBytes > 0 {
		return b.cfg.PoP.MaxBodyBytes
	}
	return config.DefaultMaxBodyBytes
}

// needsBody reports whether any signer or the token placement reads the
// body. Every form body is read too, so an access_token the app put there
// can be removed whatever the placement.
func (b *binding) needsBody(r *http.Request) bool {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	if b.taap != nil {
		for _, s := range b.cfg.PoP.Sign {
			if s == "body" {
				return true
			}
		}
	}
	return isForm(r.Header.Get("Content-Type"))
}

func isForm(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// rewrite and proxyRoundTrip are ReverseProxy's hooks, for upgrades.
func (b *binding) rewrite(pr *httputil.ProxyRequest) {
	// Scrub before SetURL joins the query with the upstream's own, so only
	// what the app sent is touched.
	b.guard.scrubOutgoing(pr.Out)
	pr.SetURL(b.upstream)
}

func (b *binding) proxyRoundTrip(out *http.Request) (*http.Response, error) {
	st, _ := out.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		st = &reqState{}
	}
	// roundTrip replaces the context of the request it sends: give it a
	// copy of ReverseProxy's.
	return b.roundTrip(out.WithContext(out.Context()), st)
}

// dpopNonceHeader is canonical, so looking it up costs no copy.
const dpopNonceHeader = "Dpop-Nonce"

// roundTrip is the per-request credential pipeline (DESIGN §4 steps 3-8).
// out is the sidecar's own outbound request.
func (b *binding) roundTrip(out *http.Request, st *reqState) (*http.Response, error) {
	base := out.Context()
	tokens := b.tokens
	if st.tokens != nil {
		tokens = st.tokens
	}
	for attempt := 0; ; attempt++ {
		var tok *oauth.Token
		if tokens != nil {
			var err error
			if tok, err = tokens.Token(base, st.subject); err != nil {
				return nil, err
			}
		}
		req := out
		if attempt > 0 {
			req = out.Clone(base)
			if st.body != nil {
				req.Body = io.NopCloser(bytes.NewReader(st.body))
			}
		}
		if err := b.authorize(req, st.body, tok); err != nil {
			return nil, err
		}
		resp, err := b.base.roundTrip(req, base, st.trace, &st.deadline)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", b.upstream.Host, err)
		}
		if b.dpop != nil {
			if n := resp.Header.Get(dpopNonceHeader); n != "" {
				b.dpopNonce.Store(&n)
			}
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 || !st.buffered || tok == nil {
			return resp, nil
		}
		// One refresh and one replay: a 401 usually means the partner
		// revoked the token early. A DPoP nonce challenge needs no new
		// token, only the nonce we just stored. The cache drops a
		// subject's token at most once per interval: when it refuses, the
		// upstream is refusing the request, not the token, and its 401
		// goes to the app without costing a token call.
		nonceChallenge := b.dpop != nil && strings.Contains(resp.Header.Get("Www-Authenticate"), "use_dpop_nonce")
		if !nonceChallenge && !tokens.Invalidate(st.subject, tok) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		b.log.Debug("upstream returned 401; refreshing and replaying once", zap.Bool("dpop_nonce", nonceChallenge))
	}
}

// authorize places the token and signs the request. Signing runs last so a
// PoP or OAuth 1.0a signature covers the final headers and body.
func (b *binding) authorize(req *http.Request, body []byte, tok *oauth.Token) error {
	if tok != nil {
		if err := b.placeToken(req, &body, tok); err != nil {
			return err
		}
	}
	if b.taap != nil {
		start := time.Now()
		p, err := b.taap.Mint(pop.Request{Method: req.Method, URI: pop.URIValue(req.URL), Header: req.Header, Body: body})
		if err != nil {
			return newProxyError(http.StatusInternalServerError, "signing_failed", "TAAP PoP: "+err.Error())
		}
		b.metrics.popSign.Observe(time.Since(start).Seconds())
		req.Header.Set(b.cfg.PoP.Header, p)
	}
	if s := b.oauth1.Load(); s != nil {
		if err := s.Sign(req, body); err != nil {
			return newProxyError(http.StatusInternalServerError, "signing_failed", "OAuth 1.0a: "+err.Error())
		}
	}
	return nil
}

func (b *binding) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	pe := classify(err)
	if pe.status >= 500 && pe.status != http.StatusServiceUnavailable {
		b.log.Warn("request failed", zap.String("code", pe.code), zap.Error(err))
	}
	writeError(w, b.cfg.Name, pe)
}

// statusRecorder remembers the status for metrics and keeps Flush working
// through http.ResponseController (Unwrap).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
