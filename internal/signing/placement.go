package signing

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Placements, equal to PlaceHeader, PlaceQuery and
// PlaceForm (a test pins that). They are repeated rather than
// imported so this package depends on the standard library and jwt only.
const (
	PlaceHeader = "header"
	PlaceQuery  = "query"
	PlaceForm   = "form"
)

// ErrPlacement is wrapped by every error PlaceToken returns, so the sidecar
// can answer with a configuration error rather than a token error.
var ErrPlacement = errors.New("token placement")

// accessTokenParam is the parameter name RFC 6750 §2.2 and §2.3 fix.
const accessTokenParam = "access_token"

const formContentType = "application/x-www-form-urlencoded"

// PlaceToken puts the access token on the outgoing request (RFC 6750 §2).
//
//   - header: Authorization: <scheme> <token>; scheme is "Bearer" when empty
//     (DPoP-bound tokens pass "DPoP").
//   - query: access_token=<token> is appended to the URL query, and
//     Cache-Control: no-store is set because a URL ends up in caches and logs
//     (RFC 6750 §2.3).
//   - form: only for a single-part application/x-www-form-urlencoded body
//     whose method has body semantics (never GET); access_token is appended
//     and the new body returned. The caller owns req.Body and Content-Length
//     and must update them from the returned slice.
//
// In every case an access_token the app supplied itself in the same place is
// removed first: the app must not be able to smuggle its own credential past
// the sidecar, and a server seeing two tokens rejects the request anyway.
// body is never modified in place.
func PlaceToken(req *http.Request, body []byte, in, scheme, token string) ([]byte, error) {
	if req == nil || req.URL == nil {
		return nil, fmt.Errorf("%w: request has no URL", ErrPlacement)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: access token is empty", ErrPlacement)
	}
	switch in {
	case PlaceHeader:
		if scheme == "" {
			scheme = "Bearer"
		}
		if !isToken(scheme) {
			return nil, fmt.Errorf("%w: authorization scheme %q is not an HTTP token", ErrPlacement, scheme)
		}
		if hasCTL(token) {
			// A CR/LF here would split the header; say so without echoing it.
			return nil, fmt.Errorf("%w: access token contains a control character and cannot go in a header", ErrPlacement)
		}
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		req.Header.Set("Authorization", scheme+" "+token)
		return body, nil
	case PlaceQuery:
		q := withoutParam(req.URL.RawQuery, accessTokenParam)
		if q != "" {
			q += "&"
		}
		req.URL.RawQuery = q + accessTokenParam + "=" + url.QueryEscape(token)
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		req.Header.Set("Cache-Control", "no-store")
		return body, nil
	case PlaceForm:
		return placeForm(req, body, token)
	case "":
		return nil, fmt.Errorf("%w: placement is empty; want %s, %s or %s", ErrPlacement, PlaceHeader, PlaceQuery, PlaceForm)
	default:
		return nil, fmt.Errorf("%w: unknown placement %q; want %s, %s or %s", ErrPlacement, in, PlaceHeader, PlaceQuery, PlaceForm)
	}
}

func placeForm(req *http.Request, body []byte, token string) ([]byte, error) {
	// RFC 6750 §2.2: the method must have defined body semantics; GET is
	// named explicitly, and HEAD has no body at all.
	switch req.Method {
	case "", http.MethodGet, http.MethodHead:
		m := req.Method
		if m == "" {
			m = http.MethodGet
		}
		return nil, fmt.Errorf("%w: form placement is not allowed on %s (RFC 6750 §2.2); use header or query", ErrPlacement, m)
	}
	ct := req.Header.Get("Content-Type")
	if ct == "" {
		return nil, fmt.Errorf("%w: form placement needs an %s body, got no Content-Type", ErrPlacement, formContentType)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != formContentType {
		return nil, fmt.Errorf("%w: form placement needs an %s body, got %q", ErrPlacement, formContentType, ct)
	}
	// §2.2 also requires the body to be entirely ASCII.
	for i, c := range body {
		if c >= 0x80 {
			return nil, fmt.Errorf("%w: form placement needs an ASCII body, found byte 0x%02x at offset %d", ErrPlacement, c, i)
		}
	}
	kept := withoutParam(string(body), accessTokenParam)
	var out bytes.Buffer
	out.Grow(len(kept) + len(accessTokenParam) + len(token) + 2)
	out.WriteString(kept)
	if kept != "" {
		out.WriteByte('&')
	}
	out.WriteString(accessTokenParam)
	out.WriteByte('=')
	out.WriteString(url.QueryEscape(token))
	return out.Bytes(), nil
}

// StripAccessToken removes every access_token parameter from a URL query or
// an application/x-www-form-urlencoded body. changed is false, and raw is
// returned untouched, when there was none: bytes the app sent are only
// rewritten when a credential has to go.
func StripAccessToken(raw string) (out string, changed bool) {
	for rest := raw; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, "&")
		k, _, _ := strings.Cut(p, "=")
		if formDecode(k) == accessTokenParam {
			return withoutParam(raw, accessTokenParam), true
		}
	}
	return raw, false
}

// withoutParam drops every name=value pair (and empty segments) whose
// decoded name is name, keeping the rest byte for byte so the upstream sees
// the app's encoding unchanged.
func withoutParam(raw, name string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		if p == "" {
			continue
		}
		k, _, _ := strings.Cut(p, "=")
		if formDecode(k) == name {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}

// isToken reports whether s is an RFC 9110 token (an auth-scheme).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
