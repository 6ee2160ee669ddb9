package pop

import "unicode/utf8"

// appendJSONString appends s as a JSON string (RFC 8259 section 7), byte for
// byte what encoding/json.Marshal produces for a Go string, without its
// reflection. A jti from NewJTI is arbitrary text, so the escaping is not
// optional even though a random UUID never needs it.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringContent(dst, s)
	return append(dst, '"')
}

// appendJSONStringContent is appendJSONString without the quotes, so several
// values can share one JSON string (ehts joins the sign keys with ";").
//
// Like encoding/json it escapes, beyond what RFC 8259 requires, "<", ">" and
// "&" (HTML) and U+2028/U+2029 (JavaScript line terminators), and it writes
// each invalid UTF-8 byte as U+FFFD: RFC 8259 requires UTF-8 text, so a
// token with a stray byte would not be JSON at all.
func appendJSONStringContent(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}
