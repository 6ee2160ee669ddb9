package pop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw builds an RS256 token over arbitrary header and claims JSON, so
// tests can produce tokens the Builder never would.
func signRaw(t *testing.T, key *rsa.PrivateKey, header, claims string) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func claimsJSON(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidate(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	other := testRSAKey(t, "other_rsa_pkcs8.pem")
	b, err := NewBuilder(key, []string{"uri", "http-method", "body"}, MaxLifetime)
	if err != nil {
		t.Fatal(err)
	}
	b.Now = func() time.Time { return testNow }
	req := Request{Method: "POST", URI: "/v1/echo?x=1", Body: []byte(`{"n":1}`)}
	good, err := b.Mint(req)
	if err != nil {
		t.Fatal(err)
	}
	getReq := Request{Method: "GET", URI: "/v1/echo"}
	goodGet, err := b.Mint(getReq)
	if err != nil {
		t.Fatal(err)
	}

	const hdr = `{"alg":"RS256","typ":"JWT"}`
	iat := testNow.Unix()
	base := func() map[string]any {
		return map[string]any{
			"ehts": "uri;http-method;body", "edts": edtsOf(req.URI, req.Method, string(req.Body)),
			"jti": "j", "v": "1", "iat": iat, "exp": iat + 60,
		}
	}
	with := func(k string, v any) string {
		m := base()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return signRaw(t, key, hdr, claimsJSON(t, m))
	}
	pkix, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	hs256, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(base())).SignedString(pkix)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(base())).SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(good, ".")
	sigBytes, _ := base64.RawURLEncoding.DecodeString(parts[2])
	// 256 bytes encode to 342 chars whose last one carries 4 unused bits;
	// setting one of them yields a different string for the same bytes.
	last := strings.IndexByte(alphabet, parts[2][len(parts[2])-1])
	nonCanonical := parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[last^1])
	tamperedClaims := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claimsJSON(t, base()))) + "." + parts[2]

	tests := []struct {
		name  string
		token string
		req   Request
		now   time.Time
		want  error
	}{
		{name: "valid", token: good, req: req},
		{name: "valid GET without body", token: goodGet, req: getReq},
		{name: "valid within leeway after exp", token: good, req: req, now: testNow.Add(MaxLifetime + 9*time.Second)},
		{name: "valid iat within leeway in the future", token: good, req: req, now: testNow.Add(-9 * time.Second)},
		{name: "valid with jwt lib header order", token: signRaw(t, key, `{"typ":"JWT","alg":"RS256"}`, claimsJSON(t, base())), req: req},

		{name: "tampered body", token: good, req: Request{Method: req.Method, URI: req.URI, Body: []byte(`{"n":2}`)}, want: ErrEDTSMismatch},
		{name: "swapped method", token: good, req: Request{Method: "PUT", URI: req.URI, Body: req.Body}, want: ErrEDTSMismatch},
		{name: "other uri", token: good, req: Request{Method: req.Method, URI: "/v1/echo?x=2", Body: req.Body}, want: ErrEDTSMismatch},
		{name: "reordered ehts", token: with("ehts", "http-method;uri;body"), req: req, want: ErrEDTSMismatch},
		{name: "body dropped from request", token: good, req: Request{Method: req.Method, URI: req.URI}, want: ErrMissingValue},
		{name: "ehts names absent header", token: with("ehts", "uri;X-Absent"), req: req, want: ErrMissingValue},
		{name: "expired", token: good, req: req, now: testNow.Add(MaxLifetime + 11*time.Second), want: ErrExpired},
		{name: "future iat", token: good, req: req, now: testNow.Add(-11 * time.Second), want: ErrNotYetValid},
		{name: "lifetime 121s", token: with("exp", iat+121), req: req, want: ErrLifetime},
		{name: "exp before iat", token: with("exp", iat-1), req: req, want: ErrLifetime},
		{name: "other key", token: signRaw(t, other, hdr, claimsJSON(t, base())), req: req, want: ErrSignature},
		{name: "tampered claims keep old signature", token: tamperedClaims, req: req, want: ErrSignature},
		{name: "truncated signature", token: parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sigBytes[:len(sigBytes)-3]), req: req, want: ErrSignature},
		{name: "non-canonical signature encoding", token: nonCanonical, req: req, want: ErrMalformed},
		{name: "alg none", token: none, req: req, want: ErrAlgorithm},
		{name: "HS256 with public key as secret", token: hs256, req: req, want: ErrAlgorithm},
		{name: "RS512", token: signRaw(t, key, `{"alg":"RS512","typ":"JWT"}`, claimsJSON(t, base())), req: req, want: ErrAlgorithm},
		{name: "no alg", token: signRaw(t, key, `{"typ":"JWT"}`, claimsJSON(t, base())), req: req, want: ErrAlgorithm},
		{name: "typ not JWT", token: signRaw(t, key, `{"alg":"RS256","typ":"dpop+jwt"}`, claimsJSON(t, base())), req: req, want: ErrMalformed},
		{name: "missing ehts", token: with("ehts", nil), req: req, want: ErrMissingClaim},
		{name: "missing edts", token: with("edts", nil), req: req, want: ErrMissingClaim},
		{name: "missing jti", token: with("jti", nil), req: req, want: ErrMissingClaim},
		{name: "missing v", token: with("v", nil), req: req, want: ErrMissingClaim},
		{name: "missing iat", token: with("iat", nil), req: req, want: ErrMissingClaim},
		{name: "missing exp", token: with("exp", nil), req: req, want: ErrMissingClaim},
		{name: "empty jti", token: with("jti", ""), req: req, want: ErrMissingClaim},
		{name: "v is 2", token: with("v", "2"), req: req, want: ErrVersion},
		{name: "v is a number", token: with("v", 1), req: req, want: ErrMalformed},
		{name: "iat is a string", token: with("iat", "1"), req: req, want: ErrMalformed},
		{name: "exp is fractional", token: with("exp", float64(iat)+0.5), req: req, want: ErrMalformed},
		{name: "empty ehts entry", token: with("ehts", "uri;;body"), req: req, want: ErrMalformed},
		{name: "duplicate ehts entry", token: with("ehts", "uri;URI"), req: req, want: ErrMalformed},
		{name: "claims not JSON", token: signRaw(t, key, hdr, "not json"), req: req, want: ErrMalformed},
		{name: "two segments", token: "a.b", req: req, want: ErrMalformed},
		{name: "four segments", token: good + ".x", req: req, want: ErrMalformed},
		{name: "header not base64", token: "!!." + parts[1] + "." + parts[2], req: req, want: ErrMalformed},
		{name: "empty", token: "", req: req, want: ErrMalformed},
		{name: "huge", token: strings.Repeat("a", maxTokenLen+1), req: req, want: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testNow
			if !tt.now.IsZero() {
				now = tt.now
			}
			v := &Validator{Key: &key.PublicKey, Now: func() time.Time { return now }}
			c, err := v.Validate(tt.token, tt.req)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if c.V != "1" || c.JTI == "" || len(c.EHTS) == 0 || c.ExpiresAt.Sub(c.IssuedAt) <= 0 {
					t.Errorf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			for _, s := range []error{ErrMalformed, ErrAlgorithm, ErrSignature, ErrMissingClaim, ErrVersion, ErrExpired, ErrNotYetValid, ErrLifetime, ErrEDTSMismatch, ErrMissingValue} {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
			if c != nil {
				t.Errorf("claims returned with error")
			}
		})
	}
}

func TestValidatorSettings(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	b, _ := NewBuilder(key, []string{"uri"}, 60*time.Second)
	b.Now = func() time.Time { return testNow }
	r := Request{URI: "/"}
	tok, _ := b.Mint(r)
	tests := []struct {
		name string
		v    Validator
		want error
	}{
		{"stricter max lifetime", Validator{Key: &key.PublicKey, MaxLifetime: 30 * time.Second, Now: func() time.Time { return testNow }}, ErrLifetime},
		{"wider leeway accepts late token", Validator{Key: &key.PublicKey, Leeway: time.Minute, Now: func() time.Time { return testNow.Add(110 * time.Second) }}, nil},
		{"default leeway rejects it", Validator{Key: &key.PublicKey, Now: func() time.Time { return testNow.Add(110 * time.Second) }}, ErrExpired},
		{"no key", Validator{Now: func() time.Time { return testNow }}, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Validate(tok, r)
			if !errors.Is(err, tt.want) && (tt.want != nil || err != nil) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestInteropWithGolangJWT checks Mint output with an independent JWT
// implementation, so Builder and Validator cannot share one misreading.
func TestInteropWithGolangJWT(t *testing.T) {
	key := testRSAKey(t, "rsa_pkcs8.pem")
	b, _ := NewBuilder(key, []string{"uri", "http-method", "body"}, MaxLifetime)
	r := Request{Method: "POST", URI: "/v1/echo", Body: []byte("hi")}
	tok, err := b.Mint(r)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt rejects the token: %v", err)
	}
	if claims["edts"] != edtsOf("/v1/echo", "POST", "hi") || claims["ehts"] != "uri;http-method;body" {
		t.Fatalf("claims %v", claims)
	}
}
