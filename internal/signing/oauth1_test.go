package signing

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// RFC 5849 §3.4.1.1: the example request and its base string, copied from
// the RFC text (its line breaks are for display only).
var (
	rfcURL     = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
	rfcBody    = "c2&a3=2+q"
	rfcOAuth   = map[string]string{"realm": "Example", "oauth_consumer_key": "9djdj82h48djs9d2", "oauth_token": "kkk9d7dh3k39sjv7", "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "137131201", "oauth_nonce": "7d8f3e4a", "oauth_signature": "bYT5CMsGcbgUdFHObYMEfcx6bsw%3D"}
	rfcBaseStr = "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q" +
		"%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_" +
		"key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m" +
		"ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk" +
		"9d7dh3k39sjv7"
)

const formCT = "application/x-www-form-urlencoded"

func TestSignatureBaseStringRFC5849(t *testing.T) {
	got := SignatureBaseString("POST", mustURL(t, rfcURL), []byte(rfcBody), formCT, rfcOAuth)
	if got != rfcBaseStr {
		t.Fatalf("base string\n got %s\nwant %s", got, rfcBaseStr)
	}
}

// photosParams are the RFC 5849 §1.2 protocol parameters (no oauth_version,
// as in the RFC's header).
func photosParams(method string) map[string]string {
	return map[string]string{
		"oauth_consumer_key": "dpf43f3p2l4k3l03", "oauth_token": "nnch734d00sl2jdk",
		"oauth_signature_method": method, "oauth_timestamp": "137131202", "oauth_nonce": "chapoH",
	}
}

func photosSigner(t testing.TB, method string) *OAuth1Signer {
	t.Helper()
	s, err := NewOAuth1Signer(OAuth1Params{
		SignatureMethod: method, ConsumerKey: "dpf43f3p2l4k3l03", ConsumerSecret: "kd94hf93k423kf44",
		Token: "nnch734d00sl2jdk", TokenSecret: "pfkkdhi9sl3r4s00", Realm: "Photos",
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Now = fixedClock(137131202)
	s.Nonce = fixed("chapoH")
	return s
}

// Signature vectors. The HMAC-SHA256 ones were computed outside Go:
//
//	printf '%s' "$BASE" | openssl dgst -sha256 -hmac 'kd94hf93k423kf44&pfkkdhi9sl3r4s00' -binary | base64
//
// with BASE the photos base string carrying oauth_signature_method=HMAC-SHA256.
func TestOAuth1SignatureVectors(t *testing.T) {
	tests := []struct {
		name, method, url, body, ct string
		params                      map[string]string
		cs, ts                      string
		want                        string
	}{
		{name: "RFC 5849 §3.4.1.1 HMAC-SHA1", method: "POST", url: rfcURL, body: rfcBody, ct: formCT, params: rfcOAuth,
			cs: "j49sk3j29djd", ts: "dh893hdasih9", want: "r6/TJjbCOr97/+UU0NsvSne7s5g="},
		{name: "RFC 5849 §1.2 photos HMAC-SHA1", method: "GET", url: "http://photos.example.net/photos?file=vacation.jpg&size=original",
			params: photosParams(OAuth1HMACSHA1), cs: "kd94hf93k423kf44", ts: "pfkkdhi9sl3r4s00", want: "MdpQcU8iPSUjWoN/UDMsK2sui9I="},
		{name: "photos HMAC-SHA256 (openssl)", method: "GET", url: "http://photos.example.net/photos?file=vacation.jpg&size=original",
			params: photosParams(OAuth1HMACSHA256), cs: "kd94hf93k423kf44", ts: "pfkkdhi9sl3r4s00", want: "HtMwoX2zenlFjgGg/SNEoKEQmL7CzxYFEKzs7er044Y="},
		{name: "RFC 5849 §1.2 temporary credentials (oauth_callback)", method: "POST", url: "https://photos.example.net/initiate",
			params: map[string]string{"oauth_consumer_key": "dpf43f3p2l4k3l03", "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "137131200",
				"oauth_nonce": "wIjqoS", "oauth_callback": "http://printer.example.com/ready"},
			cs: "kd94hf93k423kf44", want: "74KNZJeDHnMBp0EMJ9ZHt/XKycU="},
		{name: "RFC 5849 §1.2 token credentials (oauth_verifier)", method: "POST", url: "https://photos.example.net/token",
			params: map[string]string{"oauth_consumer_key": "dpf43f3p2l4k3l03", "oauth_token": "hh5s93j4hdidpola", "oauth_signature_method": "HMAC-SHA1",
				"oauth_timestamp": "137131201", "oauth_nonce": "walatlh", "oauth_verifier": "hfdp7dh39dks9884"},
			cs: "kd94hf93k423kf44", ts: "hdhd0244k9j7ao03", want: "gKgrFCywp7rO0OXSjdot/IHF7IU="},
		{name: "PLAINTEXT", method: "GET", url: "http://photos.example.net/photos", params: photosParams(OAuth1Plaintext),
			cs: "kd94hf93k423kf44", ts: "pfkkdhi9sl3r4s00", want: "kd94hf93k423kf44&pfkkdhi9sl3r4s00"},
		{name: "PLAINTEXT encodes secrets, keeps & for empty token secret", method: "GET", url: "http://x/", params: photosParams(OAuth1Plaintext),
			cs: "a b&c=", ts: "", want: "a%20b%26c%3D&"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewOAuth1Signer(OAuth1Params{SignatureMethod: tt.params["oauth_signature_method"], ConsumerKey: tt.params["oauth_consumer_key"],
				ConsumerSecret: tt.cs, Token: tt.params["oauth_token"], TokenSecret: tt.ts})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.signature(tt.method, mustURL(t, tt.url), []byte(tt.body), tt.ct, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("signature = %s, want %s", got, tt.want)
			}
		})
	}
}

// Sign adds oauth_version="1.0", so the photos signature differs from the
// RFC's; this one is openssl over the base string with oauth_version=1.0.
func TestOAuth1SignHeader(t *testing.T) {
	tests := []struct {
		method string
		want   string
	}{
		{OAuth1HMACSHA1, `OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131202", oauth_nonce="chapoH", oauth_version="1.0", oauth_signature="1IAE9RzK%2BDqSqVTdQ%2F0zWANXVzs%3D"`},
		{OAuth1Plaintext, `OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", oauth_signature_method="PLAINTEXT", oauth_timestamp="137131202", oauth_nonce="chapoH", oauth_version="1.0", oauth_signature="kd94hf93k423kf44%26pfkkdhi9sl3r4s00"`},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			s := photosSigner(t, tt.method)
			req := newReq(t, "GET", "http://photos.example.net/photos?file=vacation.jpg&size=original", "")
			if err := s.Sign(req, nil); err != nil {
				t.Fatal(err)
			}
			if got := req.Header.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestOAuth1SignWithRedirectionParams: the RFC 5849 §1.2 exchanges through
// SignWith. The parameters land in the header, percent-encoded, and the
// signature is the RFC's HMAC over a base string that includes them (plus
// the oauth_version Sign always adds).
func TestOAuth1SignWithRedirectionParams(t *testing.T) {
	tests := []struct {
		name, url, token, tokenSecret string
		extra                         map[string]string
		wantInHeader                  string
	}{
		{name: "initiate", url: "https://photos.example.net/initiate", extra: map[string]string{"oauth_callback": "http://printer.example.com/ready"},
			wantInHeader: `oauth_callback="http%3A%2F%2Fprinter.example.com%2Fready"`},
		{name: "oob callback", url: "https://photos.example.net/initiate", extra: map[string]string{"oauth_callback": "oob"},
			wantInHeader: `oauth_callback="oob"`},
		{name: "token", url: "https://photos.example.net/token", token: "hh5s93j4hdidpola", tokenSecret: "hdhd0244k9j7ao03",
			extra: map[string]string{"oauth_verifier": "hfdp7dh39dks9884"}, wantInHeader: `oauth_verifier="hfdp7dh39dks9884"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewOAuth1Signer(OAuth1Params{SignatureMethod: OAuth1HMACSHA1, ConsumerKey: "dpf43f3p2l4k3l03", ConsumerSecret: "kd94hf93k423kf44",
				Token: tt.token, TokenSecret: tt.tokenSecret, Realm: "Photos"})
			if err != nil {
				t.Fatal(err)
			}
			s.Now, s.Nonce = fixedClock(137131200), fixed("wIjqoS")
			req := newReq(t, "POST", tt.url, "")
			if err := s.SignWith(req, nil, tt.extra); err != nil {
				t.Fatal(err)
			}
			h := req.Header.Get("Authorization")
			if !strings.Contains(h, tt.wantInHeader) {
				t.Fatalf("header lacks %s: %s", tt.wantInHeader, h)
			}
			p := parseOAuthHeader(t, h)
			base := SignatureBaseString("POST", req.URL, nil, "", p)
			for k, v := range tt.extra {
				if !strings.Contains(base, PercentEncode(PercentEncode(k)+"="+PercentEncode(v))) {
					t.Errorf("base string does not cover %s: %s", k, base)
				}
			}
			want := hmacSHA1B64("kd94hf93k423kf44&"+tt.tokenSecret, base)
			if p["oauth_signature"] != want {
				t.Errorf("signature %s, want %s", p["oauth_signature"], want)
			}
		})
	}
}

func TestOAuth1SignWithRejectsBadExtras(t *testing.T) {
	s := photosSigner(t, OAuth1HMACSHA1)
	for _, extra := range []map[string]string{
		{"callback": "oob"}, {"oauth_token": "x"}, {"oauth_signature": "x"}, {"oauth_nonce": "x"}, {"oauth_verifier": ""},
	} {
		req := newReq(t, "POST", "https://photos.example.net/token", "")
		if err := s.SignWith(req, nil, extra); err == nil {
			t.Errorf("SignWith accepted %v", extra)
		} else if req.Header.Get("Authorization") != "" {
			t.Errorf("SignWith(%v) failed but set a header", extra)
		}
	}
}

func TestOAuth1SignTwoLeggedOmitsToken(t *testing.T) {
	s, err := NewOAuth1Signer(OAuth1Params{SignatureMethod: "hmac-sha256", ConsumerKey: "ck", ConsumerSecret: "cs"})
	if err != nil {
		t.Fatal(err)
	}
	s.Now, s.Nonce = fixedClock(1), fixed("n")
	req := newReq(t, "POST", "https://api.example/x", formCT)
	if err := s.Sign(req, []byte("q=1")); err != nil {
		t.Fatal(err)
	}
	h := req.Header.Get("Authorization")
	if strings.Contains(h, "oauth_token") || strings.Contains(h, "realm") {
		t.Errorf("two-legged header has a token or realm: %s", h)
	}
	if !strings.Contains(h, `oauth_signature_method="HMAC-SHA256"`) {
		t.Errorf("method not canonicalised: %s", h)
	}
}

var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// parseOAuthHeader turns an Authorization: OAuth header back into its
// decoded parameters.
func parseOAuthHeader(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "OAuth ")
	if !ok {
		t.Fatalf("not an OAuth header: %s", h)
	}
	out := map[string]string{}
	for part := range strings.SplitSeq(rest, ", ") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			t.Fatalf("malformed parameter %q in %s", part, h)
		}
		dv, err := url.PathUnescape(v[1 : len(v)-1])
		if err != nil {
			t.Fatal(err)
		}
		out[k] = dv
	}
	return out
}

// RSA signatures are checked the way a server would: rebuild the base
// string from the header and verify with the public key.
func TestOAuth1RSA(t *testing.T) {
	key := testRSAKey()
	tests := []struct {
		method string
		hash   crypto.Hash
	}{
		{OAuth1RSASHA1, crypto.SHA1},
		{OAuth1RSASHA256, crypto.SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			s, err := NewOAuth1Signer(OAuth1Params{SignatureMethod: tt.method, ConsumerKey: "ck", Token: "tok", RSAKey: key})
			if err != nil {
				t.Fatal(err)
			}
			body := []byte("a=1&b=%20x")
			req := newReq(t, "POST", "https://API.example:443/v1/things?z=9", formCT)
			if err := s.Sign(req, body); err != nil {
				t.Fatal(err)
			}
			p := parseOAuthHeader(t, req.Header.Get("Authorization"))
			sig, err := base64.StdEncoding.DecodeString(p["oauth_signature"])
			if err != nil {
				t.Fatal(err)
			}
			base := SignatureBaseString("POST", req.URL, body, formCT, p)
			if !strings.HasPrefix(base, "POST&https%3A%2F%2Fapi.example%2Fv1%2Fthings&a%3D1%26b%3D%2520x%26oauth_consumer_key%3Dck") {
				t.Fatalf("unexpected base string %s", base)
			}
			var digest []byte
			if tt.hash == crypto.SHA1 {
				d := sha1.Sum([]byte(base))
				digest = d[:]
			} else {
				d := sha256.Sum256([]byte(base))
				digest = d[:]
			}
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, tt.hash, digest, sig); err != nil {
				t.Fatalf("signature does not verify: %v", err)
			}
			// And it must not verify over a different request.
			d := sha256.Sum256([]byte(base + "x"))
			if tt.hash == crypto.SHA256 && rsa.VerifyPKCS1v15(&key.PublicKey, tt.hash, d[:], sig) == nil {
				t.Fatal("signature verified over a different base string")
			}
		})
	}
}

// The HMAC-SHA256 signer cross-checked against a second computation (the
// openssl vector above covers a fixed request; this covers Sign end to end).
func TestOAuth1HMACSHA256SignVerifies(t *testing.T) {
	s := photosSigner(t, OAuth1HMACSHA256)
	req := newReq(t, "PUT", "http://photos.example.net:8080/p?x=%2B", formCT)
	body := []byte("n=a+b&n=a")
	if err := s.Sign(req, body); err != nil {
		t.Fatal(err)
	}
	p := parseOAuthHeader(t, req.Header.Get("Authorization"))
	base := SignatureBaseString("PUT", req.URL, body, formCT, p)
	want := "PUT&http%3A%2F%2Fphotos.example.net%3A8080%2Fp&n%3Da%26n%3Da%2520b%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26x%3D%252B"
	if base != want {
		t.Fatalf("base string\n got %s\nwant %s", base, want)
	}
	if got, want := p["oauth_signature"], hmacSHA256B64("kd94hf93k423kf44&pfkkdhi9sl3r4s00", base); got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

func TestBaseStringURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://example.com:80/r%20v/X?id=123", "http://example.com/r%20v/X"}, // RFC 5849 §3.4.1.2
		{"https://www.example.net:8080/?q=1", "https://www.example.net:8080/"}, // RFC 5849 §3.4.1.2
		{"https://example.com:443/a", "https://example.com/a"},
		{"http://example.com:8080/a", "http://example.com:8080/a"},
		{"https://example.com:80/a", "https://example.com:80/a"},
		{"HTTP://EXAMPLE.COM/Path", "http://example.com/Path"},
		{"http://example.com", "http://example.com/"},
		{"http://[::1]:8080/x#frag", "http://[::1]:8080/x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := baseStringURI(mustURL(t, tt.in)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSignatureBaseStringParams(t *testing.T) {
	op := map[string]string{"oauth_nonce": "n", "realm": "r", "oauth_signature": "skip"}
	tests := []struct {
		name, url, body, ct, want string
	}{
		{name: "form body used for form content type", url: "http://h/?b=2", body: "a=1", ct: formCT,
			want: "GET&http%3A%2F%2Fh%2F&a%3D1%26b%3D2%26oauth_nonce%3Dn"},
		{name: "form content type with charset", url: "http://h/", body: "a=1", ct: formCT + "; charset=UTF-8",
			want: "GET&http%3A%2F%2Fh%2F&a%3D1%26oauth_nonce%3Dn"},
		{name: "json body ignored", url: "http://h/?b=2", body: "a=1", ct: "application/json",
			want: "GET&http%3A%2F%2Fh%2F&b%3D2%26oauth_nonce%3Dn"},
		{name: "no content type ignores body", url: "http://h/", body: "a=1",
			want: "GET&http%3A%2F%2Fh%2F&oauth_nonce%3Dn"},
		{name: "duplicates kept, sorted by name then value", url: "http://h/?a=z&a=b&A=1", body: "a=m", ct: formCT,
			want: "GET&http%3A%2F%2Fh%2F&A%3D1%26a%3Db%26a%3Dm%26a%3Dz%26oauth_nonce%3Dn"},
		{name: "oauth_signature in query dropped", url: "http://h/?oauth_signature=x&c=", body: "", ct: formCT,
			want: "GET&http%3A%2F%2Fh%2F&c%3D%26oauth_nonce%3Dn"},
		{name: "realm only dropped from header params", url: "http://h/?realm=q",
			want: "GET&http%3A%2F%2Fh%2F&oauth_nonce%3Dn%26realm%3Dq"},
		{name: "invalid escape kept literally", url: "http://h/", body: "a=%zz&b=%4", ct: formCT,
			want: "GET&http%3A%2F%2Fh%2F&a%3D%2525zz%26b%3D%25254%26oauth_nonce%3Dn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SignatureBaseString("get", mustURL(t, tt.url), []byte(tt.body), tt.ct, op); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	if got := SignatureBaseString("GET", nil, nil, "", nil); got != "GET&%3A%2F%2F%2F&" {
		t.Errorf("nil URL: %q", got)
	}
}

func TestPercentEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abcXYZ019-._~", "abcXYZ019-._~"},
		{"Ladies + Gentlemen", "Ladies%20%2B%20Gentlemen"},
		{"An encoded string!", "An%20encoded%20string%21"},
		{"Dogs, Cats & Mice", "Dogs%2C%20Cats%20%26%20Mice"},
		{"☃", "%E2%98%83"},
		{"%3D", "%253D"},
		{"*'()/?:@", "%2A%27%28%29%2F%3F%3A%40"},
		{"\x00\xff", "%00%FF"},
	}
	for _, tt := range tests {
		if got := PercentEncode(tt.in); got != tt.want {
			t.Errorf("PercentEncode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewOAuth1SignerErrors(t *testing.T) {
	key := testRSAKey()
	tests := []struct {
		name    string
		p       OAuth1Params
		wantErr string
	}{
		{"RSA with only HMAC secret", OAuth1Params{SignatureMethod: "RSA-SHA1", ConsumerKey: "ck", ConsumerSecret: "s3cr3t-value"},
			"oauth1: RSA-SHA1 needs an RSA private key, but only an HMAC secret is configured"},
		{"RSA-SHA256 with nothing", OAuth1Params{SignatureMethod: "RSA-SHA256", ConsumerKey: "ck"},
			"oauth1: RSA-SHA256 needs an RSA private key, and none is configured"},
		{"HMAC without secret", OAuth1Params{SignatureMethod: "HMAC-SHA1", ConsumerKey: "ck", RSAKey: key},
			"oauth1: HMAC-SHA1 needs a consumer secret, and the consumer secret is empty"},
		{"PLAINTEXT without secret", OAuth1Params{SignatureMethod: "PLAINTEXT", ConsumerKey: "ck"},
			"oauth1: PLAINTEXT needs a consumer secret"},
		{"unknown method", OAuth1Params{SignatureMethod: "HMAC-MD5", ConsumerKey: "ck", ConsumerSecret: "s3cr3t-value"},
			`oauth1: unsupported signature method "HMAC-MD5"; want HMAC-SHA1, HMAC-SHA256, RSA-SHA1, RSA-SHA256 or PLAINTEXT`},
		{"empty method", OAuth1Params{ConsumerKey: "ck", ConsumerSecret: "s3cr3t-value"}, "oauth1: signature method is empty"},
		{"empty consumer key", OAuth1Params{SignatureMethod: "HMAC-SHA1", ConsumerSecret: "s3cr3t-value"}, "oauth1: consumer key is empty"},
		{"quote in realm", OAuth1Params{SignatureMethod: "HMAC-SHA1", ConsumerKey: "ck", ConsumerSecret: "s3cr3t-value", Realm: `a"b`},
			"oauth1: realm contains a quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewOAuth1Signer(tt.p)
			if err == nil {
				t.Fatalf("want error, got signer %+v", s)
			}
			if !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want prefix %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}

func TestOAuth1SignErrors(t *testing.T) {
	var nilSigner *OAuth1Signer
	if err := nilSigner.Sign(newReq(t, "GET", "http://h/", ""), nil); err == nil {
		t.Error("nil signer: want error")
	}
	s := photosSigner(t, OAuth1HMACSHA1)
	if err := s.Sign(nil, nil); err == nil {
		t.Error("nil request: want error")
	}
	if err := s.Sign(newReq(t, "GET", "/relative", ""), nil); err == nil || !strings.Contains(err.Error(), "no host") {
		t.Errorf("relative URL: got %v", err)
	}
	s.Nonce = fixed("")
	if err := s.Sign(newReq(t, "GET", "http://h/", ""), nil); err == nil || !strings.Contains(err.Error(), "nonce is empty") {
		t.Errorf("empty nonce: got %v", err)
	}
}

func FuzzSignatureBaseString(f *testing.F) {
	f.Add("POST", rfcURL, rfcBody, formCT, "oauth_nonce", "7d8f3e4a")
	f.Add("GET", "http://[::1]:80/%zz?a=%&b=+", "%", formCT+"; charset=\"", "realm", "x")
	f.Add("", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, method, rawURL, body, ct, k, v string) {
		u, err := url.Parse(rawURL)
		if err != nil {
			u = nil
		}
		got := SignatureBaseString(method, u, []byte(body), ct, map[string]string{k: v})
		// Every component is percent-encoded, so exactly two raw "&" join
		// the three parts and only unreserved bytes or escapes remain.
		if strings.Count(got, "&") != 2 {
			t.Fatalf("base string %q does not have three parts", got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; !unreserved(c) && c != '%' && c != '&' {
				t.Fatalf("base string %q has raw byte %q", got, c)
			}
		}
	})
}
