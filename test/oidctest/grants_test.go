package oidctest

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

func TestDependencyCacheIsReused(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		testutil.Unavailable(t, "npm not found: %v", err)
	}
	src, err := sourceDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := cacheRoot()
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := ensureDeps(context.Background(), npm, src, root)
	if err != nil {
		testutil.Unavailable(t, "%v", err)
	}
	// A second run must not touch npm: give it an npm that cannot run.
	second, installed, err := ensureDeps(context.Background(), "/nonexistent/npm", src, root)
	if err != nil {
		t.Fatalf("second ensureDeps ran npm: %v", err)
	}
	if installed || second != first {
		t.Fatalf("second ensureDeps: dir %s installed %v, want %s without installing", second, installed, first)
	}
	if _, err := os.Stat(second + "/node_modules/oidc-provider/package.json"); err != nil {
		t.Fatalf("cached tree incomplete: %v", err)
	}
}

func TestClientCredentials(t *testing.T) {
	s := Start(t, Options{})
	otherKey := newECKey(t)
	tests := []struct {
		name       string
		auth       clientAuth
		form       url.Values
		wantClient string
		wantStatus int
		wantErr    string
	}{
		{name: "client_secret_basic", auth: basicAuth(basicClient), wantClient: "basic-client"},
		{name: "client_secret_post", auth: postAuth(postClient), wantClient: "post-client"},
		{name: "private_key_jwt", auth: jwtAuth, wantClient: "pkjwt-client"},
		{name: "explicit resource and scope", auth: basicAuth(basicClient), wantClient: "basic-client",
			form: url.Values{"resource": {"https://api.partner.example/"}, "scope": {"api:read"}}},
		{name: "basic with wrong secret", auth: basicAuth(wrongSecret(basicClient)), wantStatus: 401, wantErr: "invalid_client"},
		// The default secret contains "%r": sent without RFC 6749 §2.3.1
		// form-encoding it is not valid percent-encoding and is refused.
		{name: "basic without form-encoding", auth: rawBasicAuth(basicClient), wantStatus: 400, wantErr: "invalid_request"},
		{name: "basic client using post", auth: postAuth(basicClient), wantStatus: 401, wantErr: "invalid_client"},
		{name: "post client using basic", auth: basicAuth(postClient), wantStatus: 401, wantErr: "invalid_client"},
		{name: "post with wrong secret", auth: postAuth(wrongSecret(postClient)), wantStatus: 401, wantErr: "invalid_client"},
		{name: "private_key_jwt signed by another key", auth: jwtAuthWith(otherKey, time.Minute), wantStatus: 401, wantErr: "invalid_client"},
		{name: "public client may not use client_credentials", auth: publicAuth, wantStatus: 400, wantErr: "invalid_request"},
		{name: "unknown resource", auth: basicAuth(basicClient), form: url.Values{"resource": {"https://elsewhere.example/"}},
			wantStatus: 400, wantErr: "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range tt.form {
				form[k] = v
			}
			r := postForm(t, s, s.TokenEndpoint, tt.auth, form, nil)
			if tt.wantErr != "" {
				wantError(t, r, tt.wantStatus, tt.wantErr)
				return
			}
			at := wantToken(t, r)
			if r.str("token_type") != "Bearer" || r.num("expires_in") != 10 {
				t.Fatalf("token_type %q expires_in %v, want Bearer 10", r.str("token_type"), r.body["expires_in"])
			}
			res := callResource(t, s, "Bearer", at, "")
			if res.status != 200 || res.str("client_id") != tt.wantClient || res.str("scheme") != "Bearer" {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
		})
	}
}

func TestPasswordGrant(t *testing.T) {
	s := Start(t, Options{})
	tests := []struct {
		name     string
		auth     clientAuth
		username string
		password string
		wantErr  string
	}{
		{name: "client_secret_basic", auth: basicAuth(basicClient)},
		{name: "client_secret_post", auth: postAuth(postClient)},
		{name: "private_key_jwt", auth: jwtAuth},
		{name: "public client", auth: publicAuth},
		{name: "wrong password", auth: basicAuth(basicClient), password: "nope", wantErr: "invalid_grant"},
		{name: "unknown user", auth: basicAuth(basicClient), username: "mallory", wantErr: "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{
				"grant_type": {"password"},
				"username":   {orDefault(tt.username, s.Username)},
				"password":   {orDefault(tt.password, s.Password)},
			}
			r := postForm(t, s, s.TokenEndpoint, tt.auth, form, nil)
			if tt.wantErr != "" {
				wantError(t, r, 400, tt.wantErr)
				return
			}
			at := wantToken(t, r)
			if r.str("refresh_token") == "" {
				t.Fatalf("no refresh_token in %v", r.body)
			}
			res := callResource(t, s, "Bearer", at, "")
			if res.status != 200 || res.str("sub") != s.Username {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
		})
	}
	t.Run("missing password", func(t *testing.T) {
		r := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), url.Values{"grant_type": {"password"}, "username": {s.Username}}, nil)
		wantError(t, r, 400, "invalid_request")
	})
}

func TestRefreshToken(t *testing.T) {
	for _, rotate := range []bool{true, false} {
		name := map[bool]string{true: "rotating", false: "non-rotating"}[rotate]
		t.Run(name, func(t *testing.T) {
			s := Start(t, Options{NoRefreshTokenRotation: !rotate})
			first := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), url.Values{
				"grant_type": {"password"}, "username": {s.Username}, "password": {s.Password},
			}, nil)
			at1, rt1 := wantToken(t, first), first.str("refresh_token")
			refresh := func(rt string) response {
				return postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), url.Values{
					"grant_type": {"refresh_token"}, "refresh_token": {rt},
				}, nil)
			}
			second := refresh(rt1)
			at2 := wantToken(t, second)
			if at2 == at1 {
				t.Fatal("refresh returned the same access token")
			}
			if second.num("expires_in") != 10 {
				t.Fatalf("expires_in %v, want 10", second.body["expires_in"])
			}
			if res := callResource(t, s, "Bearer", at2, ""); res.status != 200 || res.str("sub") != s.Username {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
			rt2 := second.str("refresh_token")
			t.Logf("refresh token rotated: %v", rt2 != "" && rt2 != rt1)
			again := refresh(rt1)
			if rotate {
				if rt2 == "" || rt2 == rt1 {
					t.Fatalf("rotating server returned refresh_token %q, want a new one", rt2)
				}
				wantError(t, again, 400, "invalid_grant")
				return
			}
			if rt2 != "" && rt2 != rt1 {
				t.Fatal("non-rotating server returned a different refresh token")
			}
			wantToken(t, again)
		})
	}
	t.Run("unknown refresh token", func(t *testing.T) {
		s := Start(t, Options{})
		r := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"},
		}, nil)
		wantError(t, r, 400, "invalid_grant")
	})
}

func TestResourceRejectsBadTokens(t *testing.T) {
	s := Start(t, Options{})
	tests := []struct {
		name, scheme, token string
		wantErr             string
	}{
		{name: "no Authorization header", wantErr: "invalid_request"},
		{name: "unknown token", scheme: "Bearer", token: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", wantErr: "invalid_token"},
		{name: "malformed token", scheme: "Bearer", token: "a b", wantErr: "invalid_request"},
		{name: "unbound token with DPoP scheme", scheme: "DPoP", wantErr: "invalid_token"},
	}
	valid := wantToken(t, postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), url.Values{"grant_type": {"client_credentials"}}, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if token == "" && tt.scheme != "" {
				token = valid
			}
			r := callResource(t, s, tt.scheme, token, "")
			wantError(t, r, http.StatusUnauthorized, tt.wantErr)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}
