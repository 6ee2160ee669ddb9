package sidecar

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// TestProviderClientSecretJWT: the assertion's aud can be configured; one
// keyed with a wrong
// secret is refused by the provider's own verification (invalid_client),
// which the app sees as a permanent 403 naming that code; a secret too short
// for HS256 never leaves the sidecar and is a 503 that says why. Neither
// reply carries the secret. The token endpoint is reached through a counting
// proxy, so the assertion's audience is configured as the provider's real
// token URL (clientAuth.audience), which the provider checks.
func TestProviderClientSecretJWT(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60 * time.Second})
	tests := []struct {
		name       string
		secret     string
		wantStatus int
		wantCode   string
		wantDetail string
		wantSent   bool // a token request reached the provider
	}{
		{name: "configured audience", secret: p.SecretJWTClient.Secret, wantStatus: http.StatusOK, wantSent: true},
		{name: "wrong secret", secret: p.SecretJWTClient.Secret + "-rotated-away", wantStatus: http.StatusForbidden, wantCode: "invalid_client", wantSent: true},
		{name: "secret too short for HS256", secret: "short-secret", wantStatus: http.StatusServiceUnavailable, wantCode: "token_unavailable",
			wantDetail: "client secret is 12 bytes; client_secret_jwt signs with HS256, which needs at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newSecrets(t)
			auth := config.ClientAuth{Method: config.AuthClientSecretJWT, ClientIDFile: sec.file("id", p.SecretJWTClient.ID),
				ClientSecretFile: sec.file("secret", tt.secret), Audience: p.TokenEndpoint}
			tokenURL, sent := countingProxy(t, p.TokenEndpoint)
			b := p.binding("hmac", config.Grant{Type: config.GrantClientCredentials}, auth, nil)
			b.TokenEndpoint.URL = tokenURL
			sc := startSidecar(t, newConfig(t, b), waitLive)
			r := appCall(t, http.MethodGet, sc.url("hmac", "/resource"), nil, nil)
			if tt.wantStatus == http.StatusOK {
				checkAccepted(t, r, p.SecretJWTClient.ID, "Bearer")
				return
			}
			if r.status != tt.wantStatus || r.str("error") != tt.wantCode || r.header.Get("X-OAuth-Injector-Error") != tt.wantCode {
				t.Fatalf("want %d %s from the sidecar, got %v", tt.wantStatus, tt.wantCode, r)
			}
			if !strings.Contains(r.str("detail"), tt.wantDetail) {
				t.Errorf("detail %q does not say %q", r.str("detail"), tt.wantDetail)
			}
			if strings.Contains(string(r.raw), tt.secret) || strings.Contains(sc.logs.String(), tt.secret) {
				t.Error("the client secret leaked into the reply or the logs")
			}
			if got := sent.Load() > 0; got != tt.wantSent {
				t.Errorf("token request reached the provider: %v, want %v", got, tt.wantSent)
			}
		})
	}
}
