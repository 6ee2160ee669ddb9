package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

func TestGrantsWireFormat(t *testing.T) {
	basic := BasicAuth(testClientID, testClientSecret)
	tests := []struct {
		name     string
		extra    map[string]string
		run      func(*Client) (*Token, error)
		wantBody string
	}{
		{
			name: "client_credentials with scopes",
			run: func(c *Client) (*Token, error) {
				return c.ClientCredentials(context.Background(), []string{"read", "write"})
			},
			wantBody: "grant_type=client_credentials&scope=read+write",
		},
		{
			name:     "client_credentials without scopes",
			run:      func(c *Client) (*Token, error) { return c.ClientCredentials(context.Background(), nil) },
			wantBody: "grant_type=client_credentials",
		},
		{
			name: "password",
			run: func(c *Client) (*Token, error) {
				return c.Password(context.Background(), "jane@example.com", testPassword, []string{"profile"})
			},
			wantBody: "grant_type=password&password=" + testPassword + "&scope=profile&username=jane%40example.com",
		},
		{
			name:     "refresh",
			run:      func(c *Client) (*Token, error) { return c.Refresh(context.Background(), testRefresh, nil) },
			wantBody: "grant_type=refresh_token&refresh_token=" + testRefresh,
		},
		{
			name: "RFC 8693 exchange",
			run: func(c *Client) (*Token, error) {
				return c.Exchange(context.Background(), ExchangeRequest{
					SubjectToken: testSubject, SubjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
					Audience: "https://api.example", RequestedTokenType: "urn:ietf:params:oauth:token-type:access_token",
				})
			},
			wantBody: "audience=https%3A%2F%2Fapi.example&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange" +
				"&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&subject_token=" + testSubject +
				"&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
		},
		{
			name: "Tapkey exchange defaults subject_token_type to jwt",
			run: func(c *Client) (*Token, error) {
				return c.Exchange(context.Background(), ExchangeRequest{
					GrantType: config.TokenExchangeTapkey, SubjectToken: testSubject, Provider: "idp.example",
					Audience: "tapkey_api", RequestedTokenType: "access_token", Scopes: []string{"register:mobiles", "read:user"},
				})
			},
			wantBody: "audience=tapkey_api&grant_type=http%3A%2F%2Ftapkey.net%2Foauth%2Ftoken_exchange&provider=idp.example" +
				"&requested_token_type=access_token&scope=register%3Amobiles+read%3Auser&subject_token=" + testSubject +
				"&subject_token_type=jwt",
		},
		{
			name:     "extra params are added and a grant's own scope wins",
			extra:    map[string]string{"resource": "https://api.partner.example/", "scope": "ignored"},
			run:      func(c *Client) (*Token, error) { return c.ClientCredentials(context.Background(), []string{"a"}) },
			wantBody: "grant_type=client_credentials&resource=https%3A%2F%2Fapi.partner.example%2F&scope=a",
		},
		{
			name:     "extra scope is used when the grant names none",
			extra:    map[string]string{"scope": "fixed"},
			run:      func(c *Client) (*Token, error) { return c.ClientCredentials(context.Background(), nil) },
			wantBody: "grant_type=client_credentials&scope=fixed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, okBody))
			c := newTestClient(t, f, Options{ExtraParams: tt.extra})
			tok, err := tt.run(c)
			if err != nil {
				t.Fatalf("grant: %v", err)
			}
			if tok.AccessToken != testAccess || tok.TokenType != "bearer" {
				t.Errorf("token = %q/%q", tok.AccessToken, tok.TokenType)
			}
			if want := testNow.Add(time.Hour); !tok.Expiry.Equal(want) {
				t.Errorf("Expiry = %v, want %v", tok.Expiry, want)
			}
			r := f.only(t)
			if r.Method != http.MethodPost || r.Path != "/token" || r.RawQuery != "" {
				t.Errorf("request line = %s %s?%s, want POST /token", r.Method, r.Path, r.RawQuery)
			}
			if r.Body != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", r.Body, tt.wantBody)
			}
			if got := r.Header.Get("Authorization"); got != basic {
				t.Errorf("Authorization = %q, want %q", got, basic)
			}
			if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
		})
	}
}

func TestRefreshKeepsOrRotatesRefreshToken(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"server rotates", `{"access_token":"a","token_type":"bearer","refresh_token":"rotated-rt"}`, "rotated-rt"},
		{"server keeps", `{"access_token":"a","token_type":"bearer"}`, testRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, tt.body))
			tok, err := newTestClient(t, f, Options{}).Refresh(context.Background(), testRefresh, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken != tt.want {
				t.Errorf("RefreshToken = %q, want %q", tok.RefreshToken, tt.want)
			}
		})
	}
}

func TestClientAuthMethods(t *testing.T) {
	tests := []struct {
		method     string
		creds      Credentials
		wantAuthz  string
		wantBody   string
		wantErrSub string
	}{
		{method: config.AuthClientSecretBasic, creds: Credentials{ClientID: "my client", ClientSecret: "p@ss:w/rd+%"},
			wantAuthz: "Basic bXkrY2xpZW50OnAlNDBzcyUzQXclMkZyZCUyQiUyNQ==", wantBody: "grant_type=client_credentials"},
		{method: config.AuthClientSecretPost, creds: Credentials{ClientID: "my client", ClientSecret: "p@ss"},
			wantBody: "client_id=my+client&client_secret=p%40ss&grant_type=client_credentials"},
		{method: config.AuthTLSClientAuth, creds: Credentials{ClientID: "mtls-client"},
			wantBody: "client_id=mtls-client&grant_type=client_credentials"},
		{method: config.AuthNone, creds: Credentials{ClientID: "public"},
			wantBody: "client_id=public&grant_type=client_credentials"},
		{method: config.AuthNone, creds: Credentials{},
			wantBody: "grant_type=client_credentials"},
		{method: config.AuthClientSecretBasic, creds: Credentials{ClientID: "x"}, wantErrSub: "client secret is empty"},
		{method: config.AuthClientSecretPost, creds: Credentials{ClientSecret: "x"}, wantErrSub: "client ID is empty"},
		{method: config.AuthTLSClientAuth, creds: Credentials{}, wantErrSub: "client ID is empty"},
		{method: config.AuthPrivateKeyJWT, creds: Credentials{ClientID: "x"}, wantErrSub: "requires a private key"},
		{method: config.AuthClientSecretJWT, creds: Credentials{ClientID: "x"}, wantErrSub: "client secret is empty (required for client_secret_jwt)"},
		{method: config.AuthClientSecretJWT, creds: Credentials{ClientSecret: testClientSecret}, wantErrSub: "client ID is empty"},
		{method: config.AuthClientSecretJWT, creds: Credentials{ClientID: "x", ClientSecret: "only-31-bytes-long-abcdefghijkl"},
			wantErrSub: "client secret is 31 bytes; client_secret_jwt signs with HS256, which needs at least 32 (RFC 7518 §3.2)"},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.wantBody+tt.wantErrSub, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, okBody))
			c := newTestClient(t, f, Options{AuthMethod: tt.method, Credentials: staticCreds(tt.creds)})
			_, err := c.ClientCredentials(context.Background(), nil)
			if tt.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErrSub)
				}
				if n := len(f.requests()); n != 0 {
					t.Errorf("sent %d requests despite bad credentials", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := f.only(t)
			if got := r.Header.Get("Authorization"); got != tt.wantAuthz {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuthz)
			}
			if r.Body != tt.wantBody {
				t.Errorf("body = %s, want %s", r.Body, tt.wantBody)
			}
		})
	}
}

func TestGETPutsEverythingInQuery(t *testing.T) {
	f := newFakeAS(t, jsonReply(200, okBody))
	var seenBody []byte
	beforeCalled := false
	c := newTestClient(t, f, Options{
		TokenURL:    f.URL + "/oauth/token?tenant=acme",
		Method:      "get",
		AuthMethod:  config.AuthClientSecretPost,
		ExtraParams: map[string]string{"resource": "r1"},
		BeforeSend: func(req *http.Request, body []byte) error {
			beforeCalled, seenBody = true, body
			return nil
		},
	})
	if _, err := c.ClientCredentials(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Method != http.MethodGet || r.Path != "/oauth/token" {
		t.Errorf("request line = %s %s", r.Method, r.Path)
	}
	want := "tenant=acme&client_id=" + testClientID + "&client_secret=" + testClientSecret + "&grant_type=client_credentials&resource=r1&scope=a"
	if r.RawQuery != want {
		t.Errorf("query\n got %s\nwant %s", r.RawQuery, want)
	}
	if r.Body != "" || r.Header.Get("Content-Type") != "" {
		t.Errorf("GET sent a body %q / content-type %q", r.Body, r.Header.Get("Content-Type"))
	}
	if !beforeCalled || seenBody != nil {
		t.Errorf("BeforeSend called=%v body=%q, want called with nil body", beforeCalled, seenBody)
	}
}

func TestBeforeSendSeesExactBodyAndCanSign(t *testing.T) {
	f := newFakeAS(t, jsonReply(200, okBody))
	var got []byte
	c := newTestClient(t, f, Options{BeforeSend: func(req *http.Request, body []byte) error {
		got = append([]byte(nil), body...)
		req.Header.Set("X-Authorization", "pop-over-"+string(body))
		return nil
	}})
	if _, err := c.ClientCredentials(context.Background(), []string{"x y"}); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if string(got) != r.Body {
		t.Errorf("BeforeSend body %q != wire body %q", got, r.Body)
	}
	if r.Header.Get("X-Authorization") != "pop-over-"+r.Body {
		t.Errorf("header set by BeforeSend did not reach the server: %q", r.Header.Get("X-Authorization"))
	}

	failing := newTestClient(t, f, Options{BeforeSend: func(*http.Request, []byte) error { return errors.New("key unavailable") }})
	if _, err := failing.ClientCredentials(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "signing request: key unavailable") {
		t.Errorf("err = %v, want the BeforeSend failure", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("a failed BeforeSend still sent a request (%d total)", n)
	}
}

func TestCredentialsReadPerRequest(t *testing.T) {
	f := newFakeAS(t, jsonReply(200, okBody))
	secret := "first-secret"
	c := newTestClient(t, f, Options{Credentials: func() (Credentials, error) {
		return Credentials{ClientID: "id", ClientSecret: secret}, nil
	}})
	for _, s := range []string{"first-secret", "rotated-secret"} {
		secret = s
		if _, err := c.ClientCredentials(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	reqs := f.requests()
	for i, s := range []string{"first-secret", "rotated-secret"} {
		if got, want := reqs[i].Header.Get("Authorization"), BasicAuth("id", s); got != want {
			t.Errorf("request %d Authorization = %q, want %q", i, got, want)
		}
	}
	broken := newTestClient(t, f, Options{Credentials: func() (Credentials, error) { return Credentials{}, errors.New("file missing") }})
	if _, err := broken.ClientCredentials(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "reading credentials: file missing") {
		t.Errorf("err = %v", err)
	}
}

func TestNewClientValidation(t *testing.T) {
	creds := staticCreds(Credentials{})
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"missing URL", Options{Credentials: creds}, "TokenURL: required"},
		{"bad scheme", Options{TokenURL: "ftp://x/token", Credentials: creds}, `TokenURL: scheme must be https or http, got "ftp"`},
		{"no host", Options{TokenURL: "https:///token", Credentials: creds}, "TokenURL: must include a host"},
		{"userinfo", Options{TokenURL: "https://u:p@as/token", Credentials: creds}, "TokenURL: must not embed credentials"},
		{"method", Options{TokenURL: "https://as/t", Method: "PUT", Credentials: creds}, `Method: must be GET or POST, got "PUT"`},
		{"auth method", Options{TokenURL: "https://as/t", AuthMethod: "client_secret_digest", Credentials: creds}, `AuthMethod: unsupported "client_secret_digest"`},
		{"no credentials", Options{TokenURL: "https://as/t"}, "Credentials: required for client_secret_basic"},
		{"reserved extra", Options{TokenURL: "https://as/t", Credentials: creds, ExtraParams: map[string]string{"grant_type": "x"}}, "ExtraParams[grant_type]: reserved"},
		{"empty extra", Options{TokenURL: "https://as/t", Credentials: creds, ExtraParams: map[string]string{"": "x"}}, "ExtraParams: empty parameter name"},
		{"negative max", Options{TokenURL: "https://as/t", Credentials: creds, MaxResponseBytes: -1}, "MaxResponseBytes: must not be negative"},
		{"ok none without credentials", Options{TokenURL: "https://as/t", AuthMethod: config.AuthNone}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.o)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestGrantInputValidation(t *testing.T) {
	f := newFakeAS(t, jsonReply(200, okBody))
	c := newTestClient(t, f, Options{})
	ctx := context.Background()
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"password without username", func() error { _, err := c.Password(ctx, "", "pw", nil); return err }, "username is empty"},
		{"password without password", func() error { _, err := c.Password(ctx, "u", "", nil); return err }, "password is empty"},
		{"refresh without token", func() error { _, err := c.Refresh(ctx, "", nil); return err }, "refresh token is empty"},
		{"exchange without subject", func() error { _, err := c.Exchange(ctx, ExchangeRequest{SubjectTokenType: "jwt"}); return err }, "SubjectToken is empty"},
		{"exchange without type", func() error { _, err := c.Exchange(ctx, ExchangeRequest{SubjectToken: "s"}); return err }, "SubjectTokenType is empty"},
		{"tapkey without provider", func() error {
			_, err := c.Exchange(ctx, ExchangeRequest{GrantType: config.TokenExchangeTapkey, SubjectToken: "s"})
			return err
		}, "Provider is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("invalid input still sent %d requests", n)
	}
}

func TestTransportErrorHidesQuery(t *testing.T) {
	f := newFakeAS(t, jsonReply(200, okBody))
	url := f.URL
	f.Close() // nothing listens any more
	c := newTestClient(t, f, Options{TokenURL: url + "/token", Method: "GET", AuthMethod: config.AuthClientSecretPost})
	_, err := c.Password(context.Background(), "u", testPassword, nil)
	if err == nil {
		t.Fatal("want a transport error")
	}
	if !strings.Contains(err.Error(), "GET "+url+"/token:") {
		t.Errorf("err = %v, want it to name the endpoint", err)
	}
	for _, s := range []string{testPassword, testClientSecret, "grant_type"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("transport error leaks %q: %v", s, err)
		}
	}
}
