package signing

import (
	"mime"
	"net/url"
	"slices"
	"strings"
)

// SignatureBaseString builds the RFC 5849 §3.4.1 signature base string:
// the upper-case method, the base string URI and the normalized parameters,
// each percent-encoded and joined by "&".
//
// Parameters come from the URL query, from formBody when contentType is
// application/x-www-form-urlencoded (§3.4.1.3.1), and from oauthParams
// (the protocol parameters that will go in the Authorization header; realm
// is skipped there). oauth_signature is skipped from every source.
// Duplicates are kept and everything is sorted by encoded name, then value.
// A nil URL is treated as empty rather than panicking.
func SignatureBaseString(method string, u *url.URL, formBody []byte, contentType string, oauthParams map[string]string) string {
	if u == nil {
		u = &url.URL{}
	}
	var params []pair
	params = appendForm(params, u.RawQuery)
	if isFormContentType(contentType) {
		params = appendForm(params, string(formBody))
	}
	for k, v := range oauthParams {
		if k == "realm" || k == "oauth_signature" {
			continue
		}
		params = append(params, pair{PercentEncode(k), PercentEncode(v)})
	}
	slices.SortFunc(params, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var norm strings.Builder
	for i, p := range params {
		if i > 0 {
			norm.WriteByte('&')
		}
		norm.WriteString(p.k)
		norm.WriteByte('=')
		norm.WriteString(p.v)
	}
	return PercentEncode(strings.ToUpper(method)) + "&" + PercentEncode(baseStringURI(u)) + "&" + PercentEncode(norm.String())
}

// pair is one already-encoded parameter.
type pair struct{ k, v string }

// appendForm decodes an application/x-www-form-urlencoded string in order,
// drops oauth_signature, and appends the re-encoded (§3.6) pairs. A name
// without "=" has an empty value (RFC 5849's "c2" example).
func appendForm(dst []pair, raw string) []pair {
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		k = formDecode(k)
		if k == "oauth_signature" {
			continue
		}
		dst = append(dst, pair{PercentEncode(k), PercentEncode(formDecode(v))})
	}
	return dst
}

// baseStringURI is §3.4.1.2: lower-case scheme and host, the port only when
// it is not the scheme's default, the path, and no query or fragment.
func baseStringURI(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path
}

func isFormContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == formContentType
}

// formDecode undoes form encoding ("+" is a space, %XX a byte). Invalid
// escapes are kept literally instead of failing: the signature must still
// cover exactly what the app sent, and the server decodes the same way.
func formDecode(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// PercentEncode is RFC 5849 §3.6: the UTF-8 bytes of s with every byte
// outside ALPHA, DIGIT, "-", ".", "_" and "~" written as %XX in upper-case
// hex. Unlike url.QueryEscape it never writes "+" for a space.
func PercentEncode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
