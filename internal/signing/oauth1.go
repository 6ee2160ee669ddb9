package signing

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// OAuth 1.0a signature methods (RFC 5849 §3.4), spelled as on the wire.
const (
	OAuth1HMACSHA1   = "HMAC-SHA1"
	OAuth1HMACSHA256 = "HMAC-SHA256"
	OAuth1RSASHA1    = "RSA-SHA1"
	OAuth1RSASHA256  = "RSA-SHA256"
	OAuth1Plaintext  = "PLAINTEXT"
)

// OAuth1Params are the credentials of one OAuth 1.0a client.
type OAuth1Params struct {
	SignatureMethod string // HMAC-SHA1, HMAC-SHA256, RSA-SHA1, RSA-SHA256 or PLAINTEXT
	ConsumerKey     string
	ConsumerSecret  string
	Token           string // empty for two-legged requests
	TokenSecret     string
	RSAKey          *rsa.PrivateKey // for the RSA-* methods
	Realm           string
}

// OAuth1Signer signs requests per RFC 5849 §3. Build it with
// NewOAuth1Signer, which checks that the credentials fit the method, so Sign
// only fails on a bad request.
type OAuth1Signer struct {
	Params OAuth1Params
	Now    func() time.Time
	Nonce  func() string
}

// NewOAuth1Signer validates p and returns a signer using the real clock and
// random nonces.
func NewOAuth1Signer(p OAuth1Params) (*OAuth1Signer, error) {
	method := strings.ToUpper(p.SignatureMethod)
	switch method {
	case OAuth1HMACSHA1, OAuth1HMACSHA256, OAuth1Plaintext:
		if p.ConsumerSecret == "" {
			return nil, fmt.Errorf("oauth1: %s needs a consumer secret, and the consumer secret is empty", method)
		}
	case OAuth1RSASHA1, OAuth1RSASHA256:
		if p.RSAKey == nil {
			if p.ConsumerSecret != "" {
				return nil, fmt.Errorf("oauth1: %s needs an RSA private key, but only an HMAC secret is configured", method)
			}
			return nil, fmt.Errorf("oauth1: %s needs an RSA private key, and none is configured", method)
		}
		if err := p.RSAKey.Validate(); err != nil {
			return nil, fmt.Errorf("oauth1: RSA private key is invalid: %w", err)
		}
	case "":
		return nil, fmt.Errorf("oauth1: signature method is empty; want %s", oauth1Methods)
	default:
		return nil, fmt.Errorf("oauth1: unsupported signature method %q; want %s", p.SignatureMethod, oauth1Methods)
	}
	p.SignatureMethod = method
	if p.ConsumerKey == "" {
		return nil, errors.New("oauth1: consumer key is empty")
	}
	if !quotable(p.Realm) {
		return nil, errors.New("oauth1: realm contains a quote, backslash or control character")
	}
	return &OAuth1Signer{Params: p}, nil
}

const oauth1Methods = "HMAC-SHA1, HMAC-SHA256, RSA-SHA1, RSA-SHA256 or PLAINTEXT"

// Sign adds the Authorization: OAuth header (RFC 5849 §3.5.1). body is the
// request body the caller buffered; it is read, never changed, and only
// signed when Content-Type is application/x-www-form-urlencoded.
func (s *OAuth1Signer) Sign(req *http.Request, body []byte) error {
	return s.SignWith(req, body, nil)
}

// fixedProtocolParams are the parameters Sign itself sets, in header order.
var fixedProtocolParams = []string{"oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_timestamp", "oauth_nonce", "oauth_version"}

// SignWith is Sign plus protocol parameters of one step of the RFC 5849 §2
// redirection flow: oauth_callback when asking for temporary credentials
// (§2.1), oauth_verifier when exchanging them for a token (§2.3). They go
// into the Authorization header and are covered by the signature.
func (s *OAuth1Signer) SignWith(req *http.Request, body []byte, extra map[string]string) error {
	if s == nil {
		return errors.New("oauth1: signer is nil; build it with NewOAuth1Signer")
	}
	if req == nil || req.URL == nil {
		return errors.New("oauth1: request has no URL")
	}
	if req.URL.Host == "" {
		return errors.New("oauth1: request URL has no host")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	nonce := randomNonce()
	if s.Nonce != nil {
		nonce = s.Nonce()
	}
	if nonce == "" {
		return errors.New("oauth1: nonce is empty")
	}
	op := map[string]string{
		"oauth_consumer_key":     s.Params.ConsumerKey,
		"oauth_signature_method": s.Params.SignatureMethod,
		"oauth_timestamp":        strconv.FormatInt(now().Unix(), 10),
		"oauth_nonce":            nonce,
		"oauth_version":          "1.0",
	}
	if s.Params.Token != "" {
		op["oauth_token"] = s.Params.Token
	}
	extraNames := make([]string, 0, len(extra))
	for k, v := range extra {
		if !strings.HasPrefix(k, "oauth_") || slices.Contains(fixedProtocolParams, k) || k == "oauth_signature" {
			return fmt.Errorf("oauth1: extra protocol parameter %q: must be an oauth_ parameter the signer does not set itself", k)
		}
		if v == "" {
			return fmt.Errorf("oauth1: extra protocol parameter %s is empty", k)
		}
		op[k] = v
		extraNames = append(extraNames, k)
	}
	slices.Sort(extraNames)
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	sig, err := s.signature(method, req.URL, body, req.Header.Get("Content-Type"), op)
	if err != nil {
		return err
	}
	op["oauth_signature"] = sig

	var b strings.Builder
	b.WriteString("OAuth ")
	if s.Params.Realm != "" {
		// realm is an RFC 2617 quoted-string, not percent-encoded (§3.5.1).
		b.WriteString(`realm="` + s.Params.Realm + `", `)
	}
	for i, k := range slices.Concat(fixedProtocolParams, extraNames, []string{"oauth_signature"}) {
		v, ok := op[k]
		if !ok {
			continue
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + `="` + PercentEncode(v) + `"`)
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", b.String())
	return nil
}

// signature computes oauth_signature (before the header's percent-encoding)
// for the given protocol parameters.
func (s *OAuth1Signer) signature(method string, u *url.URL, body []byte, contentType string, op map[string]string) (string, error) {
	p := s.Params
	// §3.4.2 and §3.4.4: the key is the encoded secrets joined by "&",
	// present even when the token secret is empty.
	secrets := PercentEncode(p.ConsumerSecret) + "&" + PercentEncode(p.TokenSecret)
	switch p.SignatureMethod {
	case OAuth1Plaintext:
		return secrets, nil
	case OAuth1HMACSHA1, OAuth1HMACSHA256:
		h := sha1.New
		if p.SignatureMethod == OAuth1HMACSHA256 {
			h = sha256.New
		}
		m := hmac.New(h, []byte(secrets))
		m.Write([]byte(SignatureBaseString(method, u, body, contentType, op)))
		return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
	case OAuth1RSASHA1, OAuth1RSASHA256:
		if p.RSAKey == nil {
			return "", fmt.Errorf("oauth1: %s needs an RSA private key, and none is configured", p.SignatureMethod)
		}
		var h hash.Hash
		alg := crypto.SHA1
		if p.SignatureMethod == OAuth1RSASHA256 {
			h, alg = sha256.New(), crypto.SHA256
		} else {
			h = sha1.New()
		}
		h.Write([]byte(SignatureBaseString(method, u, body, contentType, op)))
		sig, err := rsa.SignPKCS1v15(rand.Reader, p.RSAKey, alg, h.Sum(nil))
		if err != nil {
			return "", fmt.Errorf("oauth1: %s signing failed: %w", p.SignatureMethod, err)
		}
		return base64.StdEncoding.EncodeToString(sig), nil
	}
	return "", fmt.Errorf("oauth1: unsupported signature method %q; want %s", p.SignatureMethod, oauth1Methods)
}
