package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DPoPProver makes RFC 9449 DPoP proofs with one ES256 (P-256) key. The key
// lives only in memory: a restarted sidecar gets a new key and, because the
// authorization server binds tokens to its thumbprint, new tokens, which is
// the intended behaviour for a key that must never touch disk.
type DPoPProver struct {
	key        *ecdsa.PrivateKey
	jwk        map[string]string
	thumbprint string

	// Now and JTI are seams for tests; nil means the real clock and 128
	// random bits.
	Now func() time.Time
	JTI func() string
}

// NewDPoPProver generates a fresh P-256 key.
func NewDPoPProver() (*DPoPProver, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dpop: generating P-256 key: %w", err)
	}
	return NewDPoPProverWithKey(k)
}

// NewDPoPProverWithKey uses k, which must be a P-256 key; tests use it to
// pin the JWK and thumbprint.
func NewDPoPProverWithKey(k *ecdsa.PrivateKey) (*DPoPProver, error) {
	if k == nil {
		return nil, errors.New("dpop: key is nil")
	}
	if k.Curve != elliptic.P256() {
		name := "unknown"
		if k.Curve != nil && k.Params() != nil {
			name = k.Curve.Params().Name
		}
		return nil, fmt.Errorf("dpop: ES256 needs a P-256 key, got curve %s", name)
	}
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		return nil, fmt.Errorf("dpop: public key is invalid: %w", err)
	}
	// Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes). Fixed-width
	// coordinates are what RFC 7518 §6.2.1.2 requires for x and y.
	raw := pub.Bytes()
	if len(raw) != 65 || raw[0] != 4 {
		return nil, errors.New("dpop: unexpected P-256 public key encoding")
	}
	jwk := map[string]string{
		"kty": "EC",
		"crv": "P-256",
		"x":   base64.RawURLEncoding.EncodeToString(raw[1:33]),
		"y":   base64.RawURLEncoding.EncodeToString(raw[33:]),
	}
	return &DPoPProver{key: k, jwk: jwk, thumbprint: ecThumbprint(jwk)}, nil
}

// ecThumbprint is RFC 7638 for an EC key: SHA-256 over the required members
// in lexicographic order with no whitespace. The members are base64url and
// fixed names, so no JSON escaping can arise.
func ecThumbprint(jwk map[string]string) string {
	canon := `{"crv":"` + jwk["crv"] + `","kty":"` + jwk["kty"] + `","x":"` + jwk["x"] + `","y":"` + jwk["y"] + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint is the RFC 7638 JWK thumbprint (the "jkt" a server binds
// tokens to, and the dpop_jkt authorization request parameter).
func (p *DPoPProver) Thumbprint() string {
	if p == nil {
		return ""
	}
	return p.thumbprint
}

// PublicJWK returns a copy of the public JWK placed in each proof header.
func (p *DPoPProver) PublicJWK() map[string]string {
	out := make(map[string]string, len(p.jwk))
	for k, v := range p.jwk {
		out[k] = v
	}
	return out
}

// ATH is the access-token hash of RFC 9449 §4.2: base64url (no padding) of
// SHA-256 over the ASCII token.
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Proof returns a DPoP proof JWT for one request. htu is rawURL without
// query and fragment (RFC 9449 §4.2), with scheme and host lower-cased and
// a default port dropped so it matches the server's normalized view. ath is
// included only with an access token (token requests carry none) and nonce
// only when the server supplied one (§8).
func (p *DPoPProver) Proof(method, rawURL, accessToken, nonce string) (string, error) {
	if p == nil || p.key == nil {
		return "", errors.New("dpop: prover has no key; build it with NewDPoPProver")
	}
	if !isToken(method) {
		return "", fmt.Errorf("dpop: method %q is not an HTTP method token", method)
	}
	htu, err := dpopHTU(rawURL)
	if err != nil {
		return "", err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	jti := randomNonce()
	if p.JTI != nil {
		jti = p.JTI()
	}
	if jti == "" {
		return "", errors.New("dpop: jti is empty")
	}
	claims := jwt.MapClaims{
		"jti": jti,
		"htm": method,
		"htu": htu,
		"iat": now().Unix(),
	}
	if accessToken != "" {
		claims["ath"] = ATH(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = p.jwk
	s, err := t.SignedString(p.key)
	if err != nil {
		return "", fmt.Errorf("dpop: signing proof: %w", err)
	}
	return s, nil
}

func dpopHTU(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the input; a URL may carry a token in its query,
		// so report only what kind of problem it was.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("dpop: htu: request URL does not parse: %w", err)
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("dpop: htu: request URL scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("dpop: htu: request URL has no host")
	}
	// The OAuth 1.0a base string URI is exactly the normalisation htu
	// needs: lower-case scheme and host, no default port, and no userinfo,
	// query or fragment (userinfo may hold a password).
	return baseStringURI(u), nil
}
