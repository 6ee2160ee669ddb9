package pop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Names in a sign list that refer to request parts rather than headers.
const (
	KeyURI    = "uri"
	KeyMethod = "http-method"
	KeyBody   = "body"
)

// MaxLifetime is the ceiling T-Mobile's validator puts on exp-iat.
const MaxLifetime = 120 * time.Second

// The JOSE header is the same for every RS256 key (TAAP sends no kid), so
// its encoding, with the dot that follows it, is computed once.
const (
	headerJSON = `{"alg":"RS256","typ":"JWT"}`
	ehtsSep    = ";"
)

var headerSegment = base64.RawURLEncoding.EncodeToString([]byte(headerJSON)) + "."

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
	switch key {
	case KeyBody:
		return len(r.Body) > 0
	case KeyURI:
		return r.URI != ""
	case KeyMethod:
		return r.Method != ""
	default:
		// Two instances are never empty combined: they are joined by ", ".
		vs := r.Header.Values(key)
		return len(vs) > 1 || len(vs) == 1 && vs[0] != ""
	}
}

// writeValue feeds the value of key to h without copying it: the body goes
// in directly, strings through hashString, and a repeated header as its
// RFC 9110 combined value (instances joined by ", "), so no instance can be
// added or dropped unnoticed.
func (r *Request) writeValue(h hash.Hash, key string) {
	switch key {
	case KeyBody:
		h.Write(r.Body)
	case KeyURI:
		hashString(h, r.URI)
	case KeyMethod:
		hashString(h, r.Method)
	default:
		for i, v := range r.Header.Values(key) {
			if i > 0 {
				hashString(h, ", ")
			}
			hashString(h, v)
		}
	}
}

// hashString writes s to h without the copy (and, through the hash.Hash
// interface, the heap allocation) a []byte(s) conversion costs. It is sound
// because io.Writer forbids Write to modify or retain p.
func hashString(h hash.Hash, s string) {
	if s != "" {
		h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
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
	// Now and NewJTI are seams for tests; nil means time.Now and a random
	// version 4 UUID from crypto/rand (see appendRandomUUID).
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

// mintScratch is the per-call working memory of Mint, pooled so that a
// token costs only the allocations of the RSA signature and the returned
// string.
type mintScratch struct {
	claims []byte    // the claims JSON
	out    []byte    // the token: signing input, then "." and the signature
	h      hash.Hash // SHA-256 for edts
	sum    [sha256.Size]byte
}

var scratchPool = sync.Pool{New: func() any {
	return &mintScratch{claims: make([]byte, 0, 512), out: make([]byte, 0, 1024), h: sha256.New()}
}}

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

	sc := scratchPool.Get().(*mintScratch)
	tok, err := b.mint(sc, key, &r, iat, exp)
	scratchPool.Put(sc)
	return tok, err
}

// mint writes the token into sc and returns it as a new string.
func (b *Builder) mint(sc *mintScratch, key *rsa.PrivateKey, r *Request, iat, exp int64) (string, error) {
	sc.h.Reset()
	claims := append(sc.claims[:0], `{"ehts":"`...)
	n := 0
	for _, k := range b.Sign {
		if !r.hasValue(k) {
			continue
		}
		if n > 0 {
			claims = append(claims, ehtsSep...)
		}
		// NewBuilder admits only JSON-safe names, but Sign may be set later.
		claims = appendJSONStringContent(claims, k)
		r.writeValue(sc.h, k)
		n++
	}
	sc.claims = claims
	if n == 0 {
		return "", errors.New("pop: no key in the sign list has a value in this request")
	}
	claims = append(claims, `","edts":"`...)
	claims = base64.RawURLEncoding.AppendEncode(claims, sc.h.Sum(sc.sum[:0]))
	claims = append(claims, `","jti":`...)
	if b.NewJTI != nil {
		claims = appendJSONString(claims, b.NewJTI())
	} else {
		claims = append(claims, '"')
		claims = appendRandomUUID(claims)
		claims = append(claims, '"')
	}
	claims = append(claims, `,"v":"1","iat":`...)
	claims = strconv.AppendInt(claims, iat, 10)
	claims = append(claims, `,"exp":`...)
	claims = strconv.AppendInt(claims, exp, 10)
	claims = append(claims, '}')
	sc.claims = claims

	out := append(sc.out[:0], headerSegment...)
	out = base64.RawURLEncoding.AppendEncode(out, claims)
	sc.out = out
	digest := sha256.Sum256(out)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("pop: sign: %w", err)
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	sc.out = out
	return string(out), nil
}
