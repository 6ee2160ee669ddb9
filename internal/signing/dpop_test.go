package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestATH(t *testing.T) {
	// RFC 9449 §7.1 example access token and its ath.
	if got := ATH("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Fatalf("ATH = %s", got)
	}
}

// rfc7515Key is the ES256 key of RFC 7515 Appendix A.3.
func rfc7515Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	d, err := base64.RawURLEncoding.DecodeString("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The thumbprint is checked against the canonical JSON built by hand here
// and against a constant computed outside Go:
//
//	printf '%s' '{"crv":"P-256","kty":"EC","x":"f83O…VEU","y":"x_FE…I5a0"}' |
//	  openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '='
func TestThumbprint(t *testing.T) {
	p, err := NewDPoPProverWithKey(rfc7515Key(t))
	if err != nil {
		t.Fatal(err)
	}
	const x, y = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
	jwk := p.PublicJWK()
	if jwk["x"] != x || jwk["y"] != y || jwk["kty"] != "EC" || jwk["crv"] != "P-256" || len(jwk) != 4 {
		t.Fatalf("public JWK = %v, want the RFC 7515 A.3 x/y", jwk)
	}
	canon := `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	sum := sha256.Sum256([]byte(canon))
	byHand := base64.RawURLEncoding.EncodeToString(sum[:])
	const openssl = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
	if byHand != openssl {
		t.Fatalf("test vectors disagree: %s vs %s", byHand, openssl)
	}
	if got := p.Thumbprint(); got != openssl {
		t.Errorf("Thumbprint = %s, want %s", got, openssl)
	}
}

// verifyProof checks a proof the way a resource server does: the key comes
// from the jwk header, typ and alg are pinned, and the signature must be the
// 64-byte R||S form.
func verifyProof(t *testing.T, proof string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("proof has %d parts", len(parts))
	}
	if sig, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(sig) != 64 {
		t.Fatalf("signature is %d bytes (err %v), want 64 (R||S)", len(sig), err)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(proof, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["typ"] != "dpop+jwt" {
			return nil, errors.New("typ is not dpop+jwt")
		}
		j, ok := tok.Header["jwk"].(map[string]any)
		if !ok {
			return nil, errors.New("no jwk header")
		}
		if _, has := j["d"]; has {
			return nil, errors.New("jwk header leaks the private key")
		}
		xb, err1 := base64.RawURLEncoding.DecodeString(j["x"].(string))
		yb, err2 := base64.RawURLEncoding.DecodeString(j["y"].(string))
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, xb...), yb...))
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation())
	if err != nil || !tok.Valid {
		t.Fatalf("proof does not verify with its embedded JWK: %v", err)
	}
	return tok.Header, claims
}

func TestDPoPProof(t *testing.T) {
	p, err := NewDPoPProverWithKey(rfc7515Key(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Now = fixedClock(1562262616)
	p.JTI = fixed("e1j3V_bKic8-LAEB")
	tests := []struct {
		name, method, url, token, nonce string
		wantHTU                         string
	}{
		{name: "token request", method: "POST", url: "https://server.example.com/token", wantHTU: "https://server.example.com/token"},
		{name: "resource with token, query and fragment stripped", method: "GET", url: "https://resource.example.org/protectedresource?a=1&access_token=x#frag",
			token: "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", wantHTU: "https://resource.example.org/protectedresource"},
		{name: "server nonce", method: "POST", url: "https://server.example.com/token", nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v", wantHTU: "https://server.example.com/token"},
		{name: "normalised host, default port, userinfo", method: "PUT", url: "HTTPS://user:pw@API.Example:443/a%20b?q", wantHTU: "https://api.example/a%20b"},
		{name: "non-default port kept, empty path", method: "GET", url: "http://api.example:8080", wantHTU: "http://api.example:8080/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proof, err := p.Proof(tt.method, tt.url, tt.token, tt.nonce)
			if err != nil {
				t.Fatal(err)
			}
			hdr, c := verifyProof(t, proof)
			if hdr["alg"] != "ES256" {
				t.Errorf("alg = %v", hdr["alg"])
			}
			j := hdr["jwk"].(map[string]any)
			if len(j) != 4 || j["kty"] != "EC" || j["crv"] != "P-256" {
				t.Errorf("jwk = %v, want exactly kty, crv, x, y", j)
			}
			want := map[string]any{"jti": "e1j3V_bKic8-LAEB", "htm": tt.method, "htu": tt.wantHTU, "iat": json.Number("1562262616")}
			if tt.token != "" {
				want["ath"] = ATH(tt.token)
			}
			if tt.nonce != "" {
				want["nonce"] = tt.nonce
			}
			// Compare via JSON so number types do not matter.
			gotJSON, _ := json.Marshal(map[string]any(c))
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("claims\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestDPoPProofErrors(t *testing.T) {
	p, err := NewDPoPProver()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, method, url, wantErr string }{
		{"empty method", "", "https://h/", "method"},
		{"method with space", "G ET", "https://h/", "method"},
		{"ftp", "GET", "ftp://h/", `scheme "ftp" is not http or https`},
		{"relative", "GET", "/path", "scheme"},
		{"no host", "GET", "https:///p", "no host"},
		{"unparsable keeps query out of the error", "GET", "https://h/%zz?access_token=SECRETTOKEN", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Proof(tt.method, tt.url, "SECRETTOKEN", "")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "SECRETTOKEN") {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
	var nilProver *DPoPProver
	if _, err := nilProver.Proof("GET", "https://h/", "", ""); err == nil {
		t.Error("nil prover: want error")
	}
	if nilProver.Thumbprint() != "" {
		t.Error("nil prover has a thumbprint")
	}
}

func TestNewDPoPProverWithKeyErrors(t *testing.T) {
	if _, err := NewDPoPProverWithKey(nil); err == nil {
		t.Error("nil key: want error")
	}
	k384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDPoPProverWithKey(k384); err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("P-384 key: got %v, want an error naming the curve", err)
	}
}

// Two provers made at start must not share a key, and each proof gets a
// fresh jti by default.
func TestDPoPDefaults(t *testing.T) {
	a, err := NewDPoPProver()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDPoPProver()
	if err != nil {
		t.Fatal(err)
	}
	if a.Thumbprint() == b.Thumbprint() {
		t.Fatal("two generated provers share a key")
	}
	jtis := map[any]bool{}
	for range 3 {
		proof, err := a.Proof("GET", "https://h/", "", "")
		if err != nil {
			t.Fatal(err)
		}
		_, c := verifyProof(t, proof)
		if jtis[c["jti"]] {
			t.Fatalf("jti %v repeated", c["jti"])
		}
		jtis[c["jti"]] = true
	}
}
