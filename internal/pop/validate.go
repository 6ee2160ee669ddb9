package pop

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Validation failures. Validate wraps exactly one of them, with detail, so
// callers can tell them apart with errors.Is.
var (
	ErrMalformed    = errors.New("pop: malformed token")
	ErrAlgorithm    = errors.New("pop: algorithm not allowed")
	ErrSignature    = errors.New("pop: signature invalid")
	ErrMissingClaim = errors.New("pop: missing claim")
	ErrVersion      = errors.New("pop: unsupported version")
	ErrExpired      = errors.New("pop: token expired")
	ErrNotYetValid  = errors.New("pop: token issued in the future")
	ErrLifetime     = errors.New("pop: lifetime too long")
	ErrEDTSMismatch = errors.New("pop: edts does not match the request")
	ErrMissingValue = errors.New("pop: ehts names a key the request has no value for")
)

// DefaultLeeway is the clock skew Validator tolerates when Leeway is zero.
const DefaultLeeway = 10 * time.Second

// b64Strict rejects non-canonical encodings (stray bits in the last
// character). Without it several distinct strings decode to the same
// signature, so a replay cache keyed on anything but jti could be bypassed
// and "accept only what was signed" would not hold byte for byte.
var b64Strict = base64.RawURLEncoding.Strict()

// maxTokenLen bounds what Validate will decode; a real token with a
// 4096-bit key is under 1.5 KiB.
const maxTokenLen = 16 << 10

// Validator checks TAAP PoP tokens the way T-Mobile's published validator
// does. The zero values of Leeway, MaxLifetime and Now mean DefaultLeeway,
// MaxLifetime and time.Now.
type Validator struct {
	Key         *rsa.PublicKey
	Leeway      time.Duration
	MaxLifetime time.Duration
	Now         func() time.Time
}

// Claims are the verified claims of a PoP token.
type Claims struct {
	EHTS      []string
	EDTS      string
	JTI       string
	V         string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type joseHeader struct {
	Alg *string `json:"alg"`
	Typ *string `json:"typ"`
}

// Validate verifies token against r and returns its claims. The signature
// is checked before any claim is looked at, so an unauthenticated token only
// ever yields ErrMalformed, ErrAlgorithm or ErrSignature.
func (v *Validator) Validate(token string, r Request) (*Claims, error) {
	if v.Key == nil {
		return nil, fmt.Errorf("%w: validator has no public key", ErrSignature)
	}
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: token is %d bytes, limit %d", ErrMalformed, len(token), maxTokenLen)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	c64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, fmt.Errorf("%w: want three dot-separated segments", ErrMalformed)
	}

	hdrJSON, err := b64Strict.DecodeString(h64)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url: %v", ErrMalformed, err)
	}
	var hdr joseHeader
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object: %v", ErrMalformed, err)
	}
	if hdr.Alg == nil {
		return nil, fmt.Errorf("%w: header has no alg", ErrAlgorithm)
	}
	if *hdr.Alg != "RS256" {
		return nil, fmt.Errorf("%w: alg %q, want RS256", ErrAlgorithm, truncate(*hdr.Alg))
	}
	if hdr.Typ == nil || *hdr.Typ != "JWT" {
		return nil, fmt.Errorf("%w: header typ must be \"JWT\"", ErrMalformed)
	}

	sig, err := b64Strict.DecodeString(s64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url: %v", ErrMalformed, err)
	}
	digest := sha256.Sum256([]byte(token[:len(h64)+1+len(c64)]))
	if err := rsa.VerifyPKCS1v15(v.Key, crypto.SHA256, digest[:], sig); err != nil {
		return nil, fmt.Errorf("%w: RS256 verification with the configured key failed", ErrSignature)
	}

	claimsJSON, err := b64Strict.DecodeString(c64)
	if err != nil {
		return nil, fmt.Errorf("%w: claims are not base64url: %v", ErrMalformed, err)
	}
	c, err := parseClaims(claimsJSON)
	if err != nil {
		return nil, err
	}
	if err := v.checkTimes(c); err != nil {
		return nil, err
	}
	if err := checkEDTS(c, &r); err != nil {
		return nil, err
	}
	return c, nil
}

func parseClaims(data []byte) (*Claims, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object: %v", ErrMalformed, err)
	}
	c := &Claims{}
	str := func(name string) (string, error) {
		m, ok := raw[name]
		if !ok || bytes.Equal(m, []byte("null")) {
			return "", fmt.Errorf("%w: %s", ErrMissingClaim, name)
		}
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return "", fmt.Errorf("%w: claim %s must be a string", ErrMalformed, name)
		}
		if s == "" {
			return "", fmt.Errorf("%w: %s is empty", ErrMissingClaim, name)
		}
		return s, nil
	}
	num := func(name string) (time.Time, error) {
		m, ok := raw[name]
		if !ok || bytes.Equal(m, []byte("null")) {
			return time.Time{}, fmt.Errorf("%w: %s", ErrMissingClaim, name)
		}
		n, err := strconv.ParseInt(string(m), 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%w: claim %s must be a non-negative integer of seconds", ErrMalformed, name)
		}
		return time.Unix(n, 0), nil
	}
	ehts, err := str("ehts")
	if err != nil {
		return nil, err
	}
	if c.EDTS, err = str("edts"); err != nil {
		return nil, err
	}
	if c.JTI, err = str("jti"); err != nil {
		return nil, err
	}
	if c.V, err = str("v"); err != nil {
		return nil, err
	}
	if c.IssuedAt, err = num("iat"); err != nil {
		return nil, err
	}
	if c.ExpiresAt, err = num("exp"); err != nil {
		return nil, err
	}
	if c.V != "1" {
		return nil, fmt.Errorf("%w: v is %q, want \"1\"", ErrVersion, truncate(c.V))
	}
	c.EHTS = strings.Split(ehts, ehtsSep)
	seen := make(map[string]bool, len(c.EHTS))
	for i, k := range c.EHTS {
		if k == "" {
			return nil, fmt.Errorf("%w: ehts entry %d is empty", ErrMalformed, i)
		}
		lk := strings.ToLower(k)
		if seen[lk] {
			return nil, fmt.Errorf("%w: ehts names %q twice", ErrMalformed, truncate(k))
		}
		seen[lk] = true
	}
	return c, nil
}

func (v *Validator) checkTimes(c *Claims) error {
	leeway, maxLife, now := v.Leeway, v.MaxLifetime, time.Now
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	if maxLife == 0 {
		maxLife = MaxLifetime
	}
	if v.Now != nil {
		now = v.Now
	}
	t := now()
	if life := c.ExpiresAt.Sub(c.IssuedAt); life > maxLife || life < 0 {
		return fmt.Errorf("%w: exp-iat is %s, allowed 0s..%s", ErrLifetime, life, maxLife)
	}
	if t.After(c.ExpiresAt.Add(leeway)) {
		return fmt.Errorf("%w: exp %s is more than %s before now", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339), leeway)
	}
	if c.IssuedAt.After(t.Add(leeway)) {
		return fmt.Errorf("%w: iat %s is more than %s after now", ErrNotYetValid, c.IssuedAt.UTC().Format(time.RFC3339), leeway)
	}
	return nil
}

func checkEDTS(c *Claims, r *Request) error {
	h := sha256.New()
	for _, k := range c.EHTS {
		if !r.hasValue(k) {
			return fmt.Errorf("%w: %q", ErrMissingValue, truncate(k))
		}
		r.writeValue(h, k)
	}
	want := base64.RawURLEncoding.EncodeToString(h.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.EDTS)) != 1 {
		return fmt.Errorf("%w: signed parts %s", ErrEDTSMismatch, truncate(strings.Join(c.EHTS, ehtsSep)))
	}
	return nil
}

// truncate keeps attacker-controlled strings in error messages short.
func truncate(s string) string {
	const limit = 64
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
