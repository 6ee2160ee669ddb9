package sidecar

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// errorBody decodes a sidecar error and checks it is marked as one.
func errorBody(t *testing.T, resp *http.Response) (code, detail string) {
	t.Helper()
	defer resp.Body.Close()
	var body struct{ Error, Detail string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("status %d: body is not JSON: %v", resp.StatusCode, err)
	}
	if h := resp.Header.Get(ErrorHeader); h != body.Error {
		t.Fatalf("%s = %q, body error %q", ErrorHeader, h, body.Error)
	}
	return body.Error, body.Detail
}

// blocking is an upstream that answers only when the test lets it.
type blocking struct {
	url string
	// entered receives one value per request that reached the upstream.
	entered chan struct{}
	// release is what the handler waits on; it is closed at cleanup.
	release chan struct{}
}

func blockingUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, release <-chan struct{})) *blocking {
	u := &blocking{entered: make(chan struct{}, 64), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.entered <- struct{}{}
		h(w, r, u.release)
	}))
	// Cleanups run last-in first-out: release the handlers before Close
	// waits for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(u.release) })
	u.url = srv.URL
	return u
}

func recv(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestResponseHeaderTimeout: an upstream that accepts and never answers
// gets the documented 504 once upstream.responseHeaderTimeout passes, while
// a stream whose headers arrived in time runs past that deadline.
func TestResponseHeaderTimeout(t *testing.T) {
	const timeout = 7 * time.Second // distinct from every other deadline
	tok := bearerTokenEndpoint(t)
	withTimeout := func(b *config.Binding) { b.Upstream.ResponseHeaderTimeout.Duration = timeout }

	t.Run("no headers: 504 upstream_timeout", func(t *testing.T) {
		up := blockingUpstream(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) { <-release })
		timers := newManualTimers()
		sc := startSidecar(t, bearerBinding(t, tok.URL, up.url, withTimeout), WithAfterFunc(timers.after))
		type result struct {
			resp *http.Response
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := http.Get(sc.url + "/hang")
			done <- result{resp, err}
		}()
		tm := timers.next(t, timeout)
		recv(t, up.entered, "the request to reach the upstream")
		tm.fire()
		var r result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the app is still waiting after the response header deadline passed")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		code, detail := errorBody(t, r.resp)
		if r.resp.StatusCode != http.StatusGatewayTimeout || code != "upstream_timeout" {
			t.Fatalf("got %d %s, want 504 upstream_timeout", r.resp.StatusCode, code)
		}
		if !strings.Contains(detail, "upstream.responseHeaderTimeout") || !strings.Contains(detail, timeout.String()) {
			t.Errorf("detail %q does not name the setting and its value", detail)
		}
	})

	t.Run("server-sent events outlive the deadline", func(t *testing.T) {
		next := make(chan struct{})
		up := blockingUpstream(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-release:
				return
			}
			_, _ = io.WriteString(w, "data: second\n\n")
		})
		timers := newManualTimers()
		sc := startSidecar(t, bearerBinding(t, tok.URL, up.url, withTimeout), WithAfterFunc(timers.after))
		resp, err := http.Get(sc.url + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		tm := timers.next(t, timeout)
		rd := bufio.NewReader(resp.Body)
		if line, err := rd.ReadString('\n'); err != nil || line != "data: first\n" {
			t.Fatalf("first event %q, %v", line, err)
		}
		tm.fire() // the deadline passes while the stream is open
		close(next)
		_, _ = rd.ReadString('\n')
		if line, err := rd.ReadString('\n'); err != nil || line != "data: second\n" {
			t.Fatalf("second event %q, %v: the stream was cut by the response header deadline", line, err)
		}
	})
}

// rawRequest opens a connection to the sidecar and writes head and the
// start of a body whose Content-Length promises more.
func rawRequest(t *testing.T, base, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return conn
}

// formPost sends a form body of n bytes.
func formPost(url string, n int) (*http.Response, error) {
	body := "a=" + strings.Repeat("x", n-2)
	return http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body))
}

// TestBufferedBodyDeadline: a body the sidecar must buffer and that trickles
// in is cut off after bodyReadTimeout with 408, and its share of the buffer
// budget is returned.
func TestBufferedBodyDeadline(t *testing.T) {
	const readTimeout = 9 * time.Second
	tok := bearerTokenEndpoint(t)
	up, _ := inspectingUpstream(t, nil)
	cfg := bearerBinding(t, tok.URL, up.URL, func(b *config.Binding) {
		b.TokenPlacement.In = config.PlaceForm
		b.PoP = &config.PoP{Type: config.PoPNone, MaxBodyBytes: 100}
	})
	cfg.BodyReadTimeout.Duration = readTimeout
	timers := newManualTimers()
	// The budget holds exactly one maximal body, so a leaked reservation
	// would refuse the follow-up request.
	sc := startSidecar(t, cfg, WithAfterFunc(timers.after), WithMemoryLimit(100*bodyBudgetShare))

	conn := rawRequest(t, sc.url, "POST /f HTTP/1.1\r\nHost: app\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=1")
	timers.next(t, readTimeout).fire()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // liveness guard only
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to a trickled body after its deadline: %v", err)
	}
	code, detail := errorBody(t, resp)
	if resp.StatusCode != http.StatusRequestTimeout || code != "body_timeout" || !strings.Contains(detail, "bodyReadTimeout (9s)") {
		t.Fatalf("got %d %s %q, want 408 body_timeout naming bodyReadTimeout", resp.StatusCode, code, detail)
	}

	resp, err = formPost(sc.url+"/f", 100)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a prompt body after the timed-out one: status %d, want 200 (budget not returned?)", resp.StatusCode)
	}
}

// TestBodyBudget: bodies held for signing across concurrent requests never
// exceed the budget; the request that would is refused with 503 and
// Retry-After, and the budget is whole again once requests finish.
func TestBodyBudget(t *testing.T) {
	tok := bearerTokenEndpoint(t)
	up := blockingUpstream(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) { <-release })
	cfg := bearerBinding(t, tok.URL, up.url, func(b *config.Binding) {
		b.TokenPlacement.In = config.PlaceForm
		b.PoP = &config.PoP{Type: config.PoPNone, MaxBodyBytes: 100}
	})
	const budget = 150
	sc := startSidecar(t, cfg, WithMemoryLimit(budget*bodyBudgetShare))
	post := func(n int) <-chan int {
		status := make(chan int, 1)
		go func() {
			resp, err := formPost(sc.url+"/f", n)
			if err != nil {
				status <- 0
				return
			}
			resp.Body.Close()
			status <- resp.StatusCode
		}()
		return status
	}

	first := post(100)
	recv(t, up.entered, "the first body to be buffered and forwarded")
	cases := []struct {
		name string
		send func() (*http.Response, error)
	}{
		{"declared length over what is left", func() (*http.Response, error) { return formPost(sc.url+"/f", 60) }},
		{"chunked body reserves the limit", func() (*http.Response, error) {
			req, _ := http.NewRequest("POST", sc.url+"/f", chunkedBody{strings.NewReader("a=1")})
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return http.DefaultClient.Do(req)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.send()
			if err != nil {
				t.Fatal(err)
			}
			code, detail := errorBody(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || code != "body_buffer_full" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d %s (Retry-After %q), want 503 body_buffer_full with Retry-After", resp.StatusCode, code, resp.Header.Get("Retry-After"))
			}
			if !strings.Contains(detail, fmt.Sprint(budget)) {
				t.Errorf("detail %q does not state the budget", detail)
			}
		})
	}
	// A body that fits next to the first is admitted while the first is
	// still held.
	second := post(50)
	recv(t, up.entered, "a body within the remaining budget to be forwarded")
	up.release <- struct{}{}
	up.release <- struct{}{}
	if a, b := <-first, <-second; a != 200 || b != 200 {
		t.Fatalf("held requests ended with %d and %d, want 200", a, b)
	}
	// Both reservations were returned: a maximal body fits again.
	last := post(100)
	recv(t, up.entered, "a maximal body after the others finished")
	up.release <- struct{}{}
	if code := <-last; code != 200 {
		t.Fatalf("after every request finished: status %d, want 200 (budget leaked)", code)
	}
}

// TestMaxBodyOverBudgetRefused: a binding whose single body could never fit
// the budget is a start-up error naming the field, not a stream of 503s.
func TestMaxBodyOverBudgetRefused(t *testing.T) {
	cfg := bearerBinding(t, "https://auth.example/t", "https://api.example", func(b *config.Binding) {
		b.PoP = &config.PoP{Type: config.PoPNone, MaxBodyBytes: 32 << 20}
	})
	_, err := newUnstarted(t, cfg, zap.NewNop(), WithMemoryLimit(64<<20))
	if err == nil || !strings.Contains(err.Error(), "pop.maxBodyBytes 33554432 exceeds the 16777216 bytes") {
		t.Fatalf("New: %v", err)
	}
}
