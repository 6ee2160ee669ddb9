// Command stackfloor is the floor of each HTTP stack the sidecar could be
// built on: a proxy that does nothing but what bench/load.sh's nginx case
// does (forward to one upstream over keep-alive HTTP/1.1 and set a static
// Authorization header), with no credential logic, no guards, no metrics
// and no deadlines. load.sh runs it beside the sidecar and nginx, so the
// results show how much of the distance to nginx is the stack and how much
// is the sidecar.
//
// It lives in its own module so that fasthttp, which only this measurement
// uses, stays out of the project's go.mod and out of every shipped binary.
//
// With -sign-key every request also carries one RS256 signature over its
// method and URI (X-Authorization), made with crypto/rsa exactly as
// bench/signrate makes it: the floor of a TAAP sidecar on each stack.
//
// Stacks:
//
//	nethttp       net/http server, Transport.RoundTrip, pooled copy buffer:
//	              the shape of the sidecar's forwarding path (forward.go)
//	reverseproxy  net/http server, httputil.ReverseProxy with a buffer pool
//	fasthttp      fasthttp Server and HostClient (HTTP/1.1 only: no HTTP/2
//	              client, valyala/fasthttp#144)
package main

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"

	"github.com/valyala/fasthttp"
)

// token is the header value nginx's case sets with proxy_set_header.
const token = "Bearer static-benchmark-token"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "stackfloor:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("stackfloor", flag.ContinueOnError)
	stack := fs.String("stack", "", "nethttp, reverseproxy or fasthttp (required)")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := fs.String("upstream", "", "upstream base URL, http://host:port (required)")
	ready := fs.String("ready-file", "", "write the bound address here once listening")
	keyFile := fs.String("sign-key", "", "PKCS#8 PEM RSA key: sign every request's method and URI with RS256")
	if err := fs.Parse(args); err != nil {
		return err
	}
	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme != "http" || up.Host == "" {
		return fmt.Errorf("-upstream %q: want http://host:port", *upstream)
	}
	var sign signFunc
	if *keyFile != "" {
		if sign, err = rs256(*keyFile); err != nil {
			return err
		}
	}
	serve, err := newServer(*stack, up, sign)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			return fmt.Errorf("-ready-file: %w", err)
		}
	}
	return serve(ln)
}

// signFunc returns the X-Authorization value for one request; nil: none.
type signFunc func(method, uri string) (string, error)

func rs256(keyFile string) (signFunc, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("-sign-key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("-sign-key %s: no PEM block", keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("-sign-key %s: %w", keyFile, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("-sign-key %s: %T is not an RSA key", keyFile, k)
	}
	key.Precompute()
	return func(method, uri string) (string, error) {
		d := sha256.Sum256([]byte(method + " " + uri))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
		return base64.RawURLEncoding.EncodeToString(sig), err
	}, nil
}

// newServer returns the serve loop of one stack.
func newServer(stack string, up *url.URL, sign signFunc) (func(net.Listener) error, error) {
	switch stack {
	case "nethttp":
		return (&http.Server{Handler: roundTripper(up, sign)}).Serve, nil
	case "reverseproxy":
		return (&http.Server{Handler: reverseProxy(up, sign)}).Serve, nil
	case "fasthttp":
		return (&fasthttp.Server{Handler: fastProxy(up, sign)}).Serve, nil
	case "":
		return nil, errors.New("-stack is required")
	}
	return nil, fmt.Errorf("-stack %q: want nethttp, reverseproxy or fasthttp", stack)
}

func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256 // as the sidecar: one upstream connection per client connection
	return t
}

// bufferPool hands out array pointers, so Put does not allocate.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if a, ok := b.p.Get().(*[32 << 10]byte); ok {
		return a[:]
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(s []byte) { b.p.Put((*[32 << 10]byte)(s)) }

func roundTripper(up *url.URL, sign signFunc) http.Handler {
	t, bufs := transport(), &bufferPool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Scheme, u.Host = up.Scheme, up.Host
		out := (&http.Request{
			Method: r.Method, URL: &u, Host: up.Host, Header: make(http.Header, len(r.Header)+1),
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Body: r.Body, ContentLength: r.ContentLength,
		}).WithContext(r.Context())
		if r.ContentLength == 0 {
			out.Body = nil
		}
		for k, v := range r.Header {
			if k != "Connection" {
				out.Header[k] = v
			}
		}
		out.Header["Authorization"] = []string{token}
		if sign != nil {
			v, err := sign(r.Method, r.URL.RequestURI())
			if err != nil {
				http.Error(w, "sign: "+err.Error(), http.StatusInternalServerError)
				return
			}
			out.Header["X-Authorization"] = []string{v}
		}
		resp, err := t.RoundTrip(out)
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		b := bufs.Get()
		_, _ = io.CopyBuffer(w, resp.Body, b)
		bufs.Put(b)
	})
}

func reverseProxy(up *url.URL, sign signFunc) http.Handler {
	return &httputil.ReverseProxy{
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
		Transport:  transport(),
		BufferPool: &bufferPool{},
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Host = up.Host
			r.Out.Header["Authorization"] = []string{token}
			if sign != nil {
				// A failed signature leaves the header out; the upstream check
				// in the tests catches it.
				if v, err := sign(r.In.Method, r.In.URL.RequestURI()); err == nil {
					r.Out.Header["X-Authorization"] = []string{v}
				}
			}
		},
	}
}

func fastProxy(up *url.URL, sign signFunc) fasthttp.RequestHandler {
	c := &fasthttp.HostClient{Addr: up.Host, MaxConns: 256}
	return func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		req.Header.Del("Connection")
		req.Header.Set("Authorization", token)
		req.SetHost(up.Host)
		if sign != nil {
			v, err := sign(string(req.Header.Method()), string(req.RequestURI()))
			if err != nil {
				ctx.Error("sign: "+err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			req.Header.Set("X-Authorization", v)
		}
		if err := c.Do(req, &ctx.Response); err != nil {
			ctx.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
		}
	}
}
