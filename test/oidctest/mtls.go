package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// AuthTLSClient is RFC 8705 §2.1.1 PKI mutual-TLS client authentication.
const AuthTLSClient = "tls_client_auth"

// MTLSClientCN is the subject CN of the certificate the MTLS client
// authenticates with; the provider registers tls_client_auth_subject_dn
// "CN=" + MTLSClientCN for it.
const MTLSClientCN = "sidecar-client"

// CA is a throw-away certificate authority for tests.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is the CA certificate, for a trust store.
	CertPEM []byte
}

// KeyPair is a PEM certificate and its PKCS#8 PEM private key.
type KeyPair struct {
	CertPEM, KeyPEM []byte
}

// NewCA creates a self-signed P-256 CA named cn, valid for a day.
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("oidctest: generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("oidctest: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("oidctest: parse CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// ServerCert issues a TLS server certificate for the given IP addresses.
func (ca *CA) ServerCert(ips ...net.IP) (KeyPair, error) {
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "oidctest-server"},
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// ClientCert issues a TLS client certificate whose subject is CN=cn.
func (ca *CA) ClientCert(cn string) (KeyPair, error) {
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *CA) issue(tmpl *x509.Certificate) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("oidctest: generate key for %s: %w", tmpl.Subject.CommonName, err)
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("oidctest: issue certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("oidctest: encode key for %s: %w", tmpl.Subject.CommonName, err)
	}
	return KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

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
	srv, err := ca.ServerCert(net.IPv4(127, 0, 0, 1))
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
