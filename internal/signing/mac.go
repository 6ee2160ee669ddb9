package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MAC algorithm names as draft-ietf-oauth-v2-http-mac-01 registers them.
const (
	MACHMACSHA1   = "hmac-sha-1"
	MACHMACSHA256 = "hmac-sha-256"
)

// MACRequest is the part of an HTTP request a MAC covers.
type MACRequest struct {
	Method     string
	RequestURI string // path and query as sent on the request line
	Host       string
	Port       int
	Ext        string
}

// MACNormalizedString builds the normalized request string of
// draft-ietf-oauth-v2-http-mac-01 §3.2.1: timestamp, nonce, upper-case
// method, request-uri, lower-case host, port and ext, each followed by a
// newline (including the last, so an empty ext still ends in "\n").
func MACNormalizedString(ts int64, nonce string, r MACRequest) string {
	var b strings.Builder
	b.Grow(len(nonce) + len(r.Method) + len(r.RequestURI) + len(r.Host) + len(r.Ext) + 40)
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.WriteString(strings.ToUpper(r.Method))
	b.WriteByte('\n')
	b.WriteString(r.RequestURI)
	b.WriteByte('\n')
	b.WriteString(strings.ToLower(r.Host))
	b.WriteByte('\n')
	b.WriteString(strconv.Itoa(r.Port))
	b.WriteByte('\n')
	b.WriteString(r.Ext)
	b.WriteByte('\n')
	return b.String()
}

// macHash maps an algorithm name to its hash. Besides the draft's names it
// takes the spellings Akana reports in OAuth_Signature_Method (HmacSHA1,
// hmac-sha1, HMACSHA256, sha-256), since token responses from such servers
// carry those in mac_algorithm.
func macHash(alg string) (func() hash.Hash, error) {
	switch strings.ToLower(alg) {
	case MACHMACSHA1, "hmac-sha1", "hmacsha1":
		return sha1.New, nil
	case MACHMACSHA256, "hmac-sha256", "hmacsha256", "sha-256":
		return sha256.New, nil
	}
	return nil, fmt.Errorf("mac: unsupported algorithm %q; want %s or %s", alg, MACHMACSHA1, MACHMACSHA256)
}

// MACSignature computes the base64 (standard alphabet, padded) MAC over the
// normalized request string.
func MACSignature(alg, key string, ts int64, nonce string, r MACRequest) (string, error) {
	h, err := macHash(alg)
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", errors.New("mac: mac_key is empty")
	}
	m := hmac.New(h, []byte(key))
	m.Write([]byte(MACNormalizedString(ts, nonce, r)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// MACSigner adds a MAC Authorization header to requests. The zero value is
// ready to use with the real clock and random nonces.
type MACSigner struct {
	Now   func() time.Time
	Nonce func() string
}

// Sign sets Authorization: MAC id="...", ts="...", nonce="...", mac="...".
// Host and port come from req.URL (80 for http and 443 for https when the
// URL has none), because the sidecar sets the URL to the upstream it really
// dials; the caller must send that same host in the Host header.
func (s MACSigner) Sign(req *http.Request, id, key, alg string) error {
	if req == nil || req.URL == nil {
		return errors.New("mac: request has no URL")
	}
	if id == "" {
		return errors.New("mac: id (the access token) is empty")
	}
	if !quotable(id) {
		return errors.New("mac: id (the access token) contains a quote, backslash or control character")
	}
	host, port, err := hostPort(req.URL.Scheme, req.URL.Host)
	if err != nil {
		return fmt.Errorf("mac: %w", err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	nonce := randomNonce()
	if s.Nonce != nil {
		nonce = s.Nonce()
	}
	if nonce == "" || !quotable(nonce) {
		return fmt.Errorf("mac: nonce %q is empty or not quotable", nonce)
	}
	ts := now().Unix()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	mac, err := MACSignature(alg, key, ts, nonce, MACRequest{
		Method:     method,
		RequestURI: req.URL.RequestURI(),
		Host:       host,
		Port:       port,
	})
	if err != nil {
		return err
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", `MAC id="`+id+`", ts="`+strconv.FormatInt(ts, 10)+`", nonce="`+nonce+`", mac="`+mac+`"`)
	return nil
}

// hostPort splits a URL authority into a lower-case host and a port,
// filling in the scheme's default port. IPv6 brackets are dropped, as the
// draft's host is the bare name.
func hostPort(scheme, authority string) (string, int, error) {
	if authority == "" {
		return "", 0, errors.New("request URL has no host")
	}
	host, portStr := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		host, portStr = authority[:i], authority[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return "", 0, fmt.Errorf("request URL host %q has an empty name", authority)
	}
	if portStr == "" {
		switch strings.ToLower(scheme) {
		case "http":
			return strings.ToLower(host), 80, nil
		case "https":
			return strings.ToLower(host), 443, nil
		}
		return "", 0, fmt.Errorf("request URL scheme %q has no default port; want http or https", scheme)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("request URL port %q is not a number between 1 and 65535", portStr)
	}
	return strings.ToLower(host), port, nil
}

// quotable reports whether s can sit inside a quoted-string as is.
func quotable(s string) bool {
	return !hasCTL(s) && !strings.ContainsAny(s, `"\`)
}

// randomNonce returns 128 random bits in base64url, which uses only
// characters that need no escaping in a header or a percent-encoding.
func randomNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b[:])
}
