package pop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
)

// BenchmarkRawRS256Sign is the floor Mint is measured against: one
// PKCS#1 v1.5 SHA-256 signature with the same key over a signing input as
// long as a real PoP token's.
func BenchmarkRawRS256Sign(b *testing.B) {
	key := testRSAKey(b, "rsa_pkcs8.pem")
	key.Precompute()
	input := []byte(benchMint(b, key, false))
	input = input[:strings.LastIndexByte(string(input), '.')]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := sha256.Sum256(input)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoPMint mints a full token for a POST with a small JSON body.
func BenchmarkPoPMint(b *testing.B) {
	key := testRSAKey(b, "rsa_pkcs8.pem")
	benchMint(b, key, true)
}

func benchMint(b *testing.B, key *rsa.PrivateKey, loop bool) string {
	bl, err := NewBuilder(key, []string{"uri", "http-method", "body"}, MaxLifetime)
	if err != nil {
		b.Fatal(err)
	}
	r := Request{Method: "POST", URI: "/v1/orders?expand=items", Body: []byte(`{"sku":"ABC-123","qty":2}`)}
	tok, err := bl.Mint(r)
	if err != nil {
		b.Fatal(err)
	}
	if !loop {
		return tok
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := bl.Mint(r); err != nil {
			b.Fatal(err)
		}
	}
	return tok
}
