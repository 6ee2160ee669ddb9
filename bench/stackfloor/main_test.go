package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestStacksForwardLikeNginx checks that every stack does what the nginx
// case does, so the floors compare like for like: method, path, query and
// body reach the upstream, Authorization is replaced by the static token,
// and status, headers and body come back.
func TestStacksForwardLikeNginx(t *testing.T) {
	type seen struct{ method, uri, auth, body, sig string }
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), string(b), r.Header.Get("X-Authorization")}
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)

	sign, err := rs256(testKey)
	if err != nil {
		t.Fatal(err)
	}
	wantSig, _ := sign("POST", "/v1/things?limit=2") // PKCS#1 v1.5 is deterministic
	for _, tc := range []struct {
		stack string
		sign  signFunc
	}{
		{"nethttp", nil}, {"reverseproxy", nil}, {"fasthttp", nil},
		{"nethttp", sign}, {"reverseproxy", sign}, {"fasthttp", sign},
	} {
		stack := tc.stack
		name := stack
		if tc.sign != nil {
			name += "+sign"
		}
		t.Run(name, func(t *testing.T) {
			serve, err := newServer(stack, u, tc.sign)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() { _ = serve(ln) }()

			req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/v1/things?limit=2", strings.NewReader("hello"))
			req.Header.Set("Authorization", "Bearer from-the-app")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated || string(body) != `{"ok":true}` || resp.Header.Get("X-Upstream") != "yes" {
				t.Errorf("answer: %d %q X-Upstream=%q", resp.StatusCode, body, resp.Header.Get("X-Upstream"))
			}
			want := seen{"POST", "/v1/things?limit=2", token, "hello", ""}
			if tc.sign != nil {
				want.sig = wantSig
			}
			if s := <-got; s != want {
				t.Errorf("upstream saw %+v, want %+v", s, want)
			}
		})
	}
}

var testKey = filepath.Join("..", "..", "internal", "pop", "testdata", "rsa_pkcs8.pem")

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-upstream", "http://127.0.0.1:1"}, "-stack is required"},
		{[]string{"-stack", "nginx", "-upstream", "http://127.0.0.1:1"}, `-stack "nginx"`},
		{[]string{"-stack", "nethttp", "-upstream", "https://x"}, `-upstream "https://x"`},
		{[]string{"-stack", "nethttp"}, `-upstream ""`},
		{[]string{"-stack", "nethttp", "-upstream", "http://127.0.0.1:1", "-sign-key", "nope.pem"}, "-sign-key: open nope.pem"},
		{[]string{"-stack", "nethttp", "-upstream", "http://127.0.0.1:1", "-sign-key", "main.go"}, "-sign-key main.go: no PEM block"},
	} {
		if err := run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
