package consent

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// callbackPath is the redirect URI's path. RFC 8252 §7.3 lets the port vary,
// not the path, so it is fixed: register http://127.0.0.1/callback.
const callbackPath = "/callback"

// receiver is the RFC 8252 §7.3 loopback redirect: an HTTP server on
// 127.0.0.1 that takes exactly one authorization response. check decides
// whether a response is the one this run asked for; the first response to
// /callback ends the wait either way, because a response that fails the
// check (a wrong state) is either a stale browser tab or a forged redirect,
// and neither should be waited out.
type receiver struct {
	URL   string // the redirect URI
	srv   *http.Server
	ln    net.Listener
	check func(url.Values) (url.Values, error)

	once sync.Once
	done chan callbackResult
}

type callbackResult struct {
	params url.Values
	err    error
}

// listen binds 127.0.0.1 (never a wildcard address: the response carries
// the code) on port, 0 for one the kernel picks.
func listen(port int, check func(url.Values) (url.Values, error)) (*receiver, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("--redirect-port %d: %w", port, err)
	}
	r := &receiver{
		URL:   "http://" + ln.Addr().String() + callbackPath,
		ln:    ln,
		check: check,
		done:  make(chan callbackResult, 1),
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != callbackPath {
		http.NotFound(w, req) // the browser's favicon.ico, for one
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page must not leak the code to anything it could load.
	w.Header().Set("Referrer-Policy", "no-referrer")
	if req.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = fmt.Fprint(w, page("The authorization response must arrive as a GET redirect."))
		return
	}
	first := false
	r.once.Do(func() {
		first = true
		params, err := r.check(req.URL.Query())
		r.done <- callbackResult{params: params, err: err}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprint(w, page("Authorization failed: "+err.Error()+". Return to the terminal."))
			return
		}
		_, _ = fmt.Fprint(w, page("Authorization received. You can close this window and return to the terminal."))
	})
	if !first {
		w.WriteHeader(http.StatusConflict)
		_, _ = fmt.Fprint(w, page("This consent run already received its authorization response."))
	}
}

func page(msg string) string {
	return "<!doctype html><html><head><title>injector consent</title></head><body><p>" + html.EscapeString(msg) + "</p></body></html>\n"
}

// wait returns the checked response, or ErrTimeout when ctx ends first.
func (r *receiver) wait(ctx context.Context, limit time.Duration) (url.Values, error) {
	select {
	case res := <-r.done:
		return res.params, res.err
	case <-ctx.Done():
		return nil, waitError(ctx, "no authorization response reached "+r.URL, limit)
	}
}

// close stops the listener; the browser already has its page.
func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// waitError names what did not happen: a timeout is the person's business
// (they did not finish in the browser), a cancellation is Ctrl-C.
func waitError(ctx context.Context, what string, limit time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s within --timeout %s", ErrTimeout, what, limit)
	}
	return fmt.Errorf("%s: %w", what, ctx.Err())
}
