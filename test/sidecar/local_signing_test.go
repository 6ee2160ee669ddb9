package sidecar

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// authParams parses `Scheme k="v", k="v"` as MAC and OAuth 1.0a send it.
func authParams(t *testing.T, header, scheme string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(header, scheme+" ")
	if !ok {
		t.Errorf("Authorization %q does not use the %s scheme", header, scheme)
		return nil
	}
	out := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			t.Errorf("malformed auth-param %q in %q", part, header)
			continue
		}
		out[k] = v[1 : len(v)-1]
	}
	return out
}

// TestLocalMAC: the token endpoint issues a MAC token; the partner
// recomputes the MAC (draft-ietf-oauth-v2-http-mac-01) from the header it
// received with signing.MACSignature and the key it issued.
func TestLocalMAC(t *testing.T) {
	const macKey = "adijq39jdlaska9asud"
	tests := []struct {
		name       string
		token      map[string]any
		wantStatus int
		wantDetail string
	}{
		{name: "hmac-sha-256", token: map[string]any{"access_token": "h480djs93hd8", "token_type": "mac", "mac_key": macKey, "mac_algorithm": "hmac-sha-256", "expires_in": 3600}, wantStatus: 200},
		{name: "hmac-sha-1", token: map[string]any{"access_token": "h480djs93hd8", "token_type": "MAC", "mac_key": macKey, "mac_algorithm": "hmac-sha-1", "expires_in": 3600}, wantStatus: 200},
		{name: "missing mac_key", token: map[string]any{"access_token": "h480djs93hd8", "token_type": "mac", "mac_algorithm": "hmac-sha-256"}, wantStatus: 503, wantDetail: "mac_key"},
		{name: "unknown token_type", token: map[string]any{"access_token": "h480djs93hd8", "token_type": "hawk"}, wantStatus: 503, wantDetail: "unknown token_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p := authParams(t, r.Header.Get("Authorization"), "MAC")
				host, portStr, _ := net.SplitHostPort(r.Host)
				port, _ := strconv.Atoi(portStr)
				ts, err := strconv.ParseInt(p["ts"], 10, 64)
				if err != nil || p["nonce"] == "" || p["id"] != "h480djs93hd8" {
					t.Errorf("MAC header params %v", p)
				}
				want, err := signing.MACSignature(tt.token["mac_algorithm"].(string), macKey, ts, p["nonce"],
					signing.MACRequest{Method: r.Method, RequestURI: r.RequestURI, Host: host, Port: port})
				if err != nil || !hmac.Equal([]byte(want), []byte(p["mac"])) {
					t.Errorf("MAC does not verify (err %v)", err)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				writeJSON(w, 200, map[string]any{"ok": true})
			}))
			t.Cleanup(api.Close)
			sec := newSecrets(t)
			b := localBinding("mac", api.URL, staticAS(t, tt.token).URL, localAuth(sec))
			wait := waitStartup
			if tt.wantDetail != "" {
				wait = waitLive
			}
			sc := startSidecar(t, newConfig(t, b), wait)
			r := appCall(t, http.MethodPost, sc.url("mac", "/resource/1?b=2&a=1"), http.Header{"Content-Type": {"text/plain"}}, []byte("hello"))
			if r.status != tt.wantStatus {
				t.Fatalf("app reply: %v, want %d", r, tt.wantStatus)
			}
			if tt.wantDetail != "" {
				if !strings.Contains(r.str("detail"), tt.wantDetail) || r.header.Get("X-OAuth-Injector-Error") == "" {
					t.Errorf("detail %q does not say %q", r.str("detail"), tt.wantDetail)
				}
				if strings.Contains(string(r.raw), "h480djs93hd8") {
					t.Errorf("the access token leaked into the error")
				}
			}
		})
	}
}

// verifyOAuth1 recomputes the RFC 5849 signature of r with
// signing.SignatureBaseString and checks it the way a provider does.
func verifyOAuth1(t *testing.T, r *http.Request, body []byte, method, consumerSecret, tokenSecret string, pub *rsa.PublicKey, wantToken string) bool {
	t.Helper()
	raw := authParams(t, r.Header.Get("Authorization"), "OAuth")
	p := map[string]string{}
	for k, v := range raw {
		d, err := url.PathUnescape(v)
		if err != nil {
			t.Errorf("param %s is not percent-encoded: %q", k, v)
		}
		p[k] = d
	}
	if p["oauth_signature_method"] != method || p["oauth_consumer_key"] != "ck-1" || p["oauth_version"] != "1.0" || p["oauth_nonce"] == "" {
		t.Errorf("protocol parameters %v", p)
	}
	if p["oauth_token"] != wantToken {
		t.Errorf("oauth_token = %q, want %q", p["oauth_token"], wantToken)
	}
	if ts, err := strconv.ParseInt(p["oauth_timestamp"], 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		t.Errorf("oauth_timestamp %q is not current", p["oauth_timestamp"])
	}
	sig := p["oauth_signature"]
	u, _ := url.Parse("http://" + r.Host + r.RequestURI)
	base := signing.SignatureBaseString(r.Method, u, body, r.Header.Get("Content-Type"), p)
	key := signing.PercentEncode(consumerSecret) + "&" + signing.PercentEncode(tokenSecret)
	switch method {
	case signing.OAuth1Plaintext:
		return sig == key
	case signing.OAuth1HMACSHA1, signing.OAuth1HMACSHA256:
		h := hmac.New(sha1.New, []byte(key))
		if method == signing.OAuth1HMACSHA256 {
			h = hmac.New(sha256.New, []byte(key))
		}
		h.Write([]byte(base))
		return hmac.Equal([]byte(base64.StdEncoding.EncodeToString(h.Sum(nil))), []byte(sig))
	case signing.OAuth1RSASHA1, signing.OAuth1RSASHA256:
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return false
		}
		alg, sum := crypto.SHA1, sha1.Sum([]byte(base))
		digest := sum[:]
		if method == signing.OAuth1RSASHA256 {
			s := sha256.Sum256([]byte(base))
			alg, digest = crypto.SHA256, s[:]
		}
		return rsa.VerifyPKCS1v15(pub, alg, digest, raw) == nil
	}
	return false
}

// TestLocalOAuth1 signs two- and three-legged requests with every RFC 5849
// method; the partner verifies query and form-body parameters are covered.
func TestLocalOAuth1(t *testing.T) {
	key := rsaKey(t)
	methods := []string{signing.OAuth1HMACSHA1, signing.OAuth1HMACSHA256, signing.OAuth1RSASHA1, signing.OAuth1RSASHA256, signing.OAuth1Plaintext}
	for _, method := range methods {
		for _, legs := range []string{"two-legged", "three-legged"} {
			t.Run(method+"/"+legs, func(t *testing.T) {
				rsaMethod := strings.HasPrefix(method, "RSA-")
				const cs, ts = "kd94hf93k423kf44&+", "pfkkdhi9sl3r4s00 %"
				wantToken, tokenSecret := "", ""
				if legs == "three-legged" {
					wantToken = "nnch734d00sl2jdk"
					if !rsaMethod {
						tokenSecret = ts
					}
				}
				api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					if string(body) != "a3=2+q&c2=" {
						t.Errorf("body changed in transit: %q", body)
					}
					if !verifyOAuth1(t, r, body, method, map[bool]string{true: "", false: cs}[rsaMethod], tokenSecret, &key.PublicKey, wantToken) {
						t.Errorf("%s signature does not verify", method)
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					writeJSON(w, 200, map[string]any{"ok": true})
				}))
				t.Cleanup(api.Close)
				sec := newSecrets(t)
				o := &config.OAuth1{SignatureMethod: method, ConsumerKeyFile: sec.file("ck", "ck-1")}
				b := config.Binding{Name: "oauth1", Upstream: config.Upstream{URL: api.URL}, Grant: config.Grant{Type: config.GrantNone}, OAuth1: o}
				if rsaMethod {
					b.PrivateKey = &config.PrivateKey{File: sec.key("rsa.pem", key)}
				} else {
					o.ConsumerSecretFile = sec.file("cs", cs)
				}
				if wantToken != "" {
					o.TokenFile = sec.file("token", wantToken)
					if tokenSecret != "" {
						o.TokenSecretFile = sec.file("token-secret", tokenSecret)
					}
				}
				sc := startSidecar(t, newConfig(t, b), waitStartup)
				r := appCall(t, http.MethodPost, sc.url("oauth1", "/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"),
					http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"OAuth forged"}}, []byte("a3=2+q&c2="))
				if r.status != 200 {
					t.Errorf("app reply: %v", r)
				}
			})
		}
	}
}

// TestConfigRejectsOAuth1RSAWithoutKey: the binary refuses to start, exit
// non-zero, with a message that names the field.
func TestConfigRejectsOAuth1RSAWithoutKey(t *testing.T) {
	for _, method := range []string{signing.OAuth1RSASHA1, signing.OAuth1RSASHA256} {
		t.Run(method, func(t *testing.T) {
			sec := newSecrets(t)
			c := newConfig(t, config.Binding{Name: "oauth1", Upstream: config.Upstream{URL: "https://api.partner.example"},
				Grant:  config.Grant{Type: config.GrantNone},
				OAuth1: &config.OAuth1{SignatureMethod: method, ConsumerKeyFile: sec.file("ck", "ck-1"), ConsumerSecretFile: sec.file("cs", "hmac-secret")}})
			code, out := runInjector(t, "run", "--config", writeConfig(t, c))
			if code == 0 {
				t.Fatalf("injector started with %s and no privateKey:\n%s", method, out)
			}
			if !strings.Contains(out, "bindings[0].oauth1.signatureMethod") || !strings.Contains(out, "privateKey") {
				t.Errorf("error does not name oauth1.signatureMethod and privateKey:\n%s", out)
			}
			if strings.Contains(out, "hmac-secret") {
				t.Errorf("the secret leaked into the error")
			}
		})
	}
}

// pki is a throwaway CA plus one client certificate for mutual TLS.
type pki struct {
	caPool           *x509.CertPool
	certPEM, keyPEM  string
	clientCommonName string
}

func newPKI(t *testing.T, cn string) *pki {
	t.Helper()
	caKey, leafKey := ecKey(t), ecKey(t)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{caPool: x509.NewCertPool(), clientCommonName: cn,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}
	p.caPool.AddCert(ca)
	return p
}

// TestLocalTLSClientAuth: RFC 8705 tls_client_auth. The token endpoint
// requires a client certificate from its CA and client_id in the body, and
// no secret of any kind.
func TestLocalTLSClientAuth(t *testing.T) {
	p := newPKI(t, "mtls-client")
	as := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "mtls-client" {
			t.Errorf("token request without the client certificate")
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		_ = r.ParseForm()
		want := url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls-client"}, "scope": {"read write"}}
		if r.PostForm.Encode() != want.Encode() || r.Header.Get("Authorization") != "" {
			t.Errorf("token request form %v, Authorization %q; want client_id only", r.PostForm, r.Header.Get("Authorization"))
		}
		writeJSON(w, 200, map[string]any{"access_token": "mtls-tok", "token_type": "Bearer", "expires_in": 3600})
	}))
	as.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool, MinVersion: tls.VersionTLS12}
	as.StartTLS()
	t.Cleanup(as.Close)

	sec := newSecrets(t)
	caFile := filepath.Join(sec.dir, "as-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: as.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	b := localBinding("mtls", bearerAPI(t, "mtls-tok").URL, as.URL+"/token", config.ClientAuth{
		Method: config.AuthTLSClientAuth, ClientIDFile: sec.file("client_id", "mtls-client"),
		TLSCertFile: sec.file("tls.crt", p.certPEM), TLSKeyFile: sec.file("tls.key", p.keyPEM)})
	b.TokenEndpoint.CAFile = caFile
	sc := startSidecar(t, newConfig(t, b), waitStartup)
	if r := appCall(t, http.MethodGet, sc.url("mtls", "/v1/accounts"), nil, nil); r.status != 200 {
		t.Errorf("app reply: %v", r)
	}
}
