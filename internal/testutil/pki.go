package testutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/testutil/pki"
)

// CA is a throwaway certificate authority for TLS tests: pki.CA with
// methods that fail the test instead of returning errors.
type CA struct{ *pki.CA }

// Leaf is an issued certificate and its key, as a tls.Certificate and PEM.
type Leaf = pki.KeyPair

// NewCA creates a CA valid for the duration of any test.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := pki.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{ca}
}

// WritePEM writes the CA certificate into dir and returns the path.
func (ca *CA) WritePEM(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Server issues a server certificate for hosts (names or IP addresses).
func (ca *CA) Server(t testing.TB, hosts ...string) Leaf {
	t.Helper()
	l, err := ca.ServerCert(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Client issues a client certificate with the common name cn.
func (ca *CA) Client(t testing.TB, cn string) Leaf {
	t.Helper()
	l, err := ca.ClientCert(cn)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
