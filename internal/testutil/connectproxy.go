package testutil

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// ProxyOptions configures a ConnectProxy.
type ProxyOptions struct {
	// Username and Password, when Username is set, are the Basic
	// credentials every request must carry in Proxy-Authorization.
	Username, Password string
	// Resolve maps a target host name to the address the proxy dials for
	// it (for example "api.test" -> "127.0.0.1"). Only the proxy knows
	// these names, so a client that reaches such a host went through it.
	Resolve map[string]string
}

// ConnectProxy is a strict HTTP forward proxy for tests. It tunnels CONNECT
// requests in authority form (RFC 9110 §9.3.6) and forwards requests in
// absolute form (RFC 9112 §3.2.2); a request in origin form is not meant
// for a proxy and gets 400. With credentials configured, a request without
// the right Proxy-Authorization gets 407 with a Proxy-Authenticate
// challenge (RFC 9110 §11.7.1) and goes nowhere. It records what it tunnelled
// and forwarded.
type ConnectProxy struct {
	// URL is http://127.0.0.1:port; Host is 127.0.0.1:port.
	URL, Host string

	opts ProxyOptions
	fwd  *httputil.ReverseProxy

	mu        sync.Mutex
	tunnels   []string // host:port of every tunnel opened
	forwarded []string // absolute URLs of forwarded requests
	refused   int      // 407 answers
	conns     map[net.Conn]bool
}

// NewConnectProxy starts a proxy that stops at the end of the test.
func NewConnectProxy(t testing.TB, o ProxyOptions) *ConnectProxy {
	t.Helper()
	p := &ConnectProxy{opts: o, conns: map[net.Conn]bool{}}
	dialer := &net.Dialer{}
	p.fwd = &httputil.ReverseProxy{
		// The request is already absolute; ReverseProxy strips the
		// hop-by-hop headers, Proxy-Authorization among them.
		Rewrite: func(pr *httputil.ProxyRequest) { pr.Out.URL = pr.In.URL; pr.Out.Host = pr.In.Host },
		Transport: &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, p.resolve(addr))
		}},
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for c := range p.conns {
			c.Close()
		}
	})
	p.URL = srv.URL
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func (p *ConnectProxy) resolve(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, ok := p.opts.Resolve[host]; ok {
		return net.JoinHostPort(ip, port)
	}
	return addr
}

// Tunnels returns host:port of each tunnel opened, in order.
func (p *ConnectProxy) Tunnels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tunnels...)
}

// Forwarded returns the absolute URLs of the forwarded requests, in order.
func (p *ConnectProxy) Forwarded() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.forwarded...)
}

// Refused counts the 407 answers.
func (p *ConnectProxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func (p *ConnectProxy) authorized(w http.ResponseWriter, r *http.Request) bool {
	if p.opts.Username == "" {
		return true
	}
	want := base64.StdEncoding.EncodeToString([]byte(p.opts.Username + ":" + p.opts.Password))
	scheme, cred, _ := strings.Cut(r.Header.Get("Proxy-Authorization"), " ")
	if strings.EqualFold(scheme, "Basic") && cred == want {
		return true
	}
	p.mu.Lock()
	p.refused++
	p.mu.Unlock()
	w.Header().Set("Proxy-Authenticate", `Basic realm="test-proxy"`)
	http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
	return false
}

func (p *ConnectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		http.Error(w, "a proxy takes CONNECT host:port or an absolute http:// URL, got "+r.RequestURI, http.StatusBadRequest)
		return
	}
	if !p.authorized(w, r) {
		return
	}
	p.mu.Lock()
	p.forwarded = append(p.forwarded, r.URL.String())
	p.mu.Unlock()
	p.fwd.ServeHTTP(w, r)
}

func (p *ConnectProxy) connect(w http.ResponseWriter, r *http.Request) {
	if host, port, err := net.SplitHostPort(r.RequestURI); err != nil || host == "" || port == "" {
		http.Error(w, "CONNECT needs host:port, got "+r.RequestURI, http.StatusBadRequest)
		return
	}
	if !p.authorized(w, r) {
		return
	}
	target, err := net.Dial("tcp", p.resolve(r.RequestURI))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		target.Close()
		return
	}
	p.mu.Lock()
	p.tunnels = append(p.tunnels, r.RequestURI)
	p.conns[conn], p.conns[target] = true, true
	p.mu.Unlock()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		target.Close()
		return
	}
	// buf.Reader may already hold bytes the client sent after CONNECT.
	go pipe(target, buf.Reader)
	go pipe(conn, target)
}

// pipe copies until either side ends, then closes both directions' writer.
func pipe(dst net.Conn, src io.Reader) {
	_, _ = io.Copy(dst, src)
	if c, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = c.CloseWrite()
	} else {
		dst.Close()
	}
}

// ProxyURLWithUser is u with userinfo, for HTTPS_PROXY-style settings.
func ProxyURLWithUser(u, user, pass string) string {
	x, _ := url.Parse(u)
	x.User = url.UserPassword(user, pass)
	return x.String()
}
