package oidctest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/oauth-injector/oauth-injector/internal/testutil/pki"
)

// AuthTLSClient is RFC 8705 §2.1.1 PKI mutual-TLS client authentication.
const AuthTLSClient = "tls_client_auth"

// MTLSClientCN is the subject CN of the certificate the MTLS client
// authenticates with; the provider registers tls_client_auth_subject_dn
// "CN=" + MTLSClientCN for it.
const MTLSClientCN = "sidecar-client"

// CA is the project's throwaway test CA; the aliases keep this package's
// callers on oidctest names.
type CA = pki.CA

// KeyPair is a certificate issued by a CA and its private key.
type KeyPair = pki.KeyPair

// NewCA creates a self-signed P-256 CA named cn.
func NewCA(cn string) (*CA, error) { return pki.NewCA(cn) }

// MTLS is the material of a provider started with Options.MTLS. The files
// live in the test's temporary directory.
type MTLS struct {
	// CA signed both the server certificate and Client; the provider trusts
	// client certificates from it only.
	CA                            *CA
	CAFile                        string
	Client                        KeyPair
	ClientCertFile, ClientKeyFile string
}

// tlsConfig is the "tls" block of the node config.
type tlsConfig struct {
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	ClientCA string `json:"clientCA"`
}

// newMTLS creates the CA, the 127.0.0.1 server certificate and the client
// certificate, and returns the node config block.
func newMTLS() (*MTLS, *tlsConfig, error) {
	ca, err := NewCA("oidctest-ca")
	if err != nil {
		return nil, nil, err
	}
	srv, err := ca.ServerCert("127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	client, err := ca.ClientCert(MTLSClientCN)
	if err != nil {
		return nil, nil, err
	}
	return &MTLS{CA: ca, Client: client},
		&tlsConfig{Cert: string(srv.CertPEM), Key: string(srv.KeyPEM), ClientCA: string(ca.CertPEM)}, nil
}

// writeFiles puts the CA and the client pair into dir for file-based
// consumers such as the sidecar.
func (m *MTLS) writeFiles(dir string) error {
	m.CAFile = filepath.Join(dir, "mtls-ca.pem")
	m.ClientCertFile = filepath.Join(dir, "mtls-client.pem")
	m.ClientKeyFile = filepath.Join(dir, "mtls-client-key.pem")
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{m.CAFile, m.CA.CertPEM, 0o644}, {m.ClientCertFile, m.Client.CertPEM, 0o644}, {m.ClientKeyFile, m.Client.KeyPEM, 0o600}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("oidctest: write %s: %w", filepath.Base(f.path), err)
		}
	}
	return nil
}
