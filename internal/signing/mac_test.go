package signing

import (
	"strings"
	"testing"
	"time"
)

// The draft-ietf-oauth-v2-http-mac-01 example request. The MAC printed in
// the draft for it is wrong; the values below were computed independently:
//
//	printf '1336363200\ndj83hs9s\nGET\n/resource/1?b=1&a=2\nexample.com\n80\n\n' > ns
//	openssl dgst -sha1   -hmac 489dks293j39 -binary ns | base64  # 6T3zZzy2Emppni6bzL7kdRxUWL4=
//	openssl dgst -sha256 -hmac 489dks293j39 -binary ns | base64  # 1c0l2YIW7g7syyDmVHy2lxCeZK5VouDCuU0T0YOmTOU=
const (
	macKey   = "489dks293j39"
	macTS    = int64(1336363200)
	macNonce = "dj83hs9s"
	macSHA1  = "6T3zZzy2Emppni6bzL7kdRxUWL4="
	macSHA25 = "1c0l2YIW7g7syyDmVHy2lxCeZK5VouDCuU0T0YOmTOU="
)

var macReq = MACRequest{Method: "GET", RequestURI: "/resource/1?b=1&a=2", Host: "example.com", Port: 80}

func TestMACNormalizedString(t *testing.T) {
	tests := []struct {
		name string
		r    MACRequest
		want string
	}{
		{"draft example", macReq, "1336363200\ndj83hs9s\nGET\n/resource/1?b=1&a=2\nexample.com\n80\n\n"},
		{"method upper, host lower, ext kept", MACRequest{Method: "post", RequestURI: "/", Host: "API.Example", Port: 8443, Ext: "a,b"},
			"1336363200\ndj83hs9s\nPOST\n/\napi.example\n8443\na,b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MACNormalizedString(macTS, macNonce, tt.r); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMACSignature(t *testing.T) {
	tests := []struct {
		alg, key, want, wantErr string
	}{
		{alg: "hmac-sha-1", key: macKey, want: macSHA1},
		{alg: "hmac-sha-256", key: macKey, want: macSHA25},
		// Akana's spellings of the same algorithms.
		{alg: "HmacSHA1", key: macKey, want: macSHA1},
		{alg: "HMACSHA256", key: macKey, want: macSHA25},
		{alg: "hmac-md5", key: macKey, wantErr: `mac: unsupported algorithm "hmac-md5"; want hmac-sha-1 or hmac-sha-256`},
		{alg: "hmac-sha-1", key: "", wantErr: "mac: mac_key is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.alg+"/"+tt.want+tt.wantErr, func(t *testing.T) {
			got, err := MACSignature(tt.alg, tt.key, macTS, macNonce, macReq)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("MAC = %s, want %s", got, tt.want)
			}
		})
	}
}

func fixedClock(sec int64) func() time.Time { return func() time.Time { return time.Unix(sec, 0) } }
func fixed(s string) func() string          { return func() string { return s } }

func TestMACSignerSign(t *testing.T) {
	s := MACSigner{Now: fixedClock(macTS), Nonce: fixed(macNonce)}
	tests := []struct {
		name, method, url, alg string
		want                   string // the normalized-request fields it must have used
	}{
		{"draft vector over http", "GET", "http://example.com/resource/1?b=1&a=2", MACHMACSHA1,
			`MAC id="h480djs93hd8", ts="1336363200", nonce="dj83hs9s", mac="` + macSHA1 + `"`},
		{"sha-256", "GET", "http://example.com/resource/1?b=1&a=2", MACHMACSHA256,
			`MAC id="h480djs93hd8", ts="1336363200", nonce="dj83hs9s", mac="` + macSHA25 + `"`},
		{"https default port", "POST", "https://EXAMPLE.com/p", MACHMACSHA1,
			mustMACHeader(t, MACHMACSHA1, MACRequest{Method: "POST", RequestURI: "/p", Host: "example.com", Port: 443})},
		{"explicit port", "GET", "http://example.com:8080/", MACHMACSHA1,
			mustMACHeader(t, MACHMACSHA1, MACRequest{Method: "GET", RequestURI: "/", Host: "example.com", Port: 8080})},
		{"ipv6 and empty method", "", "http://[::1]:9000/a%20b", MACHMACSHA1,
			mustMACHeader(t, MACHMACSHA1, MACRequest{Method: "GET", RequestURI: "/a%20b", Host: "::1", Port: 9000})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newReq(t, tt.method, tt.url, "")
			if err := s.Sign(req, "h480djs93hd8", macKey, tt.alg); err != nil {
				t.Fatal(err)
			}
			if got := req.Header.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

func mustMACHeader(t *testing.T, alg string, r MACRequest) string {
	t.Helper()
	m, err := MACSignature(alg, macKey, macTS, macNonce, r)
	if err != nil {
		t.Fatal(err)
	}
	return `MAC id="h480djs93hd8", ts="1336363200", nonce="dj83hs9s", mac="` + m + `"`
}

func TestMACSignerErrors(t *testing.T) {
	s := MACSigner{Now: fixedClock(macTS), Nonce: fixed(macNonce)}
	tests := []struct {
		name, url, id, key, alg, wantErr string
		nonce                            string
	}{
		{name: "empty key", url: "http://example.com/", id: "id", alg: MACHMACSHA1, wantErr: "mac: mac_key is empty"},
		{name: "unknown alg", url: "http://example.com/", id: "id", key: macKey, alg: "hmac-sha-512", wantErr: `"hmac-sha-512"`},
		{name: "empty id", url: "http://example.com/", key: macKey, alg: MACHMACSHA1, wantErr: "id (the access token) is empty"},
		{name: "quote in id", url: "http://example.com/", id: `a"b`, key: macKey, alg: MACHMACSHA1, wantErr: "contains a quote"},
		{name: "no host", url: "/relative", id: "id", key: macKey, alg: MACHMACSHA1, wantErr: "no host"},
		{name: "ftp scheme", url: "ftp://example.com/", id: "id", key: macKey, alg: MACHMACSHA1, wantErr: `scheme "ftp" has no default port`},
		{name: "bad nonce", url: "http://example.com/", id: "id", key: macKey, alg: MACHMACSHA1, nonce: "a\nb", wantErr: "nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := s
			if tt.nonce != "" {
				s.Nonce = fixed(tt.nonce)
			}
			req := newReq(t, "GET", tt.url, "")
			err := s.Sign(req, tt.id, tt.key, tt.alg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.key != "" && strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q leaks the MAC key", err)
			}
			if req.Header.Get("Authorization") != "" {
				t.Error("Authorization set despite the error")
			}
		})
	}
	if err := s.Sign(nil, "id", macKey, MACHMACSHA1); err == nil {
		t.Error("nil request: want error")
	}
}

// The zero MACSigner must use the real clock and distinct random nonces.
func TestMACSignerDefaults(t *testing.T) {
	var s MACSigner
	seen := map[string]bool{}
	for range 3 {
		req := newReq(t, "GET", "https://example.com/", "")
		if err := s.Sign(req, "id", macKey, MACHMACSHA1); err != nil {
			t.Fatal(err)
		}
		h := req.Header.Get("Authorization")
		_, rest, _ := strings.Cut(h, `nonce="`)
		nonce, _, _ := strings.Cut(rest, `"`)
		if len(nonce) < 16 || seen[nonce] {
			t.Fatalf("nonce %q is short or repeated", nonce)
		}
		seen[nonce] = true
	}
}
