package sidecar

import (
	"net/http"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// TestProviderTLSClientAuth runs RFC 8705 tls_client_auth end to end: the
// provider speaks HTTPS, asks for a client certificate and authenticates the
// client by the certificate alone (no secret, no assertion). The sidecar
// presents the mounted tlsCertFile/tlsKeyFile to the token endpoint and
// trusts the provider through tokenEndpoint.caFile and upstream.caFile.
func TestProviderTLSClientAuth(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60e9, MTLS: true})
	otherCA, err := oidctest.NewCA("untrusted-ca")
	if err != nil {
		t.Fatal(err)
	}
	// Same subject as the registered one, so only the issuing CA is wrong.
	foreign, err := otherCA.ClientCert(oidctest.MTLSClientCN)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		cert, key  []byte
		wantDetail string // empty: the resource accepts the sidecar's token
		// The sidecar's answer when the provider refuses the client.
		wantStatus int
		wantCode   string
	}{
		{name: "certificate from the trusted CA", cert: p.MTLS.Client.CertPEM, key: p.MTLS.Client.KeyPEM},
		{name: "certificate from another CA", cert: foreign.CertPEM, key: foreign.KeyPEM, wantDetail: "invalid_client",
			// Refused credentials are permanent: 403, not a 503 inviting
			// retries (docs/config.md, errors the sidecar returns).
			wantStatus: http.StatusForbidden, wantCode: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newSecrets(t)
			auth := config.ClientAuth{
				Method:       config.AuthTLSClientAuth,
				ClientIDFile: sec.file("mtls-id", p.MTLSClient.ID),
				TLSCertFile:  sec.file("tls.crt", string(tt.cert)),
				TLSKeyFile:   sec.file("tls.key", string(tt.key)),
			}
			b := p.binding("mtls", config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"api:read"}}, auth, nil)
			b.TokenEndpoint.CAFile = p.MTLS.CAFile
			b.Upstream.CAFile = p.MTLS.CAFile
			wait := waitStartup
			if tt.wantDetail != "" {
				wait = waitLive
			}
			sc := startSidecar(t, newConfig(t, b), wait)
			r := appCall(t, http.MethodGet, sc.url("mtls", "/resource/items"), appHeaders(), nil)
			if tt.wantDetail == "" {
				checkAccepted(t, r, p.MTLSClient.ID, "Bearer")
				if got := r.str("scope"); got != "api:read" {
					t.Errorf("scope = %q, want api:read", got)
				}
				return
			}
			if r.status != tt.wantStatus || r.str("error") != tt.wantCode ||
				r.header.Get("X-OAuth-Injector-Error") != tt.wantCode {
				t.Fatalf("want %d %s from the sidecar, got %v", tt.wantStatus, tt.wantCode, r)
			}
			if ra := r.header.Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After %q on a permanent error", ra)
			}
			if !strings.Contains(r.str("detail"), tt.wantDetail) {
				t.Errorf("detail %q does not mention %q", r.str("detail"), tt.wantDetail)
			}
			if strings.Contains(string(r.raw), "PRIVATE KEY") {
				t.Error("the client key leaked into the error")
			}
		})
	}
}
