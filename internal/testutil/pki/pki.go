// Package pki is the one throwaway certificate authority that tests and test
// harnesses issue TLS server and client certificates from. It returns errors
// instead of taking a testing.TB because harness code that runs outside a
// test function (test/oidctest starting a provider) needs it too;
// internal/testutil wraps it for tests. It is test support only: production
// binaries (the taapsim simulator included) must not import it.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"time"
)

// validity is generous so a certificate never expires during a slow run;
// NotBefore is backdated for the same reason against a skewed clock.
const validity = 24 * time.Hour

// CA is a self-signed P-256 certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is the CA certificate, for a caFile or a trust store.
	CertPEM []byte
	// Pool holds the CA certificate, for RootCAs or ClientCAs.
	Pool *x509.CertPool
}

// KeyPair is an issued certificate with its PKCS#8 private key, both as PEM
// for files and configs and as a ready tls.Certificate.
type KeyPair struct {
	CertPEM, KeyPEM []byte
	TLS             tls.Certificate
}

// NewCA creates a CA whose subject is CN=cn.
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate key for CA %q: %w", cn, err)
	}
	tmpl := template(cn)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA %q: %w", cn, err)
	}
	ca := &CA{cert: cert, key: key, Pool: x509.NewCertPool(),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.Pool.AddCert(cert)
	return ca, nil
}

// ServerCert issues a server certificate for hosts, each a DNS name or an IP
// address; the first is also the subject CN.
func (ca *CA) ServerCert(hosts ...string) (KeyPair, error) {
	if len(hosts) == 0 {
		return KeyPair{}, errors.New("pki: server certificate: hosts is empty; name at least one DNS name or IP address")
	}
	tmpl := template(hosts[0])
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return ca.issue(tmpl)
}

// ClientCert issues a client certificate whose subject is CN=cn.
func (ca *CA) ClientCert(cn string) (KeyPair, error) {
	tmpl := template(cn)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.issue(tmpl)
}

func (ca *CA) issue(tmpl *x509.Certificate) (KeyPair, error) {
	cn := tmpl.Subject.CommonName
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("pki: generate key for %q: %w", cn, err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("pki: issue certificate for %q: %w", cn, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("pki: encode key for %q: %w", cn, err)
	}
	kp := KeyPair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
	if kp.TLS, err = tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		return KeyPair{}, fmt.Errorf("pki: load issued pair for %q: %w", cn, err)
	}
	return kp, nil
}

// template is what every certificate here shares: the subject and the
// validity window. SerialNumber stays nil so CreateCertificate picks a
// random RFC 5280 serial itself.
func template(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity)}
}
