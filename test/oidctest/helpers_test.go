package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// response is a decoded JSON answer from the provider.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (r response) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

func (r response) num(k string) float64 {
	f, _ := r.body[k].(float64)
	return f
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := response{status: res.StatusCode, header: res.Header, body: map[string]any{}}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: status %d, body is not JSON: %q", req.Method, req.URL, res.StatusCode, raw)
		}
	}
	return r
}

// clientAuth adds one client's credentials to a token-endpoint request.
type clientAuth func(t *testing.T, s *Server, form url.Values, h http.Header)

// basicAuth encodes per RFC 6749 §2.3.1: form-encode id and secret, then Basic.
func basicAuth(c func(*Server) Client) clientAuth {
	return func(_ *testing.T, s *Server, _ url.Values, h http.Header) {
		cl := c(s)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(cl.ID)+":"+url.QueryEscape(cl.Secret))))
	}
}

// rawBasicAuth skips the form-encoding step, as some broken clients do.
func rawBasicAuth(c func(*Server) Client) clientAuth {
	return func(_ *testing.T, s *Server, _ url.Values, h http.Header) {
		cl := c(s)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cl.ID+":"+cl.Secret)))
	}
}

func postAuth(c func(*Server) Client) clientAuth {
	return func(_ *testing.T, s *Server, form url.Values, _ http.Header) {
		cl := c(s)
		form.Set("client_id", cl.ID)
		form.Set("client_secret", cl.Secret)
	}
}

func publicAuth(_ *testing.T, s *Server, form url.Values, _ http.Header) {
	form.Set("client_id", s.PublicClient.ID)
}

func jwtAuth(t *testing.T, s *Server, form url.Values, _ http.Header) {
	a, err := s.ClientAssertion()
	if err != nil {
		t.Fatal(err)
	}
	form.Set("client_id", s.PrivateKeyJWTClient.ID)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", a)
}

// jwtAuthWith signs the assertion with another key or other claims.
func jwtAuthWith(key *ecdsa.PrivateKey, exp time.Duration) clientAuth {
	return func(t *testing.T, s *Server, form url.Values, _ http.Header) {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": s.PrivateKeyJWTClient.ID, "sub": s.PrivateKeyJWTClient.ID, "aud": s.TokenEndpoint,
			"iat": now.Add(-2 * time.Minute).Unix(), "exp": now.Add(exp).Unix(), "jti": uuid.NewString(),
		})
		tok.Header["kid"] = s.ClientKeyID
		a, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		form.Set("client_id", s.PrivateKeyJWTClient.ID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	}
}

func basicClient(s *Server) Client { return s.BasicClient }
func postClient(s *Server) Client  { return s.PostClient }

func wrongSecret(c func(*Server) Client) func(*Server) Client {
	return func(s *Server) Client {
		cl := c(s)
		cl.Secret += "x"
		return cl
	}
}

// postForm sends a form to endpoint with the client's credentials and
// optional extra headers (DPoP).
func postForm(t *testing.T, s *Server, endpoint string, auth clientAuth, form url.Values, extra http.Header) response {
	t.Helper()
	h := http.Header{}
	if auth != nil {
		auth(t, s, form, h)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	for k, v := range extra {
		req.Header[k] = v
	}
	return do(t, req)
}

// callResource presents a token to the provider's /resource endpoint.
func callResource(t *testing.T, s *Server, scheme, token, proof string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.ResourceEndpoint+"/echo?x=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if scheme != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return do(t, req)
}

func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got status %d error %q (%s), want %d %q", r.status, r.str("error"), r.str("error_description"), status, code)
	}
}

func wantToken(t *testing.T, r response) string {
	t.Helper()
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("got status %d body %v, want 200 with an access_token", r.status, r.body)
	}
	return r.str("access_token")
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// dpopProof builds an RFC 9449 proof; ath binds it to accessToken when set.
func dpopProof(t *testing.T, key *ecdsa.PrivateKey, method, htu, nonce, accessToken string) string {
	t.Helper()
	jwk, err := PublicJWK(key.Public(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	delete(jwk, "use")
	claims := jwt.MapClaims{"htm": method, "htu": htu, "iat": time.Now().Unix(), "jti": uuid.NewString()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = jwk
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
