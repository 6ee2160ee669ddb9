package sidecar

import (
	"crypto"
	"net/http"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// provider is one oidc-provider plus the keys the sidecar signs with: the
// private_key_jwt client key (P-256) and the subject-token key (RSA) whose
// public half the provider trusts for RFC 8693 and Tapkey exchange.
type provider struct {
	*oidctest.Server
	clientKey  crypto.Signer
	subjectKey crypto.Signer
}

func startProvider(t *testing.T, opts oidctest.Options) *provider {
	t.Helper()
	return startProviderKeys(t, opts, ecKey(t), rsaKey(t))
}

// startProviderOneKey starts a provider that trusts one RSA key both for
// private_key_jwt assertions and for subject tokens, for bindings whose single
// privateKey does both jobs.
func startProviderOneKey(t *testing.T, opts oidctest.Options) *provider {
	t.Helper()
	k := rsaKey(t)
	return startProviderKeys(t, opts, k, k)
}

func startProviderKeys(t *testing.T, opts oidctest.Options, clientKey, subjectKey crypto.Signer) *provider {
	t.Helper()
	p := &provider{clientKey: clientKey, subjectKey: subjectKey}
	opts.ClientPublicKey = clientKey.Public()
	opts.SubjectTokenPublicKey = subjectKey.Public()
	p.Server = oidctest.Start(t, opts)
	return p
}

// upstream is the provider's origin: the sidecar forwards /resource... to it.
func (p *provider) upstream() string {
	return strings.TrimSuffix(p.ResourceEndpoint, "/resource")
}

// clientAuth writes the files one client authentication method needs and
// returns the config plus the private key (for private_key_jwt) and the
// client_id the resource should report.
func (p *provider) clientAuth(sec *secrets, method string) (config.ClientAuth, *config.PrivateKey, string) {
	switch method {
	case config.AuthClientSecretBasic:
		return config.ClientAuth{Method: method, ClientIDFile: sec.file("basic-id", p.BasicClient.ID),
			ClientSecretFile: sec.file("basic-secret", p.BasicClient.Secret)}, nil, p.BasicClient.ID
	case config.AuthClientSecretPost:
		return config.ClientAuth{Method: method, ClientIDFile: sec.file("post-id", p.PostClient.ID),
			ClientSecretFile: sec.file("post-secret", p.PostClient.Secret)}, nil, p.PostClient.ID
	case config.AuthClientSecretJWT:
		return config.ClientAuth{Method: method, ClientIDFile: sec.file("hmac-id", p.SecretJWTClient.ID),
			ClientSecretFile: sec.file("hmac-secret", p.SecretJWTClient.Secret)}, nil, p.SecretJWTClient.ID
	case config.AuthPrivateKeyJWT:
		return config.ClientAuth{Method: method, ClientIDFile: sec.file("pkjwt-id", p.PrivateKeyJWTClient.ID)},
			&config.PrivateKey{File: sec.key("client-key.pem", p.clientKey)}, p.PrivateKeyJWTClient.ID
	case config.AuthNone:
		return config.ClientAuth{Method: method, ClientIDFile: sec.file("public-id", p.PublicClient.ID)}, nil, p.PublicClient.ID
	}
	panic("unknown client auth method " + method)
}

// binding is the common skeleton: forward to the provider's origin.
func (p *provider) binding(name string, g config.Grant, auth config.ClientAuth, key *config.PrivateKey) config.Binding {
	return config.Binding{
		Name:          name,
		Upstream:      config.Upstream{URL: p.upstream()},
		TokenEndpoint: &config.TokenEndpoint{URL: p.TokenEndpoint},
		Grant:         g,
		ClientAuth:    auth,
		PrivateKey:    key,
	}
}

// checkAccepted asserts the provider's /resource accepted the sidecar's token.
func checkAccepted(t *testing.T, r reply, clientID, scheme string) {
	t.Helper()
	if r.status != http.StatusOK || r.json["ok"] != true {
		t.Fatalf("resource did not accept the token: %v", r)
	}
	if got := r.str("client_id"); got != clientID {
		t.Errorf("resource saw client_id %q, want %q", got, clientID)
	}
	if got := r.str("scheme"); got != scheme {
		t.Errorf("resource saw scheme %q, want %q", got, scheme)
	}
}

// appHeaders carries credentials the app must NOT be able to smuggle: the
// sidecar drops them, so acceptance proves the sidecar's token was used.
func appHeaders() http.Header {
	return http.Header{"Authorization": {"Bearer app-supplied-garbage"}, "X-Trace": {"t1"}}
}

var authMethods = []string{config.AuthClientSecretBasic, config.AuthClientSecretPost, config.AuthClientSecretJWT, config.AuthPrivateKeyJWT}

func TestProviderClientCredentials(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60e9})
	for _, method := range authMethods {
		t.Run(method, func(t *testing.T) {
			sec := newSecrets(t)
			auth, key, clientID := p.clientAuth(sec, method)
			b := p.binding("cc", config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"api:read"}}, auth, key)
			sc := startSidecar(t, newConfig(t, b), waitStartup)
			r := appCall(t, http.MethodGet, sc.url("cc", "/resource/items?page=2"), appHeaders(), nil)
			checkAccepted(t, r, clientID, "Bearer")
			if got := r.str("path"); got != "/resource/items" {
				t.Errorf("path = %q", got)
			}
			if got := r.str("query"); got != "page=2" {
				t.Errorf("query = %q", got)
			}
			if got := r.str("scope"); got != "api:read" {
				t.Errorf("scope = %q, want api:read", got)
			}
			if h, _ := r.json["headers"].(map[string]any); h["x-trace"] != "t1" {
				t.Errorf("app header X-Trace not forwarded: %v", h)
			}
		})
	}
}

func TestProviderPassword(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60e9})
	for _, method := range append(authMethods, config.AuthNone) {
		t.Run(method, func(t *testing.T) {
			sec := newSecrets(t)
			auth, key, clientID := p.clientAuth(sec, method)
			g := config.Grant{Type: config.GrantPassword, Scopes: []string{"api:write"}, Password: &config.PasswordGrant{
				UsernameFile: sec.file("username", p.Username), PasswordFile: sec.file("password", p.Password)}}
			sc := startSidecar(t, newConfig(t, p.binding("pw", g, auth, key)), waitStartup)
			r := appCall(t, http.MethodPost, sc.url("pw", "/resource"), http.Header{"Content-Type": {"application/json"}}, []byte(`{"a":1}`))
			checkAccepted(t, r, clientID, "Bearer")
			if got := r.str("sub"); got != p.Username {
				t.Errorf("sub = %q, want the resource owner %q", got, p.Username)
			}
			if got := r.str("method"); got != http.MethodPost {
				t.Errorf("method = %q", got)
			}
		})
	}
}

// TestProviderTwoBindings runs two bindings in one sidecar: each has its own
// port, grant, scope and token cache.
func TestProviderTwoBindings(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 600e9})
	sec := newSecrets(t)
	authA, _, idA := p.clientAuth(sec, config.AuthClientSecretBasic)
	authB, _, idB := p.clientAuth(sec, config.AuthClientSecretPost)
	a := p.binding("alpha", config.Grant{Type: config.GrantClientCredentials, Scopes: []string{"api:read"}}, authA, nil)
	b := p.binding("beta", config.Grant{Type: config.GrantPassword, Scopes: []string{"api:write"}, Password: &config.PasswordGrant{
		UsernameFile: sec.file("username", p.Username), PasswordFile: sec.file("password", p.Password)}}, authB, nil)
	sc := startSidecar(t, newConfig(t, a, b), waitStartup)
	if sc.ports["alpha"] == sc.ports["beta"] {
		t.Fatal("bindings share a port")
	}
	for range 3 {
		r := appCall(t, http.MethodGet, sc.url("alpha", "/resource"), nil, nil)
		checkAccepted(t, r, idA, "Bearer")
		if r.str("scope") != "api:read" {
			t.Errorf("alpha scope = %q, want api:read", r.str("scope"))
		}
	}
	for range 2 {
		r := appCall(t, http.MethodGet, sc.url("beta", "/resource"), nil, nil)
		checkAccepted(t, r, idB, "Bearer")
		if r.str("scope") != "api:write" || r.str("sub") != p.Username {
			t.Errorf("beta scope/sub = %q/%q, want api:write/%s", r.str("scope"), r.str("sub"), p.Username)
		}
	}
	// One token each, fetched at start-up and reused: five app calls cost
	// exactly two token requests, one per binding.
	for _, name := range []string{"alpha", "beta"} {
		if got := sc.metric("oauth_injector_token_requests_total", `binding="`+name+`",result="success"`); got != 1 {
			t.Errorf("token requests for %s = %v, want 1", name, got)
		}
		if got := sc.metric("oauth_injector_token_requests_total", `binding="`+name+`",result="error"`); got > 0 {
			t.Errorf("token errors for %s = %v", name, got)
		}
	}
	if got := sc.metric("oauth_injector_proxied_requests_total", `binding="alpha",code="200"`); got != 3 {
		t.Errorf("alpha proxied 200s = %v, want 3", got)
	}
	if got := sc.metric("oauth_injector_proxied_requests_total", `binding="beta",code="200"`); got != 2 {
		t.Errorf("beta proxied 200s = %v, want 2", got)
	}
}

func TestProviderDPoP(t *testing.T) {
	p := startProvider(t, oidctest.Options{AccessTokenTTL: 60e9, DPoPNonceRequired: true})
	for _, method := range []string{config.AuthClientSecretBasic, config.AuthPrivateKeyJWT} {
		t.Run(method, func(t *testing.T) {
			sec := newSecrets(t)
			auth, key, clientID := p.clientAuth(sec, method)
			b := p.binding("dpop", config.Grant{Type: config.GrantClientCredentials}, auth, key)
			b.PoP = &config.PoP{Type: config.PoPDPoP}
			sc := startSidecar(t, newConfig(t, b), waitStartup)
			// Two calls: each needs a fresh proof (the resource rejects a
			// replayed jti) bound to the token by ath.
			for range 2 {
				r := appCall(t, http.MethodGet, sc.url("dpop", "/resource/x"), http.Header{"DPoP": {"app-proof"}}, nil)
				checkAccepted(t, r, clientID, "DPoP")
			}
		})
	}
}
