package sidecar

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// TestDPoPResourceNonce: a resource server that demands a DPoP nonce
// (RFC 9449 §9) answers 401 use_dpop_nonce with a DPoP-Nonce header; the
// sidecar must replay once with that nonce in a fresh proof, keep the same
// access token (no token refresh), and bind the proof to it with ath.
func TestDPoPResourceNonce(t *testing.T) {
	ts := &tokenServer{}
	ts.set(jsonToken(`{"access_token":"AT-dpop","token_type":"DPoP","expires_in":3600}`))
	tok := httptest.NewServer(ts)
	defer tok.Close()

	var calls atomic.Int64
	var lastNonce, lastAth, lastScheme atomic.Pointer[string]
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(r.Header.Get("DPoP"), claims); err != nil {
			http.Error(w, "no DPoP proof", 400)
			return
		}
		nonce, _ := claims["nonce"].(string)
		ath, _ := claims["ath"].(string)
		scheme := r.Header.Get("Authorization")
		lastNonce.Store(&nonce)
		lastAth.Store(&ath)
		lastScheme.Store(&scheme)
		if nonce != "server-nonce-1" {
			w.Header().Set("DPoP-Nonce", "server-nonce-1")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
			w.WriteHeader(401)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()

	sc := startSidecar(t, bearerBinding(t, tok.URL, up.URL, func(b *config.Binding) {
		b.PoP = &config.PoP{Type: config.PoPDPoP}
	}))
	resp, body := get(t, sc.url+"/r?x=1", nil)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	if calls.Load() != 2 {
		t.Fatalf("resource calls = %d, want 2 (challenge + replay)", calls.Load())
	}
	if ts.calls.Load() != 1 {
		t.Fatalf("token calls = %d: a nonce challenge must not refresh the token", ts.calls.Load())
	}
	if *lastScheme.Load() != "DPoP AT-dpop" || *lastAth.Load() != signing.ATH("AT-dpop") {
		t.Fatalf("replay sent %q with ath %q", *lastScheme.Load(), *lastAth.Load())
	}
	// The nonce is remembered: the next request needs no challenge.
	if resp, _ = get(t, sc.url+"/r", nil); resp.StatusCode != 200 || calls.Load() != 3 {
		t.Fatalf("second request: status %d after %d resource calls, want 200 after 3", resp.StatusCode, calls.Load())
	}
}
