package oauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// echoEverything answers 400 with an error_description that repeats every
// credential the request carried, the way a careless server might.
func echoEverything(w http.ResponseWriter, r *http.Request, _ int) {
	_ = r.ParseForm() // query and body alike
	var parts []string
	for _, k := range []string{"client_secret", "password", "refresh_token", "subject_token", "client_assertion", "assertion", "auth_req_id", "code", "code_verifier"} {
		if v := r.Form.Get(k); v != "" {
			parts = append(parts, v)
		}
	}
	if a := r.Header.Get("Authorization"); a != "" {
		parts = append(parts, a)
	}
	desc, _ := json.Marshal(strings.Join(parts, " "))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, `{"error":"invalid_request","error_description":`+string(desc)+`}`)
}

// TestErrorsNeverContainSecrets drives every grant and failure shape with
// known secret values and greps each returned error for them.
func TestErrorsNeverContainSecrets(t *testing.T) {
	key := rsaKey(t)
	var assertions []string
	capture := func(next func(http.ResponseWriter, *http.Request, int)) func(http.ResponseWriter, *http.Request, int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			_ = r.ParseForm()
			for _, k := range []string{"client_assertion", "assertion"} {
				if a := r.Form.Get(k); a != "" {
					assertions = append(assertions, a)
				}
			}
			next(w, r, n)
		}
	}
	responders := map[string]func(http.ResponseWriter, *http.Request, int){
		"echo":            echoEverything,
		"garbage 200":     jsonReply(200, `{"access_token":"`+testAccess+`","token_type":`),
		"unknown type":    jsonReply(200, `{"access_token":"`+testAccess+`","token_type":"weird"}`),
		"mac without key": jsonReply(200, `{"access_token":"`+testAccess+`","token_type":"mac"}`),
		"html 500": func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.WriteHeader(500)
			_, _ = io.WriteString(w, "<p>"+testAccess+"</p>")
		},
		"oversized": func(w http.ResponseWriter, _ *http.Request, _ int) {
			_, _ = io.WriteString(w, `{"access_token":"`+testAccess+strings.Repeat("x", DefaultMaxResponseBytes)+`"}`)
		},
	}
	ctx := context.Background()
	grants := map[string]func(*Client) error{
		"client_credentials": func(c *Client) error { _, err := c.ClientCredentials(ctx, nil); return err },
		"password":           func(c *Client) error { _, err := c.Password(ctx, "user", testPassword, nil); return err },
		"refresh":            func(c *Client) error { _, err := c.Refresh(ctx, testRefresh, nil); return err },
		"authorization_code": func(c *Client) error {
			_, err := c.AuthorizationCode(ctx, testCode, "http://127.0.0.1:1/callback", testVerifier)
			return err
		},
		"jwt_bearer": func(c *Client) error {
			_, err := c.JWTBearer(ctx, JWTBearerRequest{Subject: "tel:+34600000001"})
			return err
		},
		"exchange": func(c *Client) error {
			_, err := c.Exchange(ctx, ExchangeRequest{SubjectToken: testSubject, SubjectTokenType: "jwt"})
			return err
		},
	}
	authMethods := []string{config.AuthClientSecretBasic, config.AuthClientSecretPost, config.AuthPrivateKeyJWT, config.AuthClientSecretJWT}
	redactedSeen := false
	for rname, respond := range responders {
		for gname, grant := range grants {
			for _, am := range authMethods {
				for _, method := range []string{"POST", "GET"} {
					f := newFakeAS(t, capture(respond))
					c := newTestClient(t, f, Options{
						Method: method, AuthMethod: am,
						Credentials: staticCreds(Credentials{ClientID: testClientID, ClientSecret: testClientSecret, Key: key}),
					})
					err := grant(c)
					if err == nil {
						t.Fatalf("%s/%s/%s/%s: want an error", rname, gname, am, method)
					}
					msg := err.Error()
					secrets := append([]string{testClientSecret, testPassword, testRefresh, testSubject, testAccess, testCode, testVerifier,
						strings.TrimPrefix(BasicAuth(testClientID, testClientSecret), "Basic ")}, assertions...)
					for _, s := range secrets {
						if strings.Contains(msg, s) {
							t.Errorf("%s/%s/%s/%s: error contains a secret: %s", rname, gname, am, method, msg)
						}
					}
					if strings.Contains(msg, "[redacted]") {
						redactedSeen = true
					}
				}
			}
		}
	}
	if !redactedSeen {
		t.Error("the echo server never triggered redaction; the test is not exercising it")
	}
}
