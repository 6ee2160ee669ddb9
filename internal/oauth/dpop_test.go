package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

func TestDPoPNonceRetry(t *testing.T) {
	type proofCall struct{ method, htu, nonce string }
	var calls []proofCall
	f := newFakeAS(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Header.Get("DPoP") == "proof-server-nonce-1" || r.Header.Get("DPoP") == "proof-server-nonce-2":
			w.Header().Set("DPoP-Nonce", "server-nonce-2")
			_, _ = io.WriteString(w, `{"access_token":"a","token_type":"DPoP","expires_in":60}`)
		default:
			w.Header().Set("DPoP-Nonce", "server-nonce-1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`)
		}
	})
	c := newTestClient(t, f, Options{
		TokenURL: f.URL + "/token?x=1",
		DPoP: func(method, htu, nonce string) (string, error) {
			calls = append(calls, proofCall{method, htu, nonce})
			return "proof-" + nonce, nil
		},
	})
	tok, err := c.ClientCredentials(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "dpop" {
		t.Errorf("TokenType = %q", tok.TokenType)
	}
	// A second call reuses the most recent nonce and needs no challenge.
	if _, err := c.ClientCredentials(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := []proofCall{
		{"POST", f.URL + "/token", ""},
		{"POST", f.URL + "/token", "server-nonce-1"},
		{"POST", f.URL + "/token", "server-nonce-2"},
	}
	if len(calls) != len(want) {
		t.Fatalf("proof calls = %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("proof call %d = %v, want %v", i, calls[i], want[i])
		}
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
}

func TestDPoPNonceRetriedOnlyOnce(t *testing.T) {
	n := 0
	f := newFakeAS(t, func(w http.ResponseWriter, _ *http.Request, i int) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("DPoP-Nonce", "nonce-"+string(rune('a'+i)))
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"use_dpop_nonce"}`)
	})
	c := newTestClient(t, f, Options{DPoP: func(_, _, _ string) (string, error) { n++; return "p", nil }})
	_, err := c.ClientCredentials(context.Background(), nil)
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != "use_dpop_nonce" {
		t.Fatalf("err = %v, want *Error use_dpop_nonce", err)
	}
	if got := len(f.requests()); got != 2 || n != 2 {
		t.Errorf("requests = %d, proofs = %d, want 2 and 2", got, n)
	}
}

// TestAssertionsRebuiltOnDPoPRetry: a server that checks jti replay has seen
// the first request's JWT when it asks for a DPoP nonce, so the retry must
// carry a new one, whether it is a client assertion or a grant assertion.
func TestAssertionsRebuiltOnDPoPRetry(t *testing.T) {
	tests := []struct {
		name, param, auth string
		call              func(*Client) error
	}{
		{"private_key_jwt client assertion", "client_assertion", config.AuthPrivateKeyJWT, func(c *Client) error {
			_, err := c.ClientCredentials(context.Background(), nil)
			return err
		}},
		{"jwt-bearer grant assertion", "assertion", config.AuthNone, func(c *Client) error {
			_, err := c.JWTBearer(context.Background(), JWTBearerRequest{Subject: "s"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAS(t, func(w http.ResponseWriter, _ *http.Request, i int) {
				w.Header().Set("Content-Type", "application/json")
				if i == 0 {
					w.Header().Set("DPoP-Nonce", "n1")
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, `{"error":"use_dpop_nonce"}`)
					return
				}
				_, _ = io.WriteString(w, okBody)
			})
			c := newTestClient(t, f, Options{
				AuthMethod:  tt.auth,
				Credentials: staticCreds(Credentials{ClientID: testClientID, Key: rsaKey(t)}),
				DPoP:        func(_, _, n string) (string, error) { return "p" + n, nil },
			})
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("requests = %d", len(reqs))
			}
			a0 := mustParseQuery(t, reqs[0].Body).Get(tt.param)
			a1 := mustParseQuery(t, reqs[1].Body).Get(tt.param)
			if a0 == "" || a0 == a1 {
				t.Errorf("retry reused the %s (jti must be fresh)", tt.param)
			}
		})
	}
}
