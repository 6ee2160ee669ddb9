package sidecar

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	xhtml "golang.org/x/net/html"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// oauth1Provider is an RFC 5849 §2 provider for tests. Every leg is checked
// the way TestLocalOAuth1's partner checks API calls (verifyOAuth1): the
// temporary credentials request with the consumer credentials and an
// oauth_callback (§2.1), the token request with the temporary credentials
// and the verifier issued for them (§2.3), and API calls with the token
// credentials. /authorize stands in for the person's approval (§2.2): it
// redirects to the callback, or shows the verifier for "oob".
type oauth1Provider struct {
	t              *testing.T
	srv            *httptest.Server
	method         string
	consumerSecret string
	pub            *rsa.PublicKey
	// authorize overrides the redirect's query (denial, a foreign token).
	authorize func(temp, verifier string) url.Values

	mu     sync.Mutex
	temps  map[string]*tempCred
	tokens map[string]string // token credentials: token -> secret
}

type tempCred struct{ secret, callback, verifier string }

func newOAuth1Provider(t *testing.T, method, consumerSecret string, pub *rsa.PublicKey) *oauth1Provider {
	p := &oauth1Provider{t: t, method: method, consumerSecret: consumerSecret, pub: pub, temps: map[string]*tempCred{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /initiate", p.initiate)
	mux.HandleFunc("GET /authorize", p.authorizePage)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("/api/", p.api)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// oauthParam is one decoded protocol parameter of r's Authorization header.
func oauthParam(t *testing.T, r *http.Request, name string) string {
	v, _ := url.PathUnescape(authParams(t, r.Header.Get("Authorization"), "OAuth")[name])
	return v
}

func (p *oauth1Provider) secretFor(secret string) string {
	if strings.HasPrefix(p.method, "RSA-") {
		return "" // RSA signatures use neither secret
	}
	return secret
}

func problem(w http.ResponseWriter, status int, what string) {
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "oauth_problem="+what)
}

func (p *oauth1Provider) initiate(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !verifyOAuth1(p.t, r, body, p.method, p.consumerSecret, "", p.pub, "") {
		problem(w, http.StatusUnauthorized, "signature_invalid")
		return
	}
	cb := oauthParam(p.t, r, "oauth_callback")
	if u, err := url.Parse(cb); cb != "oob" && (err != nil || !u.IsAbs()) {
		p.t.Errorf("oauth_callback %q is neither an absolute URI nor oob (RFC 5849 §2.1)", cb)
		problem(w, http.StatusBadRequest, "parameter_absent")
		return
	}
	temp, secret := "temp-"+rand.Text(), "tsec-"+rand.Text()
	p.mu.Lock()
	p.temps[temp] = &tempCred{secret: secret, callback: cb, verifier: "ver-" + rand.Text()}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	_, _ = io.WriteString(w, url.Values{"oauth_token": {temp}, "oauth_token_secret": {secret}, "oauth_callback_confirmed": {"true"}}.Encode())
}

func (p *oauth1Provider) authorizePage(w http.ResponseWriter, r *http.Request) {
	temp := r.URL.Query().Get("oauth_token")
	p.mu.Lock()
	tc := p.temps[temp]
	p.mu.Unlock()
	if tc == nil {
		http.Error(w, "unknown temporary credentials", http.StatusBadRequest)
		return
	}
	if tc.callback == "oob" {
		fmt.Fprintf(w, `<html><body><p>Your verification code: <code id="verifier">%s</code></p></body></html>`, html.EscapeString(tc.verifier))
		return
	}
	q := url.Values{"oauth_token": {temp}, "oauth_verifier": {tc.verifier}}
	if p.authorize != nil {
		q = p.authorize(temp, tc.verifier)
	}
	cb, _ := url.Parse(tc.callback)
	cbq := cb.Query()
	for k, v := range q {
		cbq[k] = v
	}
	cb.RawQuery = cbq.Encode()
	http.Redirect(w, r, cb.String(), http.StatusFound)
}

func (p *oauth1Provider) token(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	temp := oauthParam(p.t, r, "oauth_token")
	p.mu.Lock()
	tc := p.temps[temp]
	delete(p.temps, temp) // temporary credentials are single-use
	p.mu.Unlock()
	if tc == nil {
		problem(w, http.StatusUnauthorized, "token_rejected")
		return
	}
	if !verifyOAuth1(p.t, r, body, p.method, p.consumerSecret, p.secretFor(tc.secret), p.pub, temp) {
		problem(w, http.StatusUnauthorized, "signature_invalid")
		return
	}
	if oauthParam(p.t, r, "oauth_verifier") != tc.verifier {
		p.t.Errorf("oauth_verifier %q, want the one issued for %s", oauthParam(p.t, r, "oauth_verifier"), temp)
		problem(w, http.StatusUnauthorized, "verifier_invalid")
		return
	}
	tok, secret := "tok-"+rand.Text(), "sec-"+rand.Text()
	p.mu.Lock()
	p.tokens[tok] = secret
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	_, _ = io.WriteString(w, url.Values{"oauth_token": {tok}, "oauth_token_secret": {secret}}.Encode())
}

func (p *oauth1Provider) api(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	tok := oauthParam(p.t, r, "oauth_token")
	p.mu.Lock()
	secret, ok := p.tokens[tok]
	p.mu.Unlock()
	if !ok || !verifyOAuth1(p.t, r, body, p.method, p.consumerSecret, p.secretFor(secret), p.pub, tok) {
		problem(w, http.StatusUnauthorized, "token_rejected")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// oauth1Binding is a three-legged binding whose token files are rendered
// paths of Secret partner-oauth1, as the webhook writes them.
func oauth1Binding(p *oauth1Provider, sec *secrets, key *rsa.PrivateKey, consumerSecret string) config.Binding {
	o := &config.OAuth1{SignatureMethod: p.method, ConsumerKeyFile: sec.file("ck", "ck-1"),
		TokenFile: config.MountRoot + "/partner/partner-oauth1/token"}
	b := config.Binding{Name: "partner", Upstream: config.Upstream{URL: p.srv.URL}, Grant: config.Grant{Type: config.GrantNone}, OAuth1: o}
	if strings.HasPrefix(p.method, "RSA-") {
		b.PrivateKey = &config.PrivateKey{File: sec.key("rsa.pem", key)}
	} else {
		o.ConsumerSecretFile = sec.file("cs", consumerSecret)
		o.TokenSecretFile = config.MountRoot + "/partner/partner-oauth1/token_secret"
	}
	return b
}

func (p *oauth1Provider) flags(extra ...string) []string {
	return append([]string{"--request-token-url", p.srv.URL + "/initiate", "--authorize-url", p.srv.URL + "/authorize",
		"--access-token-url", p.srv.URL + "/token"}, extra...)
}

// TestConsentOAuth1: the three legs against a provider that checks every
// RFC 5849 signature, with a loopback callback and with oob (the verifier
// typed in), then injector run signs API calls with the token credentials
// from the manifest. RSA bindings keep no token secret, so their Secret
// has one key.
func TestConsentOAuth1(t *testing.T) {
	key := rsaKey(t)
	const cs = "kd94hf93k423kf44&+"
	tests := []struct {
		method   string
		oob      bool
		wantKeys []string
	}{
		{method: signing.OAuth1HMACSHA1, wantKeys: []string{"token", "token_secret"}},
		{method: signing.OAuth1HMACSHA256, oob: true, wantKeys: []string{"token", "token_secret"}},
		{method: signing.OAuth1RSASHA256, wantKeys: []string{"token"}},
		{method: signing.OAuth1Plaintext, oob: true, wantKeys: []string{"token", "token_secret"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/oob=%v", tt.method, tt.oob), func(t *testing.T) {
			p := newOAuth1Provider(t, tt.method, cs, &key.PublicKey)
			if strings.HasPrefix(tt.method, "RSA-") {
				p.consumerSecret = ""
			}
			sec := newSecrets(t)
			b := oauth1Binding(p, sec, key, cs)
			out := filepath.Join(t.TempDir(), "oauth1.yaml")
			args := []string{"--config", consentConfig(t, b), "--binding", "partner", "--output", out}
			if tt.oob {
				args = append(args, "--oob")
			}
			c := startConsent(t, append(args, p.flags()...)...)
			pg := newPerson(t).get(c.authURL())
			if tt.oob {
				v := find(pg.doc, func(n *xhtml.Node) bool { return attr(n, "id") == "verifier" })
				if v == nil || v.FirstChild == nil {
					t.Fatalf("no verifier on the provider's page:\n%s", pg.raw)
				}
				if _, err := io.WriteString(c.stdin, v.FirstChild.Data+"\n"); err != nil {
					t.Fatal(err)
				}
			} else if pg.status != http.StatusOK || pg.url.Hostname() != "127.0.0.1" {
				t.Errorf("callback page %d at %s:\n%s", pg.status, pg.url, pg.raw)
			}
			if code := c.wait(); code != 0 {
				t.Fatalf("injector consent exited %d", code)
			}
			secrets := readManifestFile(t, out)
			if len(secrets) != 1 || secrets[0].Name != "partner-oauth1" || len(secrets[0].Data) != len(tt.wantKeys) {
				t.Fatalf("manifest: %+v", secrets)
			}
			for _, k := range tt.wantKeys {
				v := string(secrets[0].Data[k])
				if v == "" {
					t.Fatalf("manifest lacks %s", k)
				}
				if strings.Contains(c.output(), v) {
					t.Errorf("%s appeared on the terminal", k)
				}
			}

			b.OAuth1.TokenFile = sec.file("token", string(secrets[0].Data["token"]))
			if b.OAuth1.TokenSecretFile != "" {
				b.OAuth1.TokenSecretFile = sec.file("token_secret", string(secrets[0].Data["token_secret"]))
			}
			sc := startSidecar(t, newConfig(t, b), waitStartup)
			r := appCall(t, http.MethodPost, sc.url("partner", "/api/things?a=1"),
				http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("b=2+3"))
			if r.status != http.StatusOK {
				t.Errorf("API call with the consented token: %v", r)
			}
		})
	}
}

// TestConsentOAuth1Refusals: a refused authorization, a callback for other
// temporary credentials, a verifier never typed, and a provider that
// rejects the consumer's signature.
func TestConsentOAuth1Refusals(t *testing.T) {
	const cs = "kd94hf93k423kf44&+"
	tests := []struct {
		name      string
		authorize func(temp, verifier string) url.Values
		args      []string
		badSecret bool
		visit     bool
		want      string
	}{
		{name: "denied", visit: true, authorize: func(temp, _ string) url.Values { return url.Values{"denied": {temp}} },
			want: "injector consent: consent denied: the provider redirected with denied=<this run's token>"},
		{name: "user_refused", visit: true, authorize: func(string, string) url.Values { return url.Values{"oauth_problem": {"user_refused"}} },
			want: "injector consent: consent denied: the provider redirected with oauth_problem=user_refused"},
		{name: "other temporary credentials", visit: true, authorize: func(_, verifier string) url.Values {
			return url.Values{"oauth_token": {"temp-someone-else"}, "oauth_verifier": {verifier}}
		}, want: "injector consent: state mismatch: the callback's oauth_token is not the temporary credential this run asked the person to authorize"},
		{name: "verifier never typed", args: []string{"--oob", "--timeout", "2s"},
			want: "injector consent: timed out: no verification code was typed within --timeout 2s"},
		{name: "signature rejected", badSecret: true,
			want: "injector consent: temporary credentials request: http://127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newOAuth1Provider(t, signing.OAuth1HMACSHA1, cs, nil)
			p.authorize = tt.authorize
			sec := newSecrets(t)
			secret := cs
			if tt.badSecret {
				secret = "wrong-consumer-secret"
			}
			out := filepath.Join(t.TempDir(), "oauth1.yaml")
			args := append([]string{"--config", consentConfig(t, oauth1Binding(p, sec, nil, secret)), "--binding", "partner", "--output", out}, tt.args...)
			c := startConsent(t, append(args, p.flags()...)...)
			if !tt.badSecret {
				authURL := c.authURL()
				if tt.visit {
					newPerson(t).get(authURL)
				}
			}
			if code := c.wait(); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(c.stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, c.stderr.String())
			}
			if tt.badSecret && !strings.Contains(c.stderr.String(), "/initiate answered 401: oauth_problem=signature_invalid") {
				t.Errorf("stderr does not carry the provider's problem:\n%s", c.stderr.String())
			}
			if strings.Contains(c.output(), secret) || strings.Contains(c.output(), "ver-") || strings.Contains(c.output(), "tsec-") {
				t.Errorf("a secret appeared on the terminal:\n%s", c.output())
			}
			if c.stdout.String() != "" {
				t.Errorf("stdout: %q", c.stdout.String())
			}
		})
	}
}
