package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestIssuedCertificatesVerify(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.ServerCert("api.test", "127.0.0.1", "::1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.ClientCert("sidecar-client")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		pair    KeyPair
		roots   *x509.CertPool
		host    string
		usage   x509.ExtKeyUsage
		wantErr bool
	}{
		{"server by DNS name", server, ca.Pool, "api.test", x509.ExtKeyUsageServerAuth, false},
		{"server by IPv4", server, ca.Pool, "127.0.0.1", x509.ExtKeyUsageServerAuth, false},
		{"server by IPv6", server, ca.Pool, "::1", x509.ExtKeyUsageServerAuth, false},
		{"server, name not issued", server, ca.Pool, "other.test", x509.ExtKeyUsageServerAuth, true},
		{"server, untrusted CA", server, other.Pool, "api.test", x509.ExtKeyUsageServerAuth, true},
		{"server used as client", server, ca.Pool, "", x509.ExtKeyUsageClientAuth, true},
		{"client", client, ca.Pool, "", x509.ExtKeyUsageClientAuth, false},
		{"client used as server", client, ca.Pool, "", x509.ExtKeyUsageServerAuth, true},
		{"client, untrusted CA", client, other.Pool, "", x509.ExtKeyUsageClientAuth, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf := tt.pair.TLS.Leaf
			if leaf == nil {
				t.Fatal("KeyPair.TLS has no parsed leaf")
			}
			block, _ := pem.Decode(tt.pair.CertPEM)
			if block == nil || !bytes.Equal(block.Bytes, leaf.Raw) {
				t.Fatal("CertPEM and TLS hold different certificates")
			}
			_, err := leaf.Verify(x509.VerifyOptions{Roots: tt.roots, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Verify error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
	if got := client.TLS.Leaf.Subject.CommonName; got != "sidecar-client" {
		t.Errorf("client CN = %q, want sidecar-client", got)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA CertPEM does not parse")
	}
	if _, err := client.TLS.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client does not verify against CertPEM: %v", err)
	}
}

func TestServerCertNeedsAHost(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServerCert(); err == nil || !strings.Contains(err.Error(), "hosts") {
		t.Fatalf("ServerCert() error = %v, want one naming hosts", err)
	}
}
