package sidecar

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// credentialHeaders are dropped from app requests: the app must not be able
// to smuggle its own credentials past the sidecar, nor replay a PoP.
var credentialHeaders = []string{"Authorization", "X-Authorization", "X-Auth-Originator", "DPoP", "Proxy-Authorization"}

// headerSet matches header names the way the frameworks behind an upstream
// see them: case-insensitively, and with '_' and '-' as one character,
// because CGI, WSGI and Rack expose both X-Authorization and X_Authorization
// as HTTP_X_AUTHORIZATION.
type headerSet map[string]struct{}

func newHeaderSet(names ...string) headerSet {
	s := headerSet{}
	for _, n := range names {
		if n != "" {
			s[foldHeader(n)] = struct{}{}
		}
	}
	return s
}

func foldHeader(n string) string { return strings.ToLower(strings.ReplaceAll(n, "_", "-")) }

// has reports whether the field name k is in the set. It runs for every
// field of every request and response, so it folds into a stack buffer:
// a map lookup keyed by string(bytes) does not allocate. Field names are
// ASCII tokens (net/http refuses others), so ASCII folding is foldHeader's.
func (s headerSet) has(k string) bool {
	var buf [64]byte
	if len(k) > len(buf) {
		_, ok := s[foldHeader(k)]
		return ok
	}
	f := buf[:len(k)]
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '_':
			f[i] = '-'
		case 'A' <= c && c <= 'Z':
			f[i] = c + ('a' - 'A')
		default:
			f[i] = c
		}
	}
	_, ok := s[string(f)]
	return ok
}

// strip deletes every field of h whose name is in the set.
func (s headerSet) strip(h http.Header) {
	for k := range h {
		if s.has(k) {
			delete(h, k)
		}
	}
}

// sidecarOnly are response headers only the sidecar may set; an upstream
// sending them could make its own errors look like the sidecar's.
var sidecarOnly = newHeaderSet(ErrorHeader)

// allowedMethods is the Allow header of a refused TRACE: the sidecar
// forwards any other method unchanged.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// requestGuard keeps the app's own credentials, in any spelling or channel,
// from reaching the partner next to the sidecar's, and refuses what would
// echo the sidecar's credentials back to the app.
type requestGuard struct {
	// strip holds the credential headers plus the binding's own PoP, ID
	// token and subject headers; they are removed from headers and
	// trailers alike.
	strip      headerSet
	allowTrace bool
}

func newRequestGuard(cfg *config.Binding, subjectHeader string) *requestGuard {
	names := append([]string{subjectHeader, cfg.TokenPlacement.IDTokenHeader}, credentialHeaders...)
	if p := cfg.PoP; p != nil {
		names = append(names, p.Header)
	}
	return &requestGuard{strip: newHeaderSet(names...), allowTrace: cfg.Upstream.AllowTrace}
}

// admit refuses requests the binding must not forward at all.
func (g *requestGuard) admit(w http.ResponseWriter, r *http.Request) *proxyError {
	if r.Method == http.MethodTrace && !g.allowTrace {
		w.Header().Set("Allow", allowedMethods)
		return newProxyError(http.StatusMethodNotAllowed, "method_not_allowed",
			"TRACE is not forwarded: an upstream that echoes it would return the sidecar's credentials to the app; set upstream.allowTrace to forward it")
	}
	return nil
}

// scrubOutgoing removes the app's credentials from the outgoing request:
// credential headers and trailers, and access_token in the query (the
// sidecar adds its own later for query placement).
func (g *requestGuard) scrubOutgoing(out *http.Request) {
	g.strip.strip(out.Header)
	g.strip.strip(out.Trailer)
	g.scrubQuery(out.URL)
}

// scrubQuery removes access_token from the app's query.
func (g *requestGuard) scrubQuery(u *url.URL) {
	if q, changed := signing.StripAccessToken(u.RawQuery); changed {
		u.RawQuery = q
		u.ForceQuery = false
	}
}

// scrubForm removes access_token from a buffered form body.
func scrubForm(r *http.Request, body []byte) []byte {
	if !isForm(r.Header.Get("Content-Type")) {
		return body
	}
	if nb, changed := signing.StripAccessToken(string(body)); changed {
		return []byte(nb)
	}
	return body
}

// scrubResponse drops sidecar-only headers from an upstream response. Trailers
// are scrubbed again when the body closes: the transport fills them in only
// after the body has been read, and ReverseProxy forwards them after that.
func scrubResponse(resp *http.Response) error {
	sidecarOnly.strip(resp.Header)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil // the body is the upgraded connection; it has no trailers
	}
	sidecarOnly.strip(resp.Trailer)
	resp.Body = &trailerScrubber{ReadCloser: resp.Body, resp: resp}
	return nil
}

type trailerScrubber struct {
	io.ReadCloser
	resp *http.Response
}

func (t *trailerScrubber) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err != nil {
		sidecarOnly.strip(t.resp.Trailer)
	}
	return n, err
}

func (t *trailerScrubber) Close() error {
	err := t.ReadCloser.Close()
	sidecarOnly.strip(t.resp.Trailer)
	return err
}
