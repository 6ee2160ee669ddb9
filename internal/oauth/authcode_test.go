package oauth

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// RFC 7636 Appendix B: the published verifier and its S256 challenge.
func TestS256ChallengeRFC7636(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	if got, want := S256Challenge(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; got != want {
		t.Errorf("S256Challenge = %s, want %s", got, want)
	}
}

// RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~]; every call
// draws a fresh one.
func TestNewPKCE(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	seen := map[string]bool{}
	for range 20 {
		p, err := NewPKCE()
		if err != nil {
			t.Fatal(err)
		}
		if !valid.MatchString(p.Verifier) {
			t.Fatalf("verifier %q breaks RFC 7636 §4.1", p.Verifier)
		}
		if p.Challenge != S256Challenge(p.Verifier) {
			t.Fatalf("challenge %q is not S256 of the verifier", p.Challenge)
		}
		if seen[p.Verifier] {
			t.Fatalf("verifier repeated")
		}
		seen[p.Verifier] = true
	}
}

// TestAuthorizationCodeWireFormat: RFC 6749 §4.1.3 plus RFC 7636 §4.5, with
// the client authentication of every method on top.
func TestAuthorizationCodeWireFormat(t *testing.T) {
	const code, redirect, verifier = "SplxlOBeZQQYbYS6WxSbIA", "http://127.0.0.1:49152/callback", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	tests := []struct {
		auth     string
		wantBody string
		wantAuth string
	}{
		{config.AuthClientSecretBasic, "code=" + code + "&code_verifier=" + verifier + "&grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A49152%2Fcallback",
			BasicAuth(testClientID, testClientSecret)},
		{config.AuthClientSecretPost, "client_id=" + testClientID + "&client_secret=" + testClientSecret + "&code=" + code + "&code_verifier=" + verifier +
			"&grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A49152%2Fcallback", ""},
		{config.AuthNone, "client_id=" + testClientID + "&code=" + code + "&code_verifier=" + verifier +
			"&grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A49152%2Fcallback", ""},
	}
	for _, tt := range tests {
		t.Run(tt.auth, func(t *testing.T) {
			f := newFakeAS(t, jsonReply(200, `{"access_token":"`+testAccess+`","token_type":"Bearer","refresh_token":"`+testRefresh+`"}`))
			c := newTestClient(t, f, Options{AuthMethod: tt.auth})
			tok, err := c.AuthorizationCode(context.Background(), code, redirect, verifier)
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken != testRefresh {
				t.Errorf("refresh token %q", tok.RefreshToken)
			}
			r := f.only(t)
			if r.Body != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", r.Body, tt.wantBody)
			}
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", got, tt.wantAuth)
			}
		})
	}
}

func TestAuthorizationCodeRefusesEmptyInputs(t *testing.T) {
	f := newFakeAS(t, jsonReply(200, okBody))
	c := newTestClient(t, f, Options{})
	for _, tt := range []struct{ code, redirect, verifier, want string }{
		{"", "http://127.0.0.1/cb", "v", "code is empty"},
		{"c", "", "v", "redirect_uri is empty"},
		{"c", "http://127.0.0.1/cb", "", "code_verifier is empty"},
	} {
		_, err := c.AuthorizationCode(context.Background(), tt.code, tt.redirect, tt.verifier)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}
