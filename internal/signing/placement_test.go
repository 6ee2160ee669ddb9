package signing

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// The placement names are repeated here to keep the import graph small;
// this pins them to the contract.
func TestPlacementNamesMatchConfig(t *testing.T) {
	for _, c := range [][2]string{
		{PlaceHeader, config.PlaceHeader},
		{PlaceQuery, config.PlaceQuery},
		{PlaceForm, config.PlaceForm},
	} {
		if c[0] != c[1] {
			t.Errorf("signing placement %q != config placement %q", c[0], c[1])
		}
	}
}

const testToken = "mF_9.B5f-4.1JqM"

func newReq(t *testing.T, method, rawURL, contentType string) *http.Request {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	r := &http.Request{Method: method, URL: u, Header: http.Header{}}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestPlaceToken(t *testing.T) {
	tests := []struct {
		name        string
		method, url string
		ct, body    string
		in, scheme  string
		token       string

		wantAuth, wantQuery, wantCache, wantBody string
		wantErr                                  string
	}{
		{name: "header bearer", method: "GET", url: "https://api.example/x?a=1", in: PlaceHeader, scheme: "Bearer", token: testToken,
			wantAuth: "Bearer " + testToken, wantQuery: "a=1"},
		{name: "header default scheme", method: "GET", url: "https://api.example/x", in: PlaceHeader, token: testToken,
			wantAuth: "Bearer " + testToken},
		{name: "header dpop", method: "POST", url: "https://api.example/x", in: PlaceHeader, scheme: "DPoP", token: testToken,
			wantAuth: "DPoP " + testToken},
		{name: "header bad scheme", method: "GET", url: "https://api.example/x", in: PlaceHeader, scheme: "Bear er", token: testToken,
			wantErr: `authorization scheme "Bear er" is not an HTTP token`},
		{name: "header token with CRLF", method: "GET", url: "https://api.example/x", in: PlaceHeader, token: "abc\r\nX-Evil: 1",
			wantErr: "access token contains a control character"},
		{name: "query appended", method: "GET", url: "https://api.example/x?b=2&a=%2F", in: PlaceQuery, token: testToken,
			wantQuery: "b=2&a=%2F&access_token=" + testToken, wantCache: "no-store"},
		{name: "query on empty query", method: "GET", url: "https://api.example/x", in: PlaceQuery, token: "a b+c",
			wantQuery: "access_token=a+b%2Bc", wantCache: "no-store"},
		{name: "query drops app token", method: "GET", url: "https://api.example/x?access_token=app&z=1&access%5Ftoken=app2", in: PlaceQuery, token: testToken,
			wantQuery: "z=1&access_token=" + testToken, wantCache: "no-store"},
		{name: "form appended", method: "POST", url: "https://api.example/x", ct: "application/x-www-form-urlencoded", body: "a=1&b=2",
			in: PlaceForm, token: testToken, wantBody: "a=1&b=2&access_token=" + testToken},
		{name: "form with charset, empty body", method: "PUT", url: "https://api.example/x", ct: "application/x-www-form-urlencoded; charset=utf-8",
			in: PlaceForm, token: testToken, wantBody: "access_token=" + testToken},
		{name: "form drops app token", method: "POST", url: "https://api.example/x", ct: "application/x-www-form-urlencoded", body: "access_token=app&a=1",
			in: PlaceForm, token: testToken, wantBody: "a=1&access_token=" + testToken},
		{name: "form on json", method: "POST", url: "https://api.example/x", ct: "application/json", body: "{}", in: PlaceForm, token: testToken,
			wantErr: `form placement needs an application/x-www-form-urlencoded body, got "application/json"`},
		{name: "form on multipart", method: "POST", url: "https://api.example/x", ct: "multipart/form-data; boundary=x", in: PlaceForm, token: testToken,
			wantErr: `got "multipart/form-data; boundary=x"`},
		{name: "form without content type", method: "POST", url: "https://api.example/x", in: PlaceForm, token: testToken,
			wantErr: "got no Content-Type"},
		{name: "form on GET", method: "GET", url: "https://api.example/x", ct: "application/x-www-form-urlencoded", in: PlaceForm, token: testToken,
			wantErr: "form placement is not allowed on GET"},
		{name: "form on HEAD", method: "HEAD", url: "https://api.example/x", ct: "application/x-www-form-urlencoded", in: PlaceForm, token: testToken,
			wantErr: "form placement is not allowed on HEAD"},
		{name: "form non-ascii body", method: "POST", url: "https://api.example/x", ct: "application/x-www-form-urlencoded", body: "n=é",
			in: PlaceForm, token: testToken, wantErr: "needs an ASCII body, found byte 0xc3 at offset 2"},
		{name: "empty token", method: "GET", url: "https://api.example/x", in: PlaceHeader, token: "", wantErr: "access token is empty"},
		{name: "unknown placement", method: "GET", url: "https://api.example/x", in: "cookie", token: testToken,
			wantErr: `unknown placement "cookie"; want header, query or form`},
		{name: "empty placement", method: "GET", url: "https://api.example/x", in: "", token: testToken, wantErr: "placement is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newReq(t, tt.method, tt.url, tt.ct)
			in := []byte(tt.body)
			orig := string(in)
			got, err := PlaceToken(req, in, tt.in, tt.scheme, tt.token)
			if string(in) != orig {
				t.Errorf("input body was modified: %q", in)
			}
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("want error containing %q, got nil", tt.wantErr)
				}
				if !errors.Is(err, ErrPlacement) {
					t.Errorf("error %v does not wrap ErrPlacement", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error %q leaks the token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if g := req.Header.Get("Authorization"); g != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", g, tt.wantAuth)
			}
			if g := req.URL.RawQuery; g != tt.wantQuery {
				t.Errorf("query = %q, want %q", g, tt.wantQuery)
			}
			if g := req.Header.Get("Cache-Control"); g != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", g, tt.wantCache)
			}
			if tt.in == PlaceForm {
				if string(got) != tt.wantBody {
					t.Errorf("body = %q, want %q", got, tt.wantBody)
				}
			} else if string(got) != tt.body {
				t.Errorf("body changed to %q for %s placement", got, tt.in)
			}
		})
	}
}

func TestPlaceTokenNilRequest(t *testing.T) {
	if _, err := PlaceToken(nil, nil, PlaceHeader, "", testToken); !errors.Is(err, ErrPlacement) {
		t.Fatalf("nil request: got %v, want ErrPlacement", err)
	}
	if _, err := PlaceToken(&http.Request{}, nil, PlaceHeader, "", testToken); !errors.Is(err, ErrPlacement) {
		t.Fatalf("request without URL: got %v, want ErrPlacement", err)
	}
	// A request built by hand may have no header map yet.
	r := &http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "h", Path: "/"}}
	if _, err := PlaceToken(r, nil, PlaceHeader, "", testToken); err != nil {
		t.Fatal(err)
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		t.Fatalf("Authorization = %q", r.Header.Get("Authorization"))
	}
}

func TestStripAccessToken(t *testing.T) {
	cases := []struct {
		in, want string
		changed  bool
	}{
		{"", "", false},
		{"a=1&&b=2", "a=1&&b=2", false}, // no token: bytes untouched
		{"access_token=x", "", true},
		{"a=1&access_token=x&b=%20", "a=1&b=%20", true},
		{"access%5Ftoken=x&a=1", "a=1", true},
		{"access_token&a=1", "a=1", true},
		{"Access_Token=x", "Access_Token=x", false},
		{"my_access_token=x", "my_access_token=x", false},
		{"a=access_token", "a=access_token", false},
	}
	for _, tc := range cases {
		got, changed := StripAccessToken(tc.in)
		if got != tc.want || changed != tc.changed {
			t.Errorf("StripAccessToken(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
		}
	}
}
