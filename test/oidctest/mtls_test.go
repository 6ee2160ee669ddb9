package oidctest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// mtlsClient trusts the provider's CA and presents pair (when non-nil).
func mtlsClient(t *testing.T, s *Server, pair *KeyPair) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.MTLS.CA.CertPEM) {
		t.Fatal("CA PEM did not parse")
	}
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if pair != nil {
		c, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func doWith(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, body: map[string]any{}}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("status %d, body is not JSON: %q", res.StatusCode, raw)
	}
	return r
}

func TestMTLSClientAuth(t *testing.T) {
	s := Start(t, Options{MTLS: true})
	if !strings.HasPrefix(s.TokenEndpoint, "https://") || s.MTLS == nil || s.MTLS.CAFile == "" {
		t.Fatalf("MTLS provider: token endpoint %q, material %+v", s.TokenEndpoint, s.MTLS)
	}
	otherCA, err := NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherCA.ClientCert(MTLSClientCN)
	if err != nil {
		t.Fatal(err)
	}
	wrongCN, err := s.MTLS.CA.ClientCert("someone-else")
	if err != nil {
		t.Fatal(err)
	}
	good := s.MTLS.Client

	tests := []struct {
		name      string
		pair      *KeyPair
		wantError string // empty: a token the resource accepts
	}{
		{"issued by the trusted CA", &good, ""},
		{"no certificate", nil, "invalid_client"},
		{"same subject, other CA", &foreign, "invalid_client"},
		{"trusted CA, other subject", &wrongCN, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mtlsClient(t, s, tc.pair)
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.MTLSClient.ID}, "scope": {"api:read"}}
			req, err := http.NewRequest(http.MethodPost, s.TokenEndpoint, strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r := doWith(t, c, req)
			if tc.wantError != "" {
				wantError(t, r, http.StatusUnauthorized, tc.wantError)
				return
			}
			tok := wantToken(t, r)
			req, err = http.NewRequest(http.MethodGet, s.ResourceEndpoint, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			res := doWith(t, c, req)
			if res.status != http.StatusOK || res.str("client_id") != s.MTLSClient.ID || res.str("scope") != "api:read" {
				t.Fatalf("resource answered %d %v, want 200 for %s with api:read", res.status, res.body, s.MTLSClient.ID)
			}
		})
	}

	// The secret-based clients keep working when the provider speaks HTTPS.
	t.Run("client_secret_basic over https", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}}
		req, err := http.NewRequest(http.MethodPost, s.TokenEndpoint, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		basicAuth(basicClient)(t, s, form, req.Header)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wantToken(t, doWith(t, mtlsClient(t, s, nil), req))
	})
}

// TestNoMTLSByDefault pins that the option is opt-in: plain HTTP, no extra
// client, no TLS material.
func TestNoMTLSByDefault(t *testing.T) {
	s := Start(t, Options{})
	if !strings.HasPrefix(s.TokenEndpoint, "http://") || s.MTLS != nil || s.MTLSClient.ID != "" {
		t.Fatalf("default provider: token endpoint %q, MTLS %v, client %+v", s.TokenEndpoint, s.MTLS, s.MTLSClient)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls-client"}}
	wantError(t, postForm(t, s, s.TokenEndpoint, nil, form, nil), http.StatusUnauthorized, "invalid_client")
}
