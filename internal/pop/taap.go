package pop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Names in a sign list that refer to request parts rather than headers.
const (
	KeyURI    = "uri"
	KeyMethod = "http-method"
	KeyBody   = "body"
)

// MaxLifetime is the ceiling T-Mobile's validator puts on exp-iat.
const MaxLifetime = 120 * time.Second

// The JOSE header is fixed, so its encoding is computed once.
const (
	headerJSON = `{"alg":"RS256","typ":"JWT"}`
	ehtsSep    = ";"
)

var headerSegment = base64.RawURLEncoding.EncodeToString([]byte(headerJSON))

// Request is what a PoP token signs: the parts of one HTTP request.
type Request struct {
	Method string
	// URI is the value of the "uri" key, already computed with URIValue.
	URI    string
	Header http.Header
	// Body nil or empty means "no body".
	Body []byte
}

// URIValue returns the value T-Mobile signs under "uri": the request path as
// sent, then "?" and the query string with its escapes decoded ("%2F" → "/",
// "+" → " ", UTF-8 escapes → the characters). Without a query it is just the
// path. A query with a malformed escape is used as sent, which both the
// builder and the validator do identically.
func URIValue(u *url.URL) string {
	if u == nil {
		return ""
	}
	p := u.EscapedPath()
	if p == "" {
		// An origin-form request line never has an empty path.
		p = "/"
	}
	if u.RawQuery == "" {
		return p
	}
	q, err := url.QueryUnescape(u.RawQuery)
	if err != nil {
		q = u.RawQuery
	}
	return p + "?" + q
}

// hasValue reports whether key covers a non-empty value in r; keys without
// one are left out of ehts.
func (r *Request) hasValue(key string) bool {
	if key == KeyBody {
		return len(r.Body) > 0
	}
	return r.value(key) != ""
}

// writeValue feeds the value of key to h. The body goes in directly so a
// large body is never copied.
func (r *Request) writeValue(h hash.Hash, key string) {
	if key == KeyBody {
		h.Write(r.Body)
		return
	}
	_, _ = io.WriteString(h, r.value(key))
}

// value returns the value of a non-body sign-list key in r.
func (r *Request) value(key string) string {
	switch key {
	case KeyURI:
		return r.URI
	case KeyMethod:
		return r.Method
	default:
		vs := r.Header.Values(key)
		switch len(vs) {
		case 0:
			return ""
		case 1:
			return vs[0]
		default:
			// A repeated header is signed as its RFC 9110 combined value,
			// so no instance can be added or dropped unnoticed.
			return strings.Join(vs, ", ")
		}
	}
}

// Builder mints TAAP PoP tokens. Its exported fields may be set after
// NewBuilder but not concurrently with Mint; the key is the only thing that
// may change while minting, through SetKey.
type Builder struct {
	// Sign is the ordered sign list, e.g. uri, http-method, body, or header
	// names.
	Sign []string
	// Lifetime is exp-iat; at most MaxLifetime, whole seconds.
	Lifetime time.Duration
	// Now and NewJTI are seams for tests; nil means time.Now and
	// uuid.NewString.
	Now    func() time.Time
	NewJTI func() string

	key atomic.Pointer[rsa.PrivateKey]
}

// NewBuilder checks the sign list and lifetime and prepares key for fast
// signing. A zero lifetime means MaxLifetime.
func NewBuilder(key *rsa.PrivateKey, sign []string, lifetime time.Duration) (*Builder, error) {
	if key == nil {
		return nil, errors.New("pop: builder: key is nil")
	}
	if err := checkSignList(sign); err != nil {
		return nil, err
	}
	if lifetime == 0 {
		lifetime = MaxLifetime
	}
	if err := checkLifetime(lifetime); err != nil {
		return nil, err
	}
	b := &Builder{Sign: append([]string(nil), sign...), Lifetime: lifetime}
	b.SetKey(key)
	return b, nil
}

func checkLifetime(d time.Duration) error {
	if d <= 0 || d > MaxLifetime || d%time.Second != 0 {
		return fmt.Errorf("pop: builder: lifetime must be whole seconds in 1s..%s, got %s", MaxLifetime, d)
	}
	return nil
}

func checkSignList(sign []string) error {
	if len(sign) == 0 {
		return errors.New("pop: builder: sign list is empty")
	}
	seen := make(map[string]bool, len(sign))
	for i, k := range sign {
		if !validSignKey(k) {
			return fmt.Errorf("pop: builder: sign[%d] %q is not uri, http-method, body or an HTTP header name", i, k)
		}
		c := strings.ToLower(k)
		if seen[c] {
			return fmt.Errorf("pop: builder: sign[%d] %q is listed twice", i, k)
		}
		seen[c] = true
	}
	return nil
}

// validSignKey accepts an RFC 9110 token, which covers the three reserved
// names and every header name; it excludes ";" (the ehts separator) and
// anything that would need escaping in JSON.
func validSignKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// SetKey replaces the signing key. It is safe to call while other
// goroutines Mint: each token is signed wholly with the old or the new key.
func (b *Builder) SetKey(key *rsa.PrivateKey) {
	if key == nil {
		return
	}
	// Precompute before publishing: it mutates the key, and without it
	// every signature re-derives the CRT values.
	key.Precompute()
	b.key.Store(key)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

var hashPool = sync.Pool{New: func() any { return sha256.New() }}

// Mint returns a signed PoP token for r.
func (b *Builder) Mint(r Request) (string, error) {
	key := b.key.Load()
	if key == nil {
		return "", errors.New("pop: builder has no key (use NewBuilder)")
	}
	if err := checkLifetime(b.Lifetime); err != nil {
		return "", err
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	iat := now().Unix()
	exp := iat + int64(b.Lifetime/time.Second)
	var jti string
	if b.NewJTI != nil {
		jti = b.NewJTI()
	} else {
		jti = uuid.NewString()
	}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h := hashPool.Get().(hash.Hash)
	defer hashPool.Put(h)
	h.Reset()

	claims := append((*bp)[:0], `{"ehts":"`...)
	n := 0
	for _, k := range b.Sign {
		if !r.hasValue(k) {
			continue
		}
		if n > 0 {
			claims = append(claims, ehtsSep...)
		}
		// Sign keys were restricted to JSON-safe tokens by NewBuilder.
		claims = append(claims, k...)
		r.writeValue(h, k)
		n++
	}
	if n == 0 {
		return "", errors.New("pop: no key in the sign list has a value in this request")
	}
	var sum [sha256.Size]byte
	claims = append(claims, `","edts":"`...)
	claims = base64.RawURLEncoding.AppendEncode(claims, h.Sum(sum[:0]))
	claims = append(claims, `","jti":`...)
	claims = appendJSONString(claims, jti)
	claims = append(claims, `,"v":"1","iat":`...)
	claims = strconv.AppendInt(claims, iat, 10)
	claims = append(claims, `,"exp":`...)
	claims = strconv.AppendInt(claims, exp, 10)
	claims = append(claims, '}')
	*bp = claims

	sigLen := key.Size()
	out := make([]byte, 0, len(headerSegment)+1+base64.RawURLEncoding.EncodedLen(len(claims))+1+base64.RawURLEncoding.EncodedLen(sigLen))
	out = append(out, headerSegment...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, claims)
	digest := sha256.Sum256(out)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("pop: sign: %w", err)
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	return string(out), nil
}

// appendJSONString appends s as a JSON string. JTIs are normally UUIDs and
// take the fast path; the escaping exists because NewJTI is a seam.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
