package oidctest

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// pollCIBA polls until the answer is no longer authorization_pending,
// honouring the advertised interval. It returns every error code seen on the
// way and the final response.
func pollCIBA(t *testing.T, s *Server, auth clientAuth, authReqID string, interval time.Duration) ([]string, response) {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := postForm(t, s, s.TokenEndpoint, auth, url.Values{"grant_type": {GrantCIBA}, "auth_req_id": {authReqID}}, nil)
		if r.str("error") != "authorization_pending" {
			return seen, r
		}
		seen = append(seen, r.str("error"))
		if time.Now().After(deadline) {
			t.Fatalf("still pending after 60s")
		}
		time.Sleep(interval)
	}
}

func TestCIBA(t *testing.T) {
	s := Start(t, Options{CIBAApproveDelay: 2 * time.Second})
	tests := []struct {
		name      string
		auth      clientAuth
		form      url.Values
		wantStart string // error from the backchannel endpoint, if any
		wantFinal string // error from polling, "" for a token
	}{
		{name: "tel hint with Open Gateway purpose, basic", auth: basicAuth(basicClient),
			form: url.Values{"login_hint": {"tel:+34655555555"}, "purpose": {"dpv:FraudPreventionAndDetection#sim-swap"}}},
		{name: "ipport hint with scope, post", auth: postAuth(postClient),
			form: url.Values{"login_hint": {"ipport:80.90.34.2:16790"}, "scope": {"openid sim-swap"}, "binding_message": {"W4SCT"}}},
		{name: "ipv6 ipport hint, private_key_jwt", auth: jwtAuth,
			form: url.Values{"login_hint": {"ipport:[2001:db8::1]:8080"}, "purpose": {"dpv:FraudPreventionAndDetection#sim-swap"}}},
		{name: "denied subscriber", auth: basicAuth(basicClient),
			form:      url.Values{"login_hint": {"tel:+34000000000"}, "purpose": {"dpv:FraudPreventionAndDetection#sim-swap"}},
			wantFinal: "access_denied"},
		{name: "malformed login_hint", auth: basicAuth(basicClient),
			form: url.Values{"login_hint": {"+34655555555"}, "scope": {"openid"}}, wantStart: "invalid_request"},
		{name: "missing login_hint", auth: basicAuth(basicClient),
			form: url.Values{"scope": {"openid"}}, wantStart: "invalid_request"},
		{name: "invalid binding_message", auth: basicAuth(basicClient),
			form:      url.Values{"login_hint": {"tel:+34655555555"}, "scope": {"openid"}, "binding_message": {"way too long for a binding message"}},
			wantStart: "invalid_binding_message"},
		{name: "public client may not use CIBA", auth: publicAuth,
			form: url.Values{"login_hint": {"tel:+34655555555"}, "scope": {"openid"}}, wantStart: "invalid_request"},
		{name: "well-formed hint of no subscriber", auth: basicAuth(basicClient),
			form: url.Values{"login_hint": {"tel:+34999999999"}, "scope": {"openid"}}, wantStart: "unknown_user_id"},
		{name: "opaque hint refused by an Open Gateway operator", auth: basicAuth(basicClient),
			form: url.Values{"login_hint": {"alice@example.com"}, "scope": {"openid"}}, wantStart: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := postForm(t, s, s.BackchannelAuthenticationEndpoint, tt.auth, tt.form, nil)
			if tt.wantStart != "" {
				if start.status < 400 || start.str("error") != tt.wantStart {
					t.Fatalf("backchannel: %d %v, want error %s", start.status, start.body, tt.wantStart)
				}
				return
			}
			id := start.str("auth_req_id")
			if start.status != 200 || id == "" || start.num("expires_in") <= 0 || start.num("interval") != 1 {
				t.Fatalf("backchannel: %d %v", start.status, start.body)
			}
			pending, final := pollCIBA(t, s, tt.auth, id, s.CIBAInterval)
			// The device answers after 2s and the first poll is immediate.
			if len(pending) == 0 {
				t.Fatal("never saw authorization_pending before the answer")
			}
			if tt.wantFinal != "" {
				wantError(t, final, 400, tt.wantFinal)
				return
			}
			at := wantToken(t, final)
			if final.str("scope") != "sim-swap" || final.str("id_token") == "" {
				t.Fatalf("token response %v: want scope sim-swap and an id_token", final.body)
			}
			res := callResource(t, s, "Bearer", at, "")
			if res.status != 200 || res.str("sub") != tt.form.Get("login_hint") {
				t.Fatalf("resource: %d %v", res.status, res.body)
			}
			// The grant is consumed: the same auth_req_id cannot be redeemed twice.
			again := postForm(t, s, s.TokenEndpoint, tt.auth, url.Values{"grant_type": {GrantCIBA}, "auth_req_id": {id}}, nil)
			wantError(t, again, 400, "invalid_grant")
		})
	}
}

// TestCIBAOpaqueLoginHints: with opaque hints on, an e-mail address or a
// user id names the account, and unknown ones still get unknown_user_id.
func TestCIBAOpaqueLoginHints(t *testing.T) {
	s := Start(t, Options{CIBAApproveDelay: time.Second, CIBAOpaqueLoginHints: true, CIBAUnknownLoginHints: []string{"nobody@example.com"}})
	auth := basicAuth(basicClient)
	for _, hint := range []string{"alice@example.com", "user-42"} {
		start := postForm(t, s, s.BackchannelAuthenticationEndpoint, auth, url.Values{"login_hint": {hint}, "scope": {"openid sim-swap"}}, nil)
		if start.status != 200 || start.str("auth_req_id") == "" {
			t.Fatalf("backchannel for %q: %d %v", hint, start.status, start.body)
		}
		_, final := pollCIBA(t, s, auth, start.str("auth_req_id"), s.CIBAInterval)
		if res := callResource(t, s, "Bearer", wantToken(t, final), ""); res.status != 200 || res.str("sub") != hint {
			t.Fatalf("resource for %q: %d %v", hint, res.status, res.body)
		}
	}
	r := postForm(t, s, s.BackchannelAuthenticationEndpoint, auth, url.Values{"login_hint": {"nobody@example.com"}, "scope": {"openid"}}, nil)
	wantError(t, r, 400, "unknown_user_id")
}

func TestCIBASlowDown(t *testing.T) {
	s := Start(t, Options{CIBAApproveDelay: time.Minute, CIBAInterval: 5 * time.Second, CIBAEnforceInterval: true})
	start := postForm(t, s, s.BackchannelAuthenticationEndpoint, basicAuth(basicClient),
		url.Values{"login_hint": {"tel:+34655555555"}, "scope": {"openid sim-swap"}}, nil)
	if start.num("interval") != 5 {
		t.Fatalf("backchannel: %d %v, want interval 5", start.status, start.body)
	}
	// Polling right away, well inside the 5s interval, is too fast.
	r := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), url.Values{"grant_type": {GrantCIBA}, "auth_req_id": {start.str("auth_req_id")}}, nil)
	wantError(t, r, 400, "slow_down")
}

func TestDPoP(t *testing.T) {
	for _, nonce := range []bool{false, true} {
		name := map[bool]string{false: "without nonce", true: "nonce required"}[nonce]
		t.Run(name, func(t *testing.T) {
			s := Start(t, Options{DPoPNonceRequired: nonce})
			key := newECKey(t)
			form := url.Values{"grant_type": {"client_credentials"}}
			proof := dpopProof(t, key, http.MethodPost, s.TokenEndpoint, "", "")
			r := postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), form, http.Header{"Dpop": {proof}})
			if nonce {
				wantError(t, r, 400, "use_dpop_nonce")
				n := r.header.Get("DPoP-Nonce")
				if n == "" {
					t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
				}
				proof = dpopProof(t, key, http.MethodPost, s.TokenEndpoint, n, "")
				r = postForm(t, s, s.TokenEndpoint, basicAuth(basicClient), form, http.Header{"Dpop": {proof}})
			}
			at := wantToken(t, r)
			if r.str("token_type") != "DPoP" {
				t.Fatalf("token_type %q, want DPoP", r.str("token_type"))
			}

			htu := s.ResourceEndpoint + "/echo"
			other := newECKey(t)
			replayed := dpopProof(t, key, http.MethodGet, htu, "", at)
			tests := []struct {
				name, scheme, proof string
				wantErr             string
			}{
				{name: "valid proof", scheme: "DPoP", proof: replayed},
				{name: "replayed proof", scheme: "DPoP", proof: replayed, wantErr: "invalid_dpop_proof"},
				{name: "Bearer scheme for a bound token", scheme: "Bearer", wantErr: "invalid_token"},
				{name: "missing proof", scheme: "DPoP", wantErr: "invalid_dpop_proof"},
				{name: "proof without ath", scheme: "DPoP", proof: dpopProof(t, key, http.MethodGet, htu, "", ""), wantErr: "invalid_dpop_proof"},
				{name: "ath of another token", scheme: "DPoP", proof: dpopProof(t, key, http.MethodGet, htu, "", at+"x"), wantErr: "invalid_dpop_proof"},
				{name: "wrong method", scheme: "DPoP", proof: dpopProof(t, key, http.MethodPost, htu, "", at), wantErr: "invalid_dpop_proof"},
				{name: "wrong URL", scheme: "DPoP", proof: dpopProof(t, key, http.MethodGet, s.Issuer+"/other", "", at), wantErr: "invalid_dpop_proof"},
				{name: "key not bound to the token", scheme: "DPoP", proof: dpopProof(t, other, http.MethodGet, htu, "", at), wantErr: "invalid_dpop_proof"},
			}
			// Sequential on purpose: "replayed proof" reuses the first row's proof.
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res := callResource(t, s, tt.scheme, at, tt.proof)
					if tt.wantErr != "" {
						wantError(t, res, 401, tt.wantErr)
						return
					}
					if res.status != 200 || res.str("scheme") != "DPoP" || res.str("client_id") != "basic-client" {
						t.Fatalf("resource: %d %v", res.status, res.body)
					}
				})
			}
		})
	}
}

func TestDPoPRefreshIsKeyBound(t *testing.T) {
	s := Start(t, Options{})
	key := newECKey(t)
	pw := postForm(t, s, s.TokenEndpoint, publicAuth, url.Values{
		"grant_type": {"password"}, "username": {s.Username}, "password": {s.Password},
	}, http.Header{"Dpop": {dpopProof(t, key, http.MethodPost, s.TokenEndpoint, "", "")}})
	wantToken(t, pw)
	if pw.str("token_type") != "DPoP" || pw.str("refresh_token") == "" {
		t.Fatalf("password grant: %v", pw.body)
	}
	refresh := func(k string) response {
		proofKey := key
		if k == "other" {
			proofKey = newECKey(t)
		}
		return postForm(t, s, s.TokenEndpoint, publicAuth, url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {pw.str("refresh_token")},
		}, http.Header{"Dpop": {dpopProof(t, proofKey, http.MethodPost, s.TokenEndpoint, "", "")}})
	}
	// A public client's refresh token is bound to its DPoP key.
	wantError(t, refresh("other"), 400, "invalid_grant")
	r := refresh("same")
	at := wantToken(t, r)
	res := callResource(t, s, "DPoP", at, dpopProof(t, key, http.MethodGet, s.ResourceEndpoint+"/echo", "", at))
	if res.status != 200 || res.str("sub") != s.Username {
		t.Fatalf("resource: %d %v", res.status, res.body)
	}
}
