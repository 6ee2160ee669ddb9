package consent

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

func TestChooseFlow(t *testing.T) {
	rt := config.Grant{Type: config.GrantRefreshToken, RefreshToken: &config.RefreshGrant{File: "/x"}}
	o1 := &config.OAuth1{SignatureMethod: config.OAuth1HMACSHA1, TokenFile: "/t", TokenSecretFile: "/s"}
	tests := []struct {
		name    string
		b       config.Binding
		want    string
		flow    string
		wantErr string
	}{
		{name: "refresh token", b: config.Binding{Grant: rt}, want: FlowOAuth2},
		{name: "three-legged oauth1", b: config.Binding{Grant: config.Grant{Type: config.GrantNone}, OAuth1: o1}, want: FlowOAuth1},
		{name: "two-legged oauth1", b: config.Binding{Name: "b", Grant: config.Grant{Type: config.GrantNone}, OAuth1: &config.OAuth1{}}, wantErr: `binding "b" needs no consent`},
		{name: "client credentials", b: config.Binding{Name: "b", Grant: config.Grant{Type: config.GrantClientCredentials}}, wantErr: `grant.type is "client_credentials"`},
		{name: "both", b: config.Binding{Name: "b", Grant: rt, OAuth1: o1}, wantErr: "choose one with --flow oauth2 or --flow oauth1"},
		{name: "both, chosen", b: config.Binding{Grant: rt, OAuth1: o1}, flow: FlowOAuth1, want: FlowOAuth1},
		{name: "flow the binding lacks", b: config.Binding{Name: "b", Grant: rt}, flow: FlowOAuth1, wantErr: `--flow oauth1: binding "b" does not use it`},
		{name: "unknown flow", b: config.Binding{Grant: rt}, flow: "saml", wantErr: `--flow "saml": must be oauth2 or oauth1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseFlow(&tt.b, tt.flow)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestCheckCodeResponse: RFC 6749 §4.1.2 and §4.1.2.1 responses.
func TestCheckCodeResponse(t *testing.T) {
	const state = "s-123"
	tests := []struct {
		name    string
		q       string
		wantIs  error
		wantErr string
	}{
		{name: "code", q: "code=abc&state=s-123&iss=x"},
		{name: "wrong state", q: "code=abc&state=s-124", wantIs: ErrStateMismatch, wantErr: "state this run did not send"},
		{name: "no state", q: "code=abc", wantIs: ErrStateMismatch, wantErr: "carries no state"},
		{name: "denied with a foreign state is a state problem", q: "error=access_denied&state=other", wantIs: ErrStateMismatch},
		{name: "denied", q: "error=access_denied&error_description=End-User+aborted%0Ainteraction&state=s-123", wantIs: ErrDenied,
			wantErr: "consent denied: the authorization server answered error=access_denied: End-User aborted interaction"},
		{name: "other error", q: "error=invalid_scope&state=s-123", wantErr: "the authorization server refused the request: error=invalid_scope"},
		{name: "neither", q: "state=s-123", wantErr: "neither a code nor an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.q)
			got, err := checkCodeResponse(q, state)
			if tt.wantIs == nil && tt.wantErr == "" {
				if err != nil || got.Get("code") != "abc" {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			if err == nil || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.wantIs, tt.wantErr)
			}
		})
	}
}

// TestCheckVerifierResponse: the RFC 5849 §2.2 callback, and the refusals
// providers send in its place.
func TestCheckVerifierResponse(t *testing.T) {
	const temp = "hh5s93j4hdidpola"
	tests := []struct {
		name    string
		q       string
		wantIs  error
		wantErr string
	}{
		{name: "verifier", q: "oauth_token=hh5s93j4hdidpola&oauth_verifier=hfdp7dh39dks9884"},
		{name: "other token", q: "oauth_token=nope&oauth_verifier=v", wantIs: ErrStateMismatch},
		{name: "no token", q: "oauth_verifier=v", wantIs: ErrStateMismatch},
		{name: "denied=token", q: "denied=hh5s93j4hdidpola", wantIs: ErrDenied, wantErr: "denied=<this run's token>"},
		{name: "denied=other token", q: "denied=other", wantIs: ErrStateMismatch},
		{name: "oauth_problem", q: "oauth_problem=user_refused", wantIs: ErrDenied, wantErr: "oauth_problem=user_refused"},
		{name: "no verifier", q: "oauth_token=hh5s93j4hdidpola", wantErr: "no oauth_verifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.q)
			got, err := checkVerifierResponse(q, temp)
			if tt.wantIs == nil && tt.wantErr == "" {
				if err != nil || got.Get("oauth_verifier") != "hfdp7dh39dks9884" {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			if err == nil || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.wantIs, tt.wantErr)
			}
			if strings.Contains(err.Error(), temp) {
				t.Errorf("the temporary token leaked into the error: %v", err)
			}
		})
	}
}

// TestReceiver: the loopback listener takes one response on /callback,
// ignores other paths, answers later ones 409, and a context that ended
// gives ErrTimeout naming the redirect URI.
func TestReceiver(t *testing.T) {
	rcv, err := listen(0, func(q url.Values) (url.Values, error) { return checkCodeResponse(q, "st") })
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.close()
	if !strings.HasPrefix(rcv.URL, "http://127.0.0.1:") || !strings.HasSuffix(rcv.URL, "/callback") {
		t.Fatalf("redirect URI %s", rcv.URL)
	}
	get := func(u string) int {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if cc := res.Header.Get("Cache-Control"); res.StatusCode != 404 && cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		return res.StatusCode
	}
	base := strings.TrimSuffix(rcv.URL, "/callback")
	if c := get(base + "/favicon.ico"); c != 404 {
		t.Errorf("favicon: %d", c)
	}
	if c := get(rcv.URL + "?code=abc&state=st"); c != 200 {
		t.Errorf("callback: %d", c)
	}
	if c := get(rcv.URL + "?code=evil&state=st"); c != 409 {
		t.Errorf("second callback: %d", c)
	}
	q, err := rcv.wait(context.Background(), 0)
	if err != nil || q.Get("code") != "abc" {
		t.Fatalf("wait = %v, %v", q, err)
	}

	rcv2, err := listen(0, func(q url.Values) (url.Values, error) { return q, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer rcv2.close()
	ctx, cancel := context.WithDeadline(context.Background(), testPast)
	defer cancel()
	_, err = rcv2.wait(ctx, 42e9)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "no authorization response reached "+rcv2.URL+" within --timeout 42s") {
		t.Errorf("err = %v", err)
	}
}

func TestListenNamesThePort(t *testing.T) {
	rcv, err := listen(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.close()
	u, _ := url.Parse(rcv.URL)
	_, err = listen(mustAtoi(t, u.Port()), nil)
	if err == nil || !strings.Contains(err.Error(), "--redirect-port "+u.Port()) {
		t.Errorf("err = %v", err)
	}
}

func TestEndpointURL(t *testing.T) {
	b := &config.Binding{}
	tests := []struct{ raw, wantErr string }{
		{"https://as.example/authorize?tenant=1", ""},
		{"http://127.0.0.1:8080/authorize", ""},
		{"", "--authorize-url is required"},
		{"http://as.example/authorize", "http:// on a non-loopback host"},
		{"ftp://as.example/", "scheme must be https or http"},
		{"https://u:p@as.example/", "must not embed credentials"},
		{"https://as.example/a#x", "must not have a fragment"},
		{"https://as.example/a?state=x", `has query parameter "state"`},
		{"https:///a", "must include a host"},
	}
	for _, tt := range tests {
		_, err := endpointURL(b, "--authorize-url", tt.raw, authParams...)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("endpointURL(%q) = %v, want %q", tt.raw, err, tt.wantErr)
		}
	}
	if _, err := endpointURL(&config.Binding{AllowInsecureHTTP: true}, "--authorize-url", "http://as.example/authorize"); err != nil {
		t.Errorf("allowInsecureHTTP: %v", err)
	}
}

func TestScopes(t *testing.T) {
	b := &config.Binding{Grant: config.Grant{Scopes: []string{"api:read"}}}
	tests := []struct {
		o    Options
		want string
	}{
		{Options{OfflineAccess: true}, "api:read offline_access"},
		{Options{}, "api:read"},
		{Options{Scopes: []string{"a", "offline_access"}, OfflineAccess: true}, "a offline_access"},
		{Options{Scopes: []string{}}, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.o.scopes(b), " "); got != tt.want {
			t.Errorf("scopes(%+v) = %q, want %q", tt.o, got, tt.want)
		}
	}
	if len(b.Grant.Scopes) != 1 {
		t.Errorf("scopes changed the binding: %v", b.Grant.Scopes)
	}
}

func TestServerText(t *testing.T) {
	got := serverText("bad \x1b[31mverifier hfdp7dh39dks9884\r\n"+strings.Repeat("x", 300), "hfdp7dh39dks9884")
	if strings.Contains(got, "hfdp7dh39dks9884") || strings.ContainsAny(got, "\x1b\r\n") || len([]rune(got)) > maxServerText+1 {
		t.Errorf("serverText = %q", got)
	}
}

func TestBrowserOpener(t *testing.T) {
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name   string
		goos   string
		getenv func(string) string
		look   func(string) (string, error)
		want   bool
	}{
		{"macOS", "darwin", env(), found, true},
		{"linux X11", "linux", env("DISPLAY", ":0"), found, true},
		{"linux Wayland", "linux", env("WAYLAND_DISPLAY", "wayland-0"), found, true},
		{"linux over SSH", "linux", env(), found, false},
		{"linux without xdg-open", "linux", env("DISPLAY", ":0"), missing, false},
		{"windows", "windows", env(), found, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BrowserOpener(tt.goos, tt.getenv, tt.look) != nil; got != tt.want {
				t.Errorf("opener present = %v, want %v", got, tt.want)
			}
		})
	}
}
