package oauth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ErrInvalidLoginHint is wrapped by every CIBA error caused by a malformed
// login_hint, so the sidecar can answer 400 to the app instead of 503.
var ErrInvalidLoginHint = errors.New("invalid login_hint")

// Error is an RFC 6749 §5.2 error answered by the token endpoint (or the CIBA
// backchannel authentication endpoint). A non-2xx answer without a §5.2 body
// has Code "http_<status>".
type Error struct {
	StatusCode  int
	Code        string
	Description string
	URI         string
	// RetryAfter is the server's Retry-After in whole seconds, zero when absent;
	// the refresher uses it as a lower bound for its backoff.
	RetryAfter time.Duration

	// endpoint names which endpoint answered; empty means the token endpoint.
	endpoint string
}

func (e *Error) Error() string {
	ep := e.endpoint
	if ep == "" {
		ep = "token endpoint"
	}
	s := ep + ": " + e.Code
	if e.StatusCode != 0 { // zero for errors decided locally, e.g. CIBA expiry
		s += fmt.Sprintf(" (%d)", e.StatusCode)
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Retryable reports whether asking again later may succeed: server-side
// failures and rate limiting, as opposed to rejected credentials or grants.
func (e *Error) Retryable() bool {
	switch e.Code {
	case "temporarily_unavailable", "server_error", "slow_down", "authorization_pending":
		return true
	}
	return e.StatusCode == 429 || e.StatusCode >= 500
}

// Bounds on server-supplied text we keep: enough for a useful message, not
// enough for a hostile server to flood logs.
const (
	maxCodeLen        = 64
	maxDescriptionLen = 300
	maxURILen         = 300
)

// cleanServerText makes server-supplied text safe to log: control characters
// (log injection) become spaces, the length is capped, and any value we sent
// that the server echoed back is redacted.
func cleanServerText(s string, limit int, secrets []string) string {
	s = redact(s, secrets)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > limit {
		// Cut on a rune boundary so the result stays valid UTF-8.
		cut := limit
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// minRedactLen keeps redaction from mangling text around trivially short
// values (an empty or one-letter secret would match everywhere).
const minRedactLen = 3

func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= minRedactLen && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// parseRetryAfter understands the delta-seconds form only; the HTTP-date form
// is rare on token endpoints, whose Retry-After the refresher treats as a
// lower bound for its own backoff.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	const ceiling = 24 * time.Hour
	if d := time.Duration(n) * time.Second; d < ceiling && n < int(ceiling/time.Second) {
		return d
	}
	return ceiling
}
