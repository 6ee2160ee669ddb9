package sidecar

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// The tests in this file pin what the sidecar does as an HTTP proxy, apart
// from credentials: message framing, hop-by-hop fields, streaming in both
// directions, interim and upgrade responses, TLS to the partner. They hold
// whatever code forwards the request.

// wireRequest is a request as an upstream read it off the wire, with the
// framing fields the sidecar sent rather than what a Go server makes of them.
type wireRequest struct {
	line   string
	header textproto.MIMEHeader
	body   string
}

// wireUpstream is an HTTP/1.1 upstream that parses requests itself, so a test
// sees both framing headers if the sidecar ever sent both. It answers every
// request with 200 "ok" and keeps the connection open.
func wireUpstream(t *testing.T) (string, <-chan wireRequest) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan wireRequest, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
			go func() {
				defer conn.Close()
				tp := textproto.NewReader(bufio.NewReader(conn))
				for {
					line, err := tp.ReadLine()
					if err != nil {
						return
					}
					h, err := tp.ReadMIMEHeader()
					if err != nil {
						return
					}
					var body []byte
					switch {
					case h.Get("Transfer-Encoding") == "chunked":
						if body, err = io.ReadAll(httputil.NewChunkedReader(tp.R)); err != nil {
							return
						}
						if _, err := tp.ReadMIMEHeader(); err != nil { // trailer section
							return
						}
					case h.Get("Content-Length") != "":
						n, err := strconv.Atoi(h.Get("Content-Length"))
						if err != nil {
							return
						}
						body = make([]byte, n)
						if _, err := io.ReadFull(tp.R, body); err != nil {
							return
						}
					}
					got <- wireRequest{line: line, header: h, body: string(body)}
					if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), got
}

// TestRequestFraming: the sidecar re-frames every request it forwards, so
// the partner reads the same requests the sidecar read, never one hidden in
// another's body; requests whose framing is ambiguous are refused and never
// forwarded.
func TestRequestFraming(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	const head = "Host: app\r\n"
	cases := []struct {
		name       string
		raw        string
		wantStatus []int // the sidecar's answers, in order
		want       []wireRequest
	}{
		{
			name: "Content-Length and chunked: chunked wins, one framing goes out",
			raw:  "POST /a HTTP/1.1\r\n" + head + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			// Go reads the chunked body and drops the Content-Length.
			wantStatus: []int{200},
			want:       []wireRequest{{line: "POST /a HTTP/1.1", body: "hello"}},
		},
		{
			name:       "a request after the body is a request of its own",
			raw:        "POST /a HTTP/1.1\r\n" + head + "Content-Length: 5\r\n\r\nhelloGET /second HTTP/1.1\r\n" + head + "\r\n",
			wantStatus: []int{200, 200},
			want:       []wireRequest{{line: "POST /a HTTP/1.1", body: "hello"}, {line: "GET /second HTTP/1.1"}},
		},
		{
			name:       "two different Content-Lengths",
			raw:        "POST /a HTTP/1.1\r\n" + head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
			wantStatus: []int{400},
		},
		{
			name:       "a transfer coding other than chunked",
			raw:        "POST /a HTTP/1.1\r\n" + head + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			wantStatus: []int{501},
		},
		{
			name:       "whitespace before the colon",
			raw:        "POST /a HTTP/1.1\r\n" + head + "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello",
			wantStatus: []int{400},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up, got := wireUpstream(t)
			sc := startSidecar(t, bearerBinding(t, tok.URL, up, nil))
			conn := rawRequest(t, sc.url, tc.raw)
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // liveness guard only
			br := bufio.NewReader(conn)
			for i, want := range tc.wantStatus {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("answer %d: %v", i, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("answer %d: status %d, want %d", i, resp.StatusCode, want)
				}
			}
			for i, want := range tc.want {
				var r wireRequest
				select {
				case r = <-got:
				case <-time.After(20 * time.Second):
					t.Fatalf("request %d never reached the upstream", i)
				}
				if r.line != want.line || r.body != want.body {
					t.Errorf("request %d: upstream read %q with body %q, want %q with %q", i, r.line, r.body, want.line, want.body)
				}
				cl, te := r.header["Content-Length"], r.header["Transfer-Encoding"]
				if len(cl) > 1 || (len(cl) > 0 && len(te) > 0) || (len(te) > 0 && (len(te) != 1 || te[0] != "chunked")) {
					t.Errorf("request %d went out with Content-Length %q and Transfer-Encoding %q", i, cl, te)
				}
				if r.header.Get("Authorization") != "Bearer AT-1" {
					t.Errorf("request %d: Authorization %q", i, r.header.Get("Authorization"))
				}
			}
			select {
			case r := <-got:
				t.Fatalf("the upstream read a request the sidecar did not answer for: %q", r.line)
			default:
			}
		})
	}
}

// TestHopByHopFields: fields that belong to one connection (RFC 9110 §7.6.1),
// and the app's own forwarding fields, do not cross the sidecar in either
// direction; everything else does, unparsable query parameters excepted.
func TestHopByHopFields(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	up, last := inspectingUpstream(t, func(w http.ResponseWriter) {
		h := w.Header()
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", `Basic realm="p"`)
		h.Set("Proxy-Connection", "keep-alive")
		h.Set("X-End-To-End", "kept")
		h.Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	})
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))

	req, err := http.NewRequest("GET", sc.url+"/x?a=1&b=2;c=3", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"Connection":                "X-Req-Hop, keep-alive",
		"X-Req-Hop":                 "1",
		"Keep-Alive":                "timeout=5",
		"Proxy-Connection":          "keep-alive",
		"Te":                        "trailers, deflate",
		"Upgrade-Insecure-Requests": "1",
		"Forwarded":                 "for=192.0.2.1",
		"X-Forwarded-For":           "192.0.2.1",
		"X-Forwarded-Host":          "app.example",
		"X-Forwarded-Proto":         "https",
		"X-End-To-End":              "kept",
	} {
		req.Header.Set(k, v)
	}
	// http.Client would send its own User-Agent; the sidecar must not add
	// one when the app sent none.
	req.Header["User-Agent"] = nil
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("status %d %q", resp.StatusCode, b)
	}
	s := last.Load()
	for _, k := range []string{"Connection", "X-Req-Hop", "Keep-Alive", "Proxy-Connection", "Forwarded",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "User-Agent"} {
		if v, ok := s.header[k]; ok {
			t.Errorf("request field %s: %q reached the upstream", k, v)
		}
	}
	if got := s.header.Get("Te"); got != "trailers" {
		t.Errorf("Te = %q, want trailers (the only coding a proxy may pass on)", got)
	}
	if s.header.Get("X-End-To-End") != "kept" || s.header.Get("Upgrade-Insecure-Requests") != "1" {
		t.Errorf("end-to-end request fields were dropped: %v", s.header)
	}
	if got := s.rawQuery; got != "a=1" {
		t.Errorf("upstream query %q, want a=1 (the parameter with a semicolon is not parsable)", got)
	}
	for _, k := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("response field %s: %q reached the app", k, v)
		}
	}
	if resp.Header.Get("X-End-To-End") != "kept" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("end-to-end response fields were dropped: %v", resp.Header)
	}
}

// TestStreamingUpload: a body the sidecar does not sign streams to the
// partner as the app sends it, whatever its size, and arrives intact.
func TestStreamingUpload(t *testing.T) {
	const size = 8 << 20
	tok := bearerTokenEndpoint(t)
	firstPart := make(chan struct{})
	type result struct {
		n   int64
		sum [sha256.Size]byte
	}
	results := make(chan result, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.CopyN(h, r.Body, 1<<20); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		close(firstPart)
		n, _ := io.Copy(h, r.Body)
		var res result
		res.n = n + 1<<20
		h.Sum(res.sum[:0])
		results <- res
		_, _ = io.WriteString(w, "stored")
	}))
	t.Cleanup(up.Close)
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))

	data := make([]byte, size)
	_, _ = rand.Read(data)
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(data[:1<<20]); err != nil {
			return
		}
		// The rest is only sent once the upstream has read the first MiB:
		// a sidecar that buffered the whole body would wait here forever.
		select {
		case <-firstPart:
		case <-time.After(20 * time.Second):
			pw.CloseWithError(errors.New("the upstream never saw the first MiB: the body was not streamed"))
			return
		}
		_, _ = pw.Write(data[1<<20:])
		pw.Close()
	}()
	resp, err := http.Post(sc.url+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "stored" {
		t.Fatalf("status %d %q", resp.StatusCode, b)
	}
	res := <-results
	if res.n != size || res.sum != sha256.Sum256(data) {
		t.Fatalf("upstream got %d bytes (sha256 match %v), want %d identical bytes", res.n, res.sum == sha256.Sum256(data), size)
	}
}

// TestExpectContinue: an app that waits for 100 Continue before sending
// its body gets it, and the body reaches the partner, which also sees the
// expectation.
func TestExpectContinue(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	up, last := inspectingUpstream(t, nil)
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
	// The client holds the body back until a 100 arrives; its timeout is a
	// liveness guard, not a measurement.
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}, Timeout: time.Minute}
	req, err := http.NewRequest("PUT", sc.url+"/blob", chunkedBody{strings.NewReader("payload")})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Expect", "100-continue")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := last.Load()
	if resp.StatusCode != 200 || s == nil || s.body != "payload" || s.header.Get("Expect") != "100-continue" {
		t.Fatalf("status %d; upstream saw %+v", resp.StatusCode, s)
	}
}

// TestResponseStreamEnds: a response body the partner cuts short reaches the
// app as an error, never as a complete response; trailers pass through.
func TestResponseStreamEnds(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	cases := []struct {
		name      string
		upstream  func(w http.ResponseWriter, r *http.Request)
		wantErr   bool
		wantBody  string
		wantTrail string
	}{
		{name: "Content-Length not reached", upstream: cutShort("100"), wantErr: true},
		{name: "chunked body without its last chunk", upstream: cutShort(""), wantErr: true},
		{
			name: "complete with a trailer",
			upstream: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Checksum")
				_, _ = io.WriteString(w, "whole")
				w.Header().Set("X-Checksum", "abc")
			},
			wantBody: "whole", wantTrail: "abc",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(tc.upstream))
			t.Cleanup(up.Close)
			sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
			resp, err := http.Get(sc.url + "/x")
			if err != nil {
				if tc.wantErr {
					return // cut before the head was flushed: also not a complete response
				}
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.wantErr {
				if err == nil {
					t.Fatalf("the app read %q as a complete response", b)
				}
				return
			}
			if err != nil || string(b) != tc.wantBody || resp.Trailer.Get("X-Checksum") != tc.wantTrail {
				t.Fatalf("body %q (%v), trailer %q; want %q and trailer %q", b, err, resp.Trailer.Get("X-Checksum"), tc.wantBody, tc.wantTrail)
			}
		})
	}
}

// cutShort is an upstream that sends part of a body, with the given
// Content-Length (none: chunked), and drops the connection.
func cutShort(contentLength string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentLength != "" {
			w.Header().Set("Content-Length", contentLength)
		}
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}
}

// TestInterimResponses: 1xx responses other than 101 reach the app before
// the final one, and their fields do not leak into it.
func TestInterimResponses(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "final")
	}))
	t.Cleanup(up.Close)
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))
	var interim []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		interim = append(interim, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", sc.url+"/page", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "final" {
		t.Fatalf("status %d %q", resp.StatusCode, b)
	}
	if len(interim) != 1 || interim[0] != "103 </style.css>; rel=preload" {
		t.Fatalf("interim responses %q, want the 103 with its Link", interim)
	}
	if resp.Header.Get("Link") != "" {
		t.Errorf("the 103's Link leaked into the final response")
	}
}

// TestProtocolUpgrade: an upgrade the app asks for (WebSocket) is forwarded
// with the sidecar's credentials, and the upgraded connection carries bytes
// both ways; a switch the app did not ask for is refused.
func TestProtocolUpgrade(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer AT-1" {
			http.Error(w, "no token", 401)
			return
		}
		if r.URL.Path == "/unasked" || r.Header.Get("Upgrade") == "websocket" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			line, _ := brw.ReadString('\n')
			_, _ = io.WriteString(conn, "echo: "+line)
			return
		}
		http.Error(w, "want an upgrade", 400)
	}))
	t.Cleanup(up.Close)
	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, nil))

	t.Run("asked for", func(t *testing.T) {
		conn := rawRequest(t, sc.url, "GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // liveness guard only
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		if _, err := io.WriteString(conn, "ping\n"); err != nil {
			t.Fatal(err)
		}
		if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
			t.Fatalf("over the upgraded connection: %q, %v", line, err)
		}
	})
	t.Run("not asked for", func(t *testing.T) {
		conn := rawRequest(t, sc.url, "GET /unasked HTTP/1.1\r\nHost: app\r\n\r\n")
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // liveness guard only
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			t.Fatal("the sidecar passed on a protocol switch the app did not ask for")
		}
		code, _ := errorBody(t, resp)
		if resp.StatusCode != http.StatusBadGateway || code != "upstream_unreachable" {
			t.Fatalf("got %d %s, want 502 upstream_unreachable", resp.StatusCode, code)
		}
	})
}

// TestUpstreamTLS: TLS to the partner with its own CA, HTTP/2 when the
// partner offers it, and the binding's client certificate when it asks.
func TestUpstreamTLS(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	ca := testutil.NewCA(t, "partner test CA")
	server, client := ca.Server(t, "127.0.0.1"), ca.Client(t, "app-client")
	cases := []struct {
		name      string
		http2     bool
		mutual    bool
		wantProto string
	}{
		{name: "HTTP/1.1", wantProto: "HTTP/1.1"},
		{name: "HTTP/2", http2: true, wantProto: "HTTP/2.0"},
		{name: "HTTP/2 with a client certificate", http2: true, mutual: true, wantProto: "HTTP/2.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type seenTLS struct{ proto, auth, peer string }
			seenc := make(chan seenTLS, 4)
			up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := seenTLS{proto: r.Proto, auth: r.Header.Get("Authorization")}
				if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
					s.peer = r.TLS.PeerCertificates[0].Subject.CommonName
				}
				seenc <- s
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "data: ok\n\n")
			}))
			up.EnableHTTP2 = tc.http2
			up.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLS}, MinVersion: tls.VersionTLS12}
			if tc.mutual {
				up.TLS.ClientAuth, up.TLS.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool
			}
			up.StartTLS()
			t.Cleanup(up.Close)
			dir := writeFiles(t, map[string]string{"tls.crt": string(client.CertPEM), "tls.key": string(client.KeyPEM)})
			sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, func(b *config.Binding) {
				b.Upstream.CAFile = ca.WritePEM(t, dir, "ca.pem")
				if tc.mutual {
					b.ClientAuth = config.ClientAuth{Method: config.AuthTLSClientAuth, ClientIDFile: b.ClientAuth.ClientIDFile,
						TLSCertFile: filepath.Join(dir, "tls.crt"), TLSKeyFile: filepath.Join(dir, "tls.key")}
				}
			}))
			resp, body := get(t, sc.url+"/events", nil)
			if resp.StatusCode != 200 || body != "data: ok\n\n" {
				t.Fatalf("status %d %q", resp.StatusCode, body)
			}
			s := <-seenc
			if s.proto != tc.wantProto || s.auth != "Bearer AT-1" {
				t.Errorf("upstream saw %s with Authorization %q, want %s with the token", s.proto, s.auth, tc.wantProto)
			}
			if tc.mutual && s.peer != "app-client" {
				t.Errorf("client certificate %q, want app-client", s.peer)
			}
		})
	}
}
