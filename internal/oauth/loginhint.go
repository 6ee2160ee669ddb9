package oauth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LoginHintFormat says which CIBA login_hint values a binding accepts. CIBA
// Core §7.1 leaves the hint's form to the provider; Open Gateway fixes it.
type LoginHintFormat string

// Login hint formats. The zero value means LoginHintOpenGateway.
const (
	// LoginHintOpenGateway accepts tel: and ipport: hints (ValidateLoginHint).
	LoginHintOpenGateway LoginHintFormat = "open_gateway"
	// LoginHintOpaque accepts any hint the provider may understand (an
	// e-mail address, a user id) within ValidateOpaqueLoginHint's bounds.
	LoginHintOpaque LoginHintFormat = "opaque"
)

// MaxOpaqueLoginHintBytes bounds an opaque login_hint: longer than any
// e-mail address (254) or user id a provider issues, short enough to keep
// hostile values out of request bodies and logs.
const MaxOpaqueLoginHintBytes = 256

// Validate checks h against the format. Like ValidateLoginHint, the error
// wraps ErrInvalidLoginHint and never repeats the hint.
func (f LoginHintFormat) Validate(h string) error {
	switch f {
	case "", LoginHintOpenGateway:
		return ValidateLoginHint(h)
	case LoginHintOpaque:
		return ValidateOpaqueLoginHint(h)
	}
	return fmt.Errorf("%w: unknown login hint format %q (want %s or %s)", ErrInvalidLoginHint, string(f), LoginHintOpenGateway, LoginHintOpaque)
}

// ValidateOpaqueLoginHint accepts any non-empty UTF-8 hint of at most
// MaxOpaqueLoginHintBytes without control characters: the provider decides
// what it names, the sidecar only keeps it safe to send and to log about.
func ValidateOpaqueLoginHint(h string) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrInvalidLoginHint, what) }
	switch {
	case h == "":
		return bad("empty")
	case len(h) > MaxOpaqueLoginHintBytes:
		return bad(fmt.Sprintf("longer than %d bytes (%d)", MaxOpaqueLoginHintBytes, len(h)))
	case !utf8.ValidString(h):
		return bad("not valid UTF-8")
	case strings.IndexFunc(h, unicode.IsControl) >= 0:
		return bad("contains a control character")
	}
	return nil
}

// ValidateLoginHint checks an Open Gateway CIBA login_hint:
//
//	tel:+<E.164 number, 8-15 digits, no visual separators>
//	ipport:<IPv4>[:port]
//	ipport:[<IPv6>][:port]
//
// The error wraps ErrInvalidLoginHint and says what is wrong without
// repeating the hint, which is a subscriber's phone number or address.
func ValidateLoginHint(h string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidLoginHint, fmt.Sprintf(format, args...))
	}
	switch {
	case h == "":
		return bad("empty")
	case strings.HasPrefix(h, "tel:"):
		n := strings.TrimPrefix(h, "tel:")
		if !strings.HasPrefix(n, "+") {
			return bad("tel: number must be global E.164 starting with '+'")
		}
		digits := n[1:]
		for _, r := range digits {
			if r < '0' || r > '9' {
				return bad("tel: number must contain only digits after '+', without separators")
			}
		}
		if len(digits) < 8 || len(digits) > 15 {
			return bad("tel: number must have 8 to 15 digits, got %d", len(digits))
		}
		if digits[0] == '0' {
			return bad("tel: country code must not start with 0")
		}
		return nil
	case strings.HasPrefix(h, "ipport:"):
		if err := validateIPPort(strings.TrimPrefix(h, "ipport:")); err != nil {
			return bad("ipport: %s", err)
		}
		return nil
	}
	return bad("unsupported identifier type (want tel: or ipport:)")
}

func validateIPPort(s string) error {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return fmt.Errorf("missing ']' after IPv6 address")
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if !strings.HasPrefix(port, ":") {
				return fmt.Errorf("unexpected text after ']'")
			}
			port = port[1:]
			if port == "" {
				return fmt.Errorf("empty port after ':'")
			}
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return fmt.Errorf("not a valid IPv6 address inside brackets")
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
		case 1:
			i := strings.IndexByte(s, ':')
			host, port = s[:i], s[i+1:]
			if port == "" {
				return fmt.Errorf("empty port after ':'")
			}
		default:
			return fmt.Errorf("IPv6 addresses must be in brackets, as in ipport:[2001:db8::1]:8080")
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return fmt.Errorf("not a valid IPv4 address")
		}
	}
	if port != "" {
		for _, r := range port {
			if r < '0' || r > '9' {
				return fmt.Errorf("port must be decimal digits")
			}
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be between 1 and 65535")
		}
	}
	return nil
}
