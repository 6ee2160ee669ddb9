package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// The sidecar forwards a request itself rather than through
// httputil.ReverseProxy: it builds the outbound request once, in memory it
// allocates once per request, copies only the fields that may cross, and
// streams the answer back with pooled buffers. ReverseProxy deep-clones the
// request and its header, then deletes hop-by-hop fields from the clone one
// canonicalised name at a time, appends every response value into the
// writer, parses Content-Type to pick a flush policy and wraps the body for
// trailer scrubbing; that was most of the sidecar's own time per request.
// What crosses and what does not is ReverseProxy's (Go 1.26), field for
// field; proxy_test.go pins it. Requests that ask for a protocol upgrade
// still go through ReverseProxy, whose hijack-and-splice is not duplicated.

// exchange is everything the sidecar keeps for one request, in one
// allocation: the writer wrapper, the pipeline state and the outbound
// request with its URL and body wrapper. It is not pooled: the transport's
// goroutines may still read the outbound request after the handler returns.
type exchange struct {
	rec   statusRecorder
	st    reqState
	out   http.Request
	url   url.URL
	body  noCloseBody
	trace clientTrace
}

// hopHeaders are the fields that describe one connection (RFC 9110 §7.6.1,
// RFC 2616 §13.5.1), in canonical form; ReverseProxy's list.
var hopHeaders = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forwardingHeaders are the app's own claims about the client; ReverseProxy
// in Rewrite mode drops them and so does the sidecar (it adds none).
var forwardingHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// Shared, never modified, field values.
var (
	teTrailers = []string{"trailers"}
	// noUserAgent keeps the transport from sending Go's own User-Agent when
	// the app sent none.
	noUserAgent = []string{""}
)

// hasToken reports whether a comma-separated field holds token, compared
// case-insensitively (httpguts.HeaderValuesContainsToken). With the
// Connection field it says whether a field name is listed there (RFC 9110
// §7.6.1), comparing names as Header.Del would canonicalise them.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// upgradeType is the protocol the app asks to switch to, or "".
func upgradeType(h http.Header) string {
	if !hasToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// outbound fills ex.out from the app's request r: the same method, body and
// framing, the upstream's URL, and the header fields that may cross. The
// field values are shared with r, never copied: nothing on the request path
// modifies a value in place (fields are replaced with Set).
func (b *binding) outbound(ex *exchange, r *http.Request) *http.Request {
	out := &ex.out
	*out = *r // the app's context, method, framing and body
	out.RequestURI = ""
	out.Close = false
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	if r.ContentLength == 0 {
		out.Body = nil // net/http retries a request with no body on a dead keep-alive connection
	} else if r.Body != nil {
		ex.body.rc = r.Body
		out.Body = &ex.body
	}

	out.Header = make(http.Header, len(r.Header)+2)
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if slices.Contains(hopHeaders[:], k) || hasToken(conn, k) || b.guard.strip.has(k) || slices.Contains(forwardingHeaders[:], k) {
			continue
		}
		out.Header[k] = vv
	}
	if hasToken(r.Header["Te"], "trailers") {
		out.Header["Te"] = teTrailers // the one transfer coding a proxy passes on
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = noUserAgent
	}
	if r.Trailer != nil {
		out.Trailer = r.Trailer.Clone()
		b.guard.strip.strip(out.Trailer)
	}

	ex.url = *r.URL
	out.URL = &ex.url
	ex.url.RawQuery = cleanQueryParams(ex.url.RawQuery)
	b.guard.scrubQuery(&ex.url)
	pr := httputil.ProxyRequest{In: r, Out: out}
	pr.SetURL(b.upstream)
	return out
}

// maxQueryParams is ReverseProxy's (and net/url's) default limit.
const maxQueryParams = 10000

// cleanQueryParams drops query parameters Go's own parser would not read
// (a ';' separator, a bad escape), re-encoding only then; ReverseProxy's,
// so a partner that splits on ';' never sees a parameter the sidecar did
// not. url.ParseQuery itself keeps only the first maxQueryParams.
func cleanQueryParams(s string) string {
	reencode := func(s string) string {
		v, _ := url.ParseQuery(s)
		return v.Encode()
	}
	if strings.Count(s, "&")+1 > maxQueryParams {
		return reencode(s)
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// noCloseBody keeps the transport from closing the app's request body: a
// failed dial closes the outbound body, and closing the server's body would
// try to drain it, which hangs on a client waiting for 100 Continue. Once the
// handler returns it is closed, and a transport goroutine that outlived the
// handler reads an error instead of a body net/http has recycled.
type noCloseBody struct {
	rc     io.ReadCloser
	closed atomic.Bool
}

var errBodyClosed = errors.New("read from the app's request body after its request ended")

func (n *noCloseBody) Read(p []byte) (int, error) {
	if n.closed.Load() {
		return 0, errBodyClosed
	}
	return n.rc.Read(p)
}

func (n *noCloseBody) Close() error {
	n.closed.Store(true)
	return nil
}

// clientTrace passes the partner's 1xx interim responses (103 Early Hints)
// on to the app until the final response is in, as ReverseProxy does.
type clientTrace struct {
	w    http.ResponseWriter
	ct   httptrace.ClientTrace
	mu   sync.Mutex
	done bool
}

func (t *clientTrace) with(ctx context.Context) context.Context {
	if t.ct.Got1xxResponse == nil {
		t.ct.Got1xxResponse = t.got1xx
	}
	return httptrace.WithClientTrace(ctx, &t.ct)
}

func (t *clientTrace) got1xx(code int, header textproto.MIMEHeader) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil // the final response owns the writer now
	}
	h := t.w.Header()
	copyHeader(h, http.Header(header))
	t.w.WriteHeader(code)
	clear(h) // a 1xx does not reset the writer's fields
	return nil
}

func (t *clientTrace) finish() {
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
}

func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}

// forward sends the app's request upstream through the credential pipeline
// and streams the answer back.
func (b *binding) forward(ex *exchange, r *http.Request) {
	out := b.outbound(ex, r)
	if out.Body != nil {
		defer out.Body.Close()
	}
	ex.trace.w = &ex.rec
	ex.st.trace = &ex.trace
	resp, err := b.roundTrip(out, &ex.st)
	ex.trace.finish()
	if err != nil {
		b.proxyError(&ex.rec, r, err)
		return
	}
	b.respond(&ex.rec, resp)
}

// respond writes the upstream's response to the app: its status, the fields
// that may cross, the body (streamed, flushed at once when it is an event
// stream or has no declared length) and the trailers.
func (b *binding) respond(w *statusRecorder, resp *http.Response) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The app asked for no upgrade (those go through ReverseProxy).
		resp.Body.Close()
		b.proxyError(w, nil, fmt.Errorf("upstream %s switched protocols to %q, which the app did not ask for", b.upstream.Host, resp.Header.Get("Upgrade")))
		return
	}
	h := w.Header()
	conn := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if len(vv) == 0 || slices.Contains(hopHeaders[:], k) || hasToken(conn, k) || sidecarOnly.has(k) {
			continue
		}
		h[k] = vv
	}
	// The transport moves the Trailer field into resp.Trailer; announce
	// what is left once the sidecar's own mark is out of it.
	sidecarOnly.strip(resp.Trailer)
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	stream := resp.ContentLength == -1 || isEventStream(resp.Header["Content-Type"])
	if stream {
		w.Flush() // the head goes out before the first event
	}
	if err := b.copyBody(w, resp.Body, stream); err != nil {
		resp.Body.Close()
		// The head is out: the only way to tell the app the body is
		// incomplete is to break the connection (ReverseProxy does the
		// same); net/http recovers this panic without logging it.
		panic(http.ErrAbortHandler)
	}
	resp.Body.Close() // fills resp.Trailer
	sidecarOnly.strip(resp.Trailer)
	if len(resp.Trailer) > 0 {
		w.Flush() // chunked, so there is a place for trailers
	}
	if len(resp.Trailer) == announced {
		copyHeader(h, resp.Trailer)
		return
	}
	for k, vv := range resp.Trailer {
		for _, v := range vv {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
}

// isEventStream reports whether a Content-Type is text/event-stream,
// without mime.ParseMediaType's parameter map.
func isEventStream(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	mt, _, _ := strings.Cut(ct[0], ";")
	return strings.EqualFold(textproto.TrimString(mt), "text/event-stream")
}

// copyBody streams src to w with a pooled buffer, flushing after every
// write when flush is set. It returns the first read or write error.
func (b *binding) copyBody(w *statusRecorder, src io.Reader, flush bool) error {
	buf := proxyBuffers.get()
	defer proxyBuffers.put(buf)
	for {
		n, rerr := src.Read(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				w.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if !errors.Is(rerr, context.Canceled) {
				b.log.Info("upstream response body cut short; aborting the app's response", zap.Error(rerr))
			}
			return rerr
		}
	}
}
