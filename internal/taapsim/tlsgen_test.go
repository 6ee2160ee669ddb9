package taapsim

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	cfg, err := SelfSignedTLS(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(caPEM), "PRIVATE KEY") {
		t.Fatal("ca.pem contains a private key")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem has no certificate")
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()
	port := srv.Listener.Addr().String()[strings.LastIndexByte(srv.Listener.Addr().String(), ':'):]

	for _, tt := range []struct {
		name       string
		serverName string
		roots      *x509.CertPool
		wantErr    bool
	}{
		{"trusted by ca.pem as 127.0.0.1", "", pool, false},
		{"trusted by ca.pem as localhost", "localhost", pool, false},
		{"other name", "example.com", pool, true},
		{"system roots do not trust it", "", x509.NewCertPool(), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tt.roots, ServerName: tt.serverName}}}
			resp, err := c.Get("https://127.0.0.1" + port)
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("handshake succeeded, want failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
}
