package oauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// JWTExpiry reads the exp claim of a JWT (a compact JWS) without checking
// its signature: the resource server verifies the token; the sidecar only
// needs to know when the server will stop accepting it. It reports false for
// anything else: an opaque token, an encrypted JWT (JWE, five parts), a
// payload that is not a JSON object, or an exp that is not a positive number.
func JWTExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.RawMessage `json:"exp"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&claims); err != nil || len(claims.Exp) == 0 {
		return time.Time{}, false
	}
	var exp float64
	if err := json.Unmarshal(claims.Exp, &exp); err != nil {
		return time.Time{}, false // null, a string, an object...
	}
	// A year-9999 bound keeps the conversion to nanoseconds in range; such
	// a token is as good as non-expiring.
	const maxExp = 253402300799
	if exp <= 0 || math.IsNaN(exp) || exp > maxExp {
		return time.Time{}, false
	}
	sec, frac := math.Modf(exp)
	return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), true
}
