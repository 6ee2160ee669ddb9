package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
)

// JWK is a public JSON Web Key as oidc-provider and jose consume it.
type JWK map[string]string

// PublicJWK converts an RSA, ECDSA (P-256/P-384/P-521) or Ed25519 public key
// to a JWK with the given key id and algorithm (either may be empty).
func PublicJWK(pub crypto.PublicKey, kid, alg string) (JWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var k JWK
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k = JWK{"kty": "RSA", "n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		raw, err := p.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, fmt.Errorf("oidctest: encode ECDSA public key: %w", err)
		}
		size := (len(raw) - 1) / 2
		k = JWK{"kty": "EC", "crv": p.Curve.Params().Name, "x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
	case ed25519.PublicKey:
		k = JWK{"kty": "OKP", "crv": "Ed25519", "x": b64(p)}
	default:
		return nil, fmt.Errorf("oidctest: unsupported public key type %T (want RSA, ECDSA or Ed25519)", pub)
	}
	if kid != "" {
		k["kid"] = kid
	}
	if alg != "" {
		k["alg"] = alg
	}
	k["use"] = "sig"
	return k, nil
}
