package pop

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testPassphrase = "test-only-passphrase"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRSAKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(readTestdata(t, name), nil)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%s: got %T, want RSA", name, k)
	}
	return rk
}

func TestParsePrivateKey(t *testing.T) {
	ref := testRSAKey(t, "rsa_pkcs8.pem")
	tests := []struct {
		file    string
		pass    string
		wantRSA bool // else ECDSA
		same    bool // same key as rsa_pkcs8.pem
	}{
		{file: "rsa_pkcs8.pem", wantRSA: true, same: true},
		{file: "rsa_pkcs1.pem", wantRSA: true, same: true},
		{file: "rsa_pkcs8_aes256.pem", pass: testPassphrase, wantRSA: true, same: true},
		{file: "rsa_pkcs8_des3.pem", pass: testPassphrase, wantRSA: true, same: true},
		{file: "rsa_legacy_aes256.pem", pass: testPassphrase, wantRSA: true, same: true},
		{file: "ec_sec1.pem"},
		{file: "ec_pkcs8.pem"},
		// A passphrase given for a plain key is harmless.
		{file: "rsa_pkcs1.pem", pass: "unused", wantRSA: true, same: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			k, err := ParsePrivateKey(readTestdata(t, tt.file), []byte(tt.pass))
			if err != nil {
				t.Fatalf("ParsePrivateKey: %v", err)
			}
			switch k := k.(type) {
			case *rsa.PrivateKey:
				if !tt.wantRSA {
					t.Fatalf("got RSA, want ECDSA")
				}
				if tt.same && !k.Equal(ref) {
					t.Fatalf("decoded a different key than rsa_pkcs8.pem")
				}
			case *ecdsa.PrivateKey:
				if tt.wantRSA {
					t.Fatalf("got ECDSA, want RSA")
				}
			default:
				t.Fatalf("got %T", k)
			}
		})
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	ecParamsThenKey := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), readTestdata(t, "ec_sec1.pem")...)
	if _, err := ParsePrivateKey(ecParamsThenKey, nil); err != nil {
		t.Fatalf("EC PARAMETERS before the key must be skipped: %v", err)
	}

	ed25519PKCS8 := []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n")
	corruptAES := corruptPEM(t, readTestdata(t, "rsa_pkcs8_aes256.pem"))
	truncated := truncatePEM(t, readTestdata(t, "rsa_pkcs8_aes256.pem"), 7)

	tests := []struct {
		name    string
		data    []byte
		pass    string
		is      error
		wantMsg string
	}{
		{name: "certificate", data: readTestdata(t, "rsa_cert.pem"),
			wantMsg: `private key: found PEM block "CERTIFICATE"; want RSA PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY`},
		{name: "public key", data: readTestdata(t, "rsa_public_pkix.pem"),
			wantMsg: `private key: found PEM block "PUBLIC KEY"; want`},
		{name: "pkcs8 without passphrase", data: readTestdata(t, "rsa_pkcs8_aes256.pem"), is: ErrPassphraseRequired,
			wantMsg: `private key: "ENCRYPTED PRIVATE KEY" is encrypted but no passphrase was given`},
		{name: "legacy without passphrase", data: readTestdata(t, "rsa_legacy_aes256.pem"), is: ErrPassphraseRequired,
			wantMsg: `private key: "RSA PRIVATE KEY" is encrypted (Proc-Type: 4,ENCRYPTED) but no passphrase was given`},
		{name: "pkcs8 aes wrong passphrase", data: readTestdata(t, "rsa_pkcs8_aes256.pem"), pass: "bad-secret-9f3", is: ErrWrongPassphrase,
			wantMsg: "private key: wrong passphrase or corrupt key"},
		{name: "pkcs8 des3 wrong passphrase", data: readTestdata(t, "rsa_pkcs8_des3.pem"), pass: "bad-secret-9f3", is: ErrWrongPassphrase,
			wantMsg: "private key: wrong passphrase or corrupt key"},
		{name: "legacy wrong passphrase", data: readTestdata(t, "rsa_legacy_aes256.pem"), pass: "bad-secret-9f3", is: ErrWrongPassphrase,
			wantMsg: "private key: wrong passphrase or corrupt key"},
		{name: "pkcs8 corrupt ciphertext", data: corruptAES, pass: testPassphrase, is: ErrWrongPassphrase},
		{name: "pkcs8 truncated ciphertext", data: truncated, pass: testPassphrase},
		{name: "DER", data: readTestdata(t, "rsa_pkcs8.der"),
			wantMsg: "private key: no PEM block found (is this DER or a public key?)"},
		{name: "garbage", data: []byte("hello world"), wantMsg: "no PEM block found"},
		{name: "empty", data: nil, wantMsg: "no PEM block found"},
		{name: "broken pkcs1", data: pemBlock("RSA PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}),
			wantMsg: `private key: parse "RSA PRIVATE KEY" (PKCS#1)`},
		{name: "broken pkcs8", data: pemBlock("PRIVATE KEY", []byte("nope")),
			wantMsg: `private key: parse "PRIVATE KEY" (PKCS#8)`},
		{name: "broken sec1", data: pemBlock("EC PRIVATE KEY", []byte("nope")),
			wantMsg: `private key: parse "EC PRIVATE KEY" (SEC1)`},
		{name: "broken encrypted", data: pemBlock("ENCRYPTED PRIVATE KEY", []byte("nope")), pass: "x",
			wantMsg: "not a valid EncryptedPrivateKeyInfo"},
		{name: "ed25519", data: ed25519PKCS8, wantMsg: "want an RSA or ECDSA key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.data, []byte(tt.pass))
			if err == nil {
				t.Fatalf("got key %T, want error", k)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if tt.pass != "" && strings.Contains(err.Error(), tt.pass) {
				t.Errorf("error %q leaks the passphrase", err)
			}
		})
	}
}

func TestLoadPrivateKey(t *testing.T) {
	dir := t.TempDir()
	crlf := filepath.Join(dir, "pass-crlf")
	if err := os.WriteFile(crlf, []byte(testPassphrase+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	td := func(n string) string { return filepath.Join("testdata", n) }
	tests := []struct {
		name, key, pass, wantErr string
	}{
		{name: "plain", key: td("rsa_pkcs1.pem")},
		{name: "passphrase file with newline", key: td("rsa_pkcs8_des3.pem"), pass: td("passphrase.txt")},
		{name: "passphrase file with CRLF", key: td("rsa_pkcs8_aes256.pem"), pass: crlf},
		{name: "empty passphrase file", key: td("rsa_pkcs8_aes256.pem"), pass: empty, wantErr: "is empty"},
		{name: "missing key file", key: filepath.Join(dir, "nope"), wantErr: "read key file"},
		{name: "missing passphrase file", key: td("rsa_pkcs8.pem"), pass: filepath.Join(dir, "nope"), wantErr: "read passphrase file"},
		{name: "names the file", key: td("rsa_cert.pem"), wantErr: "rsa_cert.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadPrivateKey(tt.key, tt.pass)
			if tt.wantErr == "" {
				if err != nil || k == nil {
					t.Fatalf("LoadPrivateKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	ref := testRSAKey(t, "rsa_pkcs8.pem")
	for _, f := range []string{"rsa_public_pkix.pem", "rsa_public_pkcs1.pem", "rsa_cert.pem"} {
		t.Run(f, func(t *testing.T) {
			k, err := ParsePublicKey(readTestdata(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if !ref.PublicKey.Equal(k) {
				t.Fatalf("got a different public key")
			}
		})
	}
	bad := []struct {
		name, wantMsg string
		data          []byte
	}{
		{"private key", `found private key PEM block "PRIVATE KEY"`, readTestdata(t, "rsa_pkcs8.pem")},
		{"DER", "no PEM block found", readTestdata(t, "rsa_pkcs8.der")},
		{"other block", `found PEM block "FOO"`, pemBlock("FOO", []byte("x"))},
		{"broken pkix", `parse "PUBLIC KEY"`, pemBlock("PUBLIC KEY", []byte("x"))},
		{"broken pkcs1", `parse "RSA PUBLIC KEY"`, pemBlock("RSA PUBLIC KEY", []byte("x"))},
		{"broken cert", `parse "CERTIFICATE"`, pemBlock("CERTIFICATE", []byte("x"))},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicKey(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// corruptPEM flips a byte near the end of the DER (inside the ciphertext).
func corruptPEM(t testing.TB, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	der := append([]byte(nil), b.Bytes...)
	der[len(der)-20] ^= 0xff
	return pemBlock(b.Type, der)
}

// truncatePEM drops n bytes of ciphertext while keeping the ASN.1 valid is
// impossible, so it simply cuts the DER: the parser must fail cleanly.
func truncatePEM(t testing.TB, data []byte, n int) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	return pemBlock(b.Type, b.Bytes[:len(b.Bytes)-n])
}
