package sidecar

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// renderedRTFile is where the webhook mounts key refresh_token of Secret
// partner-rt for binding partner; consent reads the Secret's name and key
// back from it.
const renderedRTFile = config.MountRoot + "/partner/partner-rt/refresh_token"

// codeBinding is a refresh_token binding for one of the provider's
// authorization code clients.
func codeBinding(p *provider, sec *secrets, client oidctest.Client, rtFile string) config.Binding {
	auth := config.ClientAuth{Method: client.AuthMethod, ClientIDFile: sec.file("client_id", client.ID)}
	if client.Secret != "" {
		auth.ClientSecretFile = sec.file("client_secret", client.Secret)
	}
	return config.Binding{
		Name:          "partner",
		Upstream:      config.Upstream{URL: p.upstream()},
		TokenEndpoint: &config.TokenEndpoint{URL: p.TokenEndpoint},
		Grant: config.Grant{Type: config.GrantRefreshToken, Scopes: []string{"api:read"},
			RefreshToken: &config.RefreshGrant{File: rtFile}},
		ClientAuth: auth,
	}
}

// approve is the person at the provider: the login page (any name, the
// provider's devInteractions), then the consent page, then the redirect to
// the loopback callback. It returns the callback's page.
func approve(t *testing.T, p *provider, authURL string) page {
	t.Helper()
	who := newPerson(t)
	pg := who.get(authURL)
	if !isPrompt(pg, "login") {
		t.Fatalf("the authorization URL did not lead to the provider's login page (%d %s):\n%s", pg.status, pg.url, pg.raw)
	}
	pg = who.submit(pg, map[string]string{"login": p.Username, "password": p.Password})
	if !isPrompt(pg, "consent") {
		t.Fatalf("no consent page after login (%d %s):\n%s", pg.status, pg.url, pg.raw)
	}
	return who.submit(pg, nil)
}

// TestConsentProviderAuthorizationCode: injector consent against the real
// oidc-provider. A person (an HTTP client with a cookie jar) logs in and
// consents on the provider's own pages; the manifest holds a refresh token
// under the Secret name and key the rendered config names; then injector
// run, given that token, gets an access token by refreshing and the
// provider's /resource accepts it for the person who consented. The public
// client has PKCE as its only proof (the provider requires it there), and
// the DPoP client's every token request must carry a DPoP proof, the code
// exchange included.
func TestConsentProviderAuthorizationCode(t *testing.T) {
	p := startProvider(t, oidctest.Options{AuthorizationCode: true, AccessTokenTTL: 60 * time.Second})
	tests := []struct {
		name   string
		client oidctest.Client
		pop    *config.PoP
		scheme string
	}{
		{name: "client_secret_basic", client: p.CodeClient, scheme: "Bearer"},
		{name: "none (public client, PKCE)", client: p.CodePublicClient, scheme: "Bearer"},
		{name: "client_secret_basic with DPoP required", client: p.CodeDPoPClient, pop: &config.PoP{Type: config.PoPDPoP}, scheme: "DPoP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newSecrets(t)
			b := codeBinding(p, sec, tt.client, renderedRTFile)
			b.PoP = tt.pop
			out := filepath.Join(t.TempDir(), "partner-rt.yaml")
			c := startConsent(t, "--config", consentConfig(t, b), "--binding", "partner",
				"--authorize-url", p.Issuer+"/auth", "--output", out, "--namespace", "team-a")
			authURL := c.authURL()
			q := mustQuery(t, authURL)
			redirect, _ := url.Parse(q.Get("redirect_uri"))
			if q.Get("response_type") != "code" || q.Get("client_id") != tt.client.ID || q.Get("code_challenge_method") != "S256" ||
				len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 43 || q.Get("prompt") != "consent" ||
				q.Get("scope") != "api:read offline_access" || redirect == nil || redirect.Hostname() != "127.0.0.1" || redirect.Path != "/callback" {
				t.Errorf("authorization request parameters: %v", q)
			}
			if pg := approve(t, p, authURL); pg.status != http.StatusOK || pg.url.Host != redirect.Host {
				t.Errorf("callback page %d at %s:\n%s", pg.status, pg.url, pg.raw)
			}
			if code := c.wait(); code != 0 {
				t.Fatalf("injector consent exited %d", code)
			}
			if c.stdout.String() != "" {
				t.Errorf("with --output, stdout got %q", c.stdout.String())
			}
			secrets := readManifestFile(t, out)
			if len(secrets) != 1 || secrets[0].Name != "partner-rt" || secrets[0].Namespace != "team-a" || len(secrets[0].Data) != 1 {
				t.Fatalf("manifest: %+v", secrets)
			}
			rt := string(secrets[0].Data["refresh_token"])
			if rt == "" {
				t.Fatalf("manifest has no refresh_token key: %+v", secrets[0])
			}
			for _, s := range []string{rt, tt.client.Secret} {
				if s != "" && strings.Contains(c.output(), s) {
					t.Errorf("a secret appeared on the terminal:\n%s", c.output())
				}
			}

			// The sidecar starts from that token: its only grant is refresh_token.
			b.Grant.RefreshToken = &config.RefreshGrant{File: sec.file("refresh_token", rt)}
			sc := startSidecar(t, newConfig(t, b), waitStartup)
			r := appCall(t, http.MethodGet, sc.url("partner", "/resource"), appHeaders(), nil)
			checkAccepted(t, r, tt.client.ID, tt.scheme)
			if r.str("sub") != p.Username || r.str("scope") != "api:read" {
				t.Errorf("resource saw sub %q scope %q; want %q, api:read", r.str("sub"), r.str("scope"), p.Username)
			}
			if n := sc.metric("oauth_injector_token_requests_total", `binding="partner",result="success"`); n < 1 {
				t.Errorf("token requests: %v", n)
			}
		})
	}
}

// TestConsentProviderRefusals: each way a consent run can end without a
// token ends with exit code 1, a message saying what happened, no manifest,
// and no secret on the terminal.
func TestConsentProviderRefusals(t *testing.T) {
	p := startProvider(t, oidctest.Options{AuthorizationCode: true})
	tests := []struct {
		name  string
		args  []string
		wrong bool // a client secret the provider does not know
		act   func(t *testing.T, authURL string)
		want  string
	}{
		{name: "wrong state", act: func(t *testing.T, authURL string) {
			u, _ := url.Parse(authURL)
			q := u.Query()
			q.Set("state", "forged-"+q.Get("state"))
			u.RawQuery = q.Encode()
			if pg := approve(t, p, u.String()); pg.status != http.StatusBadRequest || !strings.Contains(pg.raw, "state mismatch") {
				t.Errorf("callback page %d:\n%s", pg.status, pg.raw)
			}
		}, want: "injector consent: state mismatch: the authorization response carries a state this run did not send"},
		{name: "denied", act: func(t *testing.T, authURL string) {
			who := newPerson(t)
			pg := who.submit(who.get(authURL), map[string]string{"login": p.Username, "password": p.Password})
			if !isPrompt(pg, "consent") {
				t.Fatalf("no consent page:\n%s", pg.raw)
			}
			pg = who.follow(pg, "/abort") // the provider's "Cancel"
			if pg.status != http.StatusBadRequest || pg.url.Hostname() != "127.0.0.1" {
				t.Errorf("callback page %d at %s:\n%s", pg.status, pg.url, pg.raw)
			}
		}, want: "injector consent: consent denied: the authorization server answered error=access_denied: End-User aborted interaction"},
		{name: "timeout", args: []string{"--timeout", "2s"}, act: func(*testing.T, string) {},
			want: "injector consent: timed out: no authorization response reached http://127.0.0.1:"},
		{name: "token endpoint refuses the client", wrong: true, act: func(t *testing.T, authURL string) { approve(t, p, authURL) },
			want: "injector consent: exchanging the authorization code: token endpoint: invalid_client (401)"},
		{name: "no offline access, no refresh token", args: []string{"--offline-access=false"}, act: func(t *testing.T, authURL string) { approve(t, p, authURL) },
			want: "injector consent: no refresh token issued: the token endpoint answered without a refresh_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newSecrets(t)
			client := p.CodeClient
			if tt.wrong {
				client.Secret = "not-the-secret-" + client.Secret
			}
			out := filepath.Join(t.TempDir(), "rt.yaml")
			args := append([]string{"--config", consentConfig(t, codeBinding(p, sec, client, renderedRTFile)), "--binding", "partner",
				"--authorize-url", p.Issuer + "/auth", "--output", out}, tt.args...)
			c := startConsent(t, args...)
			authURL := c.authURL()
			tt.act(t, authURL)
			if code := c.wait(); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(c.stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, c.stderr.String())
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a manifest was written: %v", err)
			}
			if c.stdout.String() != "" {
				t.Errorf("stdout: %q", c.stdout.String())
			}
			if strings.Contains(c.output(), client.Secret) || strings.Contains(c.output(), "code=") {
				t.Errorf("a secret or the code appeared on the terminal:\n%s", c.output())
			}
		})
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
