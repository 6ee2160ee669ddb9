package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxResponseBytes bounds a token-endpoint answer; real ones are a few
// KiB, so anything near this is a misbehaving server.
const DefaultMaxResponseBytes = 1 << 20

// maxLifetime caps expires_in so Expiry arithmetic cannot overflow; a
// ten-year token is indistinguishable from a non-expiring one here.
const maxLifetime = 10 * 365 * 24 * time.Hour

// Token types accepted in a response, lower-cased.
const (
	TokenTypeBearer = "bearer"
	TokenTypeMAC    = "mac"
	TokenTypeDPoP   = "dpop"
	TokenTypeNA     = "n_a"
)

// MAC algorithms (draft-ietf-oauth-v2-http-mac) the signer implements.
const (
	MACHMACSHA1   = "hmac-sha-1"
	MACHMACSHA256 = "hmac-sha-256"
)

// describeBody says what a body looks like without quoting any of it: the
// body of a token response is, by definition, full of secrets.
func describeBody(contentType string, n int) string {
	if contentType == "" {
		return fmt.Sprintf("no content-type, %d bytes", n)
	}
	return fmt.Sprintf("content-type %q, %d bytes", truncate(contentType, 64), n)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// jsonish reports whether a content-type may carry JSON. A missing or
// text/plain content-type is tolerated because some gateways send JSON that
// way; the body must then still parse.
func jsonish(contentType string) bool {
	if strings.TrimSpace(contentType) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "text/json", "text/javascript", "application/javascript", "text/plain":
		return true
	}
	return strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// decodeObject decodes a JSON object into raw members, explaining failures
// in terms of the body's shape rather than its content.
func decodeObject(contentType string, body []byte) (map[string]json.RawMessage, error) {
	desc := describeBody(contentType, len(body))
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("empty body (%s)", desc)
	}
	if trimmed[0] == '<' {
		return nil, fmt.Errorf("body is HTML or XML, not JSON (%s)", desc)
	}
	if !jsonish(contentType) {
		return nil, fmt.Errorf("body is not JSON (%s)", desc)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se) && se.Offset >= int64(len(trimmed)):
			return nil, fmt.Errorf("body is truncated JSON (%s)", desc)
		case errors.As(err, &se):
			return nil, fmt.Errorf("body is not valid JSON: syntax error at byte %d (%s)", se.Offset, desc)
		case errors.As(err, &te):
			return nil, fmt.Errorf("body is a JSON %s, want an object (%s)", te.Value, desc)
		case err.Error() == "unexpected end of JSON input":
			return nil, fmt.Errorf("body is truncated JSON (%s)", desc)
		default:
			return nil, fmt.Errorf("body is not valid JSON (%s)", desc)
		}
	}
	if obj == nil { // the literal null
		return nil, fmt.Errorf("body is JSON null, want an object (%s)", desc)
	}
	return obj, nil
}

// stringField reads an optional string member; present reports whether it
// was there and not null.
func stringField(obj map[string]json.RawMessage, name string) (v string, present bool, err error) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, fmt.Errorf("field %s must be a string", name)
	}
	return v, true, nil
}

// numberField reads a non-negative number given as a JSON number or a
// numeric string (several gateways quote expires_in).
func numberField(obj map[string]json.RawMessage, name string) (v float64, present bool, err error) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		return 0, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		s = strings.TrimSpace(s)
	} else {
		s = string(raw)
	}
	v, perr := strconv.ParseFloat(s, 64)
	if perr != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, true, fmt.Errorf("field %s must be a number or a numeric string", name)
	}
	if v < 0 {
		return 0, true, fmt.Errorf("field %s must not be negative", name)
	}
	return v, true, nil
}

func seconds(v float64) time.Duration {
	if v >= maxLifetime.Seconds() {
		return maxLifetime
	}
	return time.Duration(v * float64(time.Second))
}

// scopeField accepts the RFC's space-delimited string and, leniently, a JSON
// array of strings that some servers send instead.
func scopeField(obj map[string]json.RawMessage) (string, error) {
	raw, ok := obj["scope"]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " "), nil
	}
	return "", errors.New("field scope must be a string or an array of strings")
}

// parseTokenResponse turns a 2xx token-endpoint answer into a Token. A 2xx
// body that carries an RFC 6749 §5.2 "error" instead of a token (some
// gateways do that) is returned as *Error. secrets are redacted from any
// server-supplied text that ends up in an error.
func parseTokenResponse(status int, contentType string, body []byte, now time.Time, secrets []string) (*Token, error) {
	obj, err := decodeObject(contentType, body)
	if err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	if _, hasToken := obj["access_token"]; !hasToken {
		if e := errorFromObject(status, obj, secrets); e != nil {
			return nil, e
		}
	}
	t := &Token{IssuedAt: now}
	fields := []struct {
		name     string
		dst      *string
		required bool
	}{
		{"access_token", &t.AccessToken, true},
		{"token_type", &t.TokenType, true},
		{"id_token", &t.IDToken, false},
		{"refresh_token", &t.RefreshToken, false},
		{"issued_token_type", &t.IssuedTokenType, false},
		{"mac_key", &t.MACKey, false},
		{"mac_algorithm", &t.MACAlgorithm, false},
	}
	for _, f := range fields {
		v, present, err := stringField(obj, f.name)
		if err != nil {
			return nil, fmt.Errorf("token response: %w", err)
		}
		if f.required && (!present || v == "") {
			return nil, fmt.Errorf("token response: missing %s", f.name)
		}
		*f.dst = v
	}
	if t.Scope, err = scopeField(obj); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	if exp, present, err := numberField(obj, "expires_in"); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	} else if present && exp > 0 {
		// expires_in 0 is treated like an absent one: valid until a 401.
		// Taking it literally would make the refresher spin.
		t.Expiry = now.Add(seconds(exp))
	}
	// expires_in counts from when the server answered, so a slow response
	// makes it late; a JWT's own exp is what the resource server checks.
	// It may shorten the lifetime, never extend it.
	if exp, ok := JWTExpiry(t.AccessToken); ok && (t.Expiry.IsZero() || exp.Before(t.Expiry)) {
		t.Expiry = exp
	}
	t.TokenType = strings.ToLower(t.TokenType)
	switch t.TokenType {
	case TokenTypeBearer, TokenTypeDPoP, TokenTypeNA:
	case TokenTypeMAC:
		if t.MACKey == "" {
			return nil, errors.New("token response: token_type mac requires mac_key")
		}
		t.MACAlgorithm = strings.ToLower(t.MACAlgorithm)
		switch t.MACAlgorithm {
		case MACHMACSHA1, MACHMACSHA256:
		case "":
			return nil, errors.New("token response: token_type mac requires mac_algorithm (hmac-sha-1 or hmac-sha-256)")
		default:
			return nil, fmt.Errorf("token response: unsupported mac_algorithm %q (want hmac-sha-1 or hmac-sha-256)", truncate(t.MACAlgorithm, 32))
		}
	default:
		return nil, fmt.Errorf("token response: unknown token_type %q", truncate(t.TokenType, 32))
	}
	return t, nil
}

// errorFromObject returns the §5.2 error in obj, or nil when obj has no
// string "error" member.
func errorFromObject(status int, obj map[string]json.RawMessage, secrets []string) *Error {
	code, present, err := stringField(obj, "error")
	code = cleanServerText(code, maxCodeLen, secrets)
	if !present || err != nil || code == "" {
		return nil
	}
	desc, _, _ := stringField(obj, "error_description")
	uri, _, _ := stringField(obj, "error_uri")
	return &Error{
		StatusCode:  status,
		Code:        code,
		Description: cleanServerText(desc, maxDescriptionLen, secrets),
		URI:         cleanServerText(uri, maxURILen, secrets),
	}
}

// parseErrorResponse turns a non-2xx answer into *Error. Bodies that are not
// a §5.2 object (an HTML error page from a load balancer, say) give
// "http_<status>" with a description of the body's shape, never its text.
func parseErrorResponse(status int, contentType string, body []byte, secrets []string) *Error {
	if obj, err := decodeObject(contentType, body); err == nil {
		if e := errorFromObject(status, obj, secrets); e != nil {
			return e
		}
	}
	desc := "no RFC 6749 error in body (" + describeBody(contentType, len(body)) + ")"
	return &Error{StatusCode: status, Code: "http_" + strconv.Itoa(status), Description: desc}
}
