// Package oidctest starts a real OpenID provider (panva's oidc-provider, from
// test/oidc) for tests: it installs the pinned npm dependencies into a cache
// outside the repository, writes the clients and keys the test asks for,
// starts node on a random 127.0.0.1 port and stops it when the test ends.
//
// The provider supports client_credentials, password, refresh_token, CIBA
// poll mode, RFC 8693 and Tapkey token exchange, DPoP (optionally with
// nonces), and client authentication with client_secret_basic,
// client_secret_post, private_key_jwt and none; with Options.MTLS it serves
// HTTPS and also accepts tls_client_auth (RFC 8705). Its /resource endpoint
// validates the access tokens it issued (Bearer and DPoP).
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Grant types the provider accepts beyond the RFC 6749 ones.
const (
	GrantCIBA          = "urn:openid:params:grant-type:ciba"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantTapkey        = "http://tapkey.net/oauth/token_exchange"
)

// Client authentication methods, as the provider names them.
const (
	AuthBasic         = "client_secret_basic"
	AuthPost          = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

// Options configures one provider. The zero value is usable: secrets and keys
// are generated and lifetimes are short so refreshing is exercised.
type Options struct {
	// BasicClientSecret and PostClientSecret default to values containing
	// characters that RFC 6749 §2.3.1 form-encoding changes (+ : % space).
	BasicClientSecret string
	PostClientSecret  string
	// ClientPublicKey verifies the private_key_jwt client's assertions. When
	// nil a P-256 key is generated and exposed as Server.ClientKey.
	ClientPublicKey crypto.PublicKey
	// SubjectTokenPublicKey verifies subject tokens for RFC 8693 and Tapkey
	// exchange. When nil an RSA key is generated and exposed as
	// Server.SubjectTokenKey.
	SubjectTokenPublicKey crypto.PublicKey
	// SubjectTokenIssuer/Audience are the iss and aud an RFC 8693 subject
	// token must carry. Defaults: https://idp.example, oauth-injector-test.
	SubjectTokenIssuer   string
	SubjectTokenAudience string
	// TapkeyProvider is the registered identity-provider id (default
	// idp.example); Tapkey subject tokens must carry iss=SubjectTokenIssuer
	// and aud=TapkeyAudience (default tapkey).
	TapkeyProvider string
	TapkeyAudience string
	// Username and Password for the password grant (defaults: alice and a
	// generated password).
	Username, Password string
	// CIBAApproveDelay is how long the simulated device waits before
	// answering (default 3s); CIBADenyLoginHints are answered with
	// access_denied (default tel:+34000000000).
	CIBAApproveDelay   time.Duration
	CIBADenyLoginHints []string
	// CIBAUnknownLoginHints are well-formed hints of no account: the
	// backchannel endpoint answers unknown_user_id (default
	// tel:+34999999999). With CIBAOpaqueLoginHints any non-empty hint
	// (e-mail, user id) names an account; by default only tel: and ipport:
	// hints are accepted, as an Open Gateway operator does.
	CIBAUnknownLoginHints []string
	CIBAOpaqueLoginHints  bool
	// CIBAInterval is the polling interval advertised (default 1s, whole
	// seconds). With CIBAEnforceInterval a poll that comes sooner than the
	// interval after the previous one (or the request) gets slow_down.
	CIBAInterval        time.Duration
	CIBAEnforceInterval bool
	// AccessTokenTTL (default 10s) and RefreshTokenTTL (default 10m), whole seconds.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// NoRefreshTokenRotation keeps the refresh token unchanged on use; by
	// default every use returns a new one and the old one becomes invalid.
	NoRefreshTokenRotation bool
	// DPoPNonceRequired makes the token endpoint answer use_dpop_nonce to a
	// DPoP proof without a server-issued nonce.
	DPoPNonceRequired bool
	// Resource is the default resource indicator (audience) of access tokens
	// (default https://api.partner.example/); ResourceScopes its scopes.
	Resource       string
	ResourceScopes []string
	// MTLS serves the provider over HTTPS with a generated CA (Server.MTLS)
	// and registers Server.MTLSClient, which authenticates with
	// tls_client_auth (RFC 8705) using the CA-issued certificate
	// CN=MTLSClientCN. Off by default: plain HTTP, no extra client.
	MTLS bool
}

// Client is one registered client.
type Client struct {
	ID, Secret, AuthMethod string
}

// Server is a running provider.
type Server struct {
	Issuer                            string
	TokenEndpoint                     string
	BackchannelAuthenticationEndpoint string
	IntrospectionEndpoint             string
	RevocationEndpoint                string
	JWKSURI                           string
	// ResourceEndpoint answers {"ok":true,"client_id":...,"scheme":...,"sub":...}
	// for a valid token; paths below it are accepted too.
	ResourceEndpoint string

	BasicClient, PostClient, PrivateKeyJWTClient, PublicClient Client
	// MTLSClient and MTLS are set only with Options.MTLS.
	MTLSClient Client
	MTLS       *MTLS

	// ClientKey signs private_key_jwt assertions (nil when the caller passed
	// ClientPublicKey); ClientKeyID/ClientKeyAlg are its kid and alg.
	ClientKey    crypto.Signer
	ClientKeyID  string
	ClientKeyAlg string
	// SubjectTokenKey signs subject tokens (nil when the caller passed
	// SubjectTokenPublicKey).
	SubjectTokenKey      crypto.Signer
	SubjectTokenKeyID    string
	SubjectTokenAlg      string
	SubjectTokenIssuer   string
	SubjectTokenAudience string
	TapkeyProvider       string
	TapkeyAudience       string

	Username, Password string
	DenyLoginHints     []string
	Resource           string
	ResourceScopes     []string
	AccessTokenTTL     time.Duration
	CIBAApproveDelay   time.Duration
	CIBAInterval       time.Duration
}

// serverConfig is the JSON file test/oidc/lib/config.mjs reads.
type serverConfig struct {
	Host               string         `json:"host"`
	Port               int            `json:"port"`
	Resource           string         `json:"resource"`
	ResourceScopes     string         `json:"resourceScopes"`
	AccessTokenTTL     int            `json:"accessTokenTTL"`
	RefreshTokenTTL    int            `json:"refreshTokenTTL"`
	RotateRefreshToken bool           `json:"rotateRefreshToken"`
	Clients            []clientConfig `json:"clients"`
	Users              []userConfig   `json:"users"`
	CIBA               cibaConfig     `json:"ciba"`
	DPoP               dpopConfig     `json:"dpop"`
	TokenExchange      verifierConfig `json:"tokenExchange"`
	Tapkey             verifierConfig `json:"tapkey"`
	TLS                *tlsConfig     `json:"tls,omitempty"`
}

type clientConfig struct {
	ClientID     string        `json:"client_id"`
	ClientSecret string        `json:"client_secret,omitempty"`
	AuthMethod   string        `json:"token_endpoint_auth_method"`
	JWKS         *jwksDocument `json:"jwks,omitempty"`
	SubjectDN    string        `json:"tls_client_auth_subject_dn,omitempty"`
}

type userConfig struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type cibaConfig struct {
	ApproveDelayMs int64    `json:"approveDelayMs"`
	DenyLoginHints []string `json:"denyLoginHints"`
	// UnknownLoginHints is omitted when empty so the server's default applies.
	UnknownLoginHints []string `json:"unknownLoginHints,omitempty"`
	OpaqueLoginHints  bool     `json:"opaqueLoginHints"`
	Interval          int      `json:"interval"`
	EnforceInterval   bool     `json:"enforceInterval"`
	RequestTTL        int      `json:"requestTTL"`
}

type dpopConfig struct {
	RequireNonce bool `json:"requireNonce"`
}

type verifierConfig struct {
	Provider string       `json:"provider,omitempty"`
	JWKS     jwksDocument `json:"jwks"`
	Issuer   string       `json:"issuer"`
	Audience string       `json:"audience"`
}

type jwksDocument struct {
	Keys []JWK `json:"keys"`
}

// algFor picks the JWS algorithm for a key type.
func algFor(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", fmt.Errorf("oidctest: unsupported ECDSA curve %s", p.Curve.Params().Name)
	case ed25519.PublicKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("oidctest: unsupported public key type %T", pub)
}

func seconds(d, def time.Duration) int {
	if d <= 0 {
		d = def
	}
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

func randomSecret(prefix string) string {
	// The suffix keeps a value per run; the prefix carries the characters that
	// expose missing form-encoding in client_secret_basic.
	return prefix + rand.Text()
}

// resolve fills defaults in and returns the Server description (without
// endpoints) plus the JSON config for node.
func resolve(opts Options) (*Server, *serverConfig, error) {
	s := &Server{
		SubjectTokenIssuer:   orDefault(opts.SubjectTokenIssuer, "https://idp.example"),
		SubjectTokenAudience: orDefault(opts.SubjectTokenAudience, "oauth-injector-test"),
		TapkeyProvider:       orDefault(opts.TapkeyProvider, "idp.example"),
		TapkeyAudience:       orDefault(opts.TapkeyAudience, "tapkey"),
		Username:             orDefault(opts.Username, "alice"),
		Password:             orDefault(opts.Password, randomSecret("pw:+ %")),
		Resource:             orDefault(opts.Resource, "https://api.partner.example/"),
		ResourceScopes:       opts.ResourceScopes,
		DenyLoginHints:       opts.CIBADenyLoginHints,
	}
	if len(s.ResourceScopes) == 0 {
		s.ResourceScopes = []string{"api:read", "api:write", "sim-swap", "read:user"}
	}
	if len(s.DenyLoginHints) == 0 {
		s.DenyLoginHints = []string{"tel:+34000000000"}
	}
	s.AccessTokenTTL = time.Duration(seconds(opts.AccessTokenTTL, 10*time.Second)) * time.Second
	s.CIBAInterval = time.Duration(seconds(opts.CIBAInterval, time.Second)) * time.Second
	s.CIBAApproveDelay = opts.CIBAApproveDelay
	if s.CIBAApproveDelay <= 0 {
		s.CIBAApproveDelay = 3 * time.Second
	}
	s.BasicClient = Client{ID: "basic-client", Secret: orDefault(opts.BasicClientSecret, randomSecret("b+s:e c%r/t=")), AuthMethod: AuthBasic}
	s.PostClient = Client{ID: "post-client", Secret: orDefault(opts.PostClientSecret, randomSecret("p+s&e c%r=t")), AuthMethod: AuthPost}
	s.PrivateKeyJWTClient = Client{ID: "pkjwt-client", AuthMethod: AuthPrivateKeyJWT}
	s.PublicClient = Client{ID: "public-client", AuthMethod: AuthNone}

	clientPub := opts.ClientPublicKey
	if clientPub == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("oidctest: generate client key: %w", err)
		}
		s.ClientKey, clientPub = k, k.Public()
	}
	alg, err := algFor(clientPub)
	if err != nil {
		return nil, nil, fmt.Errorf("oidctest: ClientPublicKey: %w", err)
	}
	s.ClientKeyID, s.ClientKeyAlg = "client-key-1", alg
	clientJWK, err := PublicJWK(clientPub, s.ClientKeyID, alg)
	if err != nil {
		return nil, nil, fmt.Errorf("oidctest: ClientPublicKey: %w", err)
	}

	subjectPub := opts.SubjectTokenPublicKey
	if subjectPub == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, fmt.Errorf("oidctest: generate subject-token key: %w", err)
		}
		s.SubjectTokenKey, subjectPub = k, k.Public()
	}
	if s.SubjectTokenAlg, err = algFor(subjectPub); err != nil {
		return nil, nil, fmt.Errorf("oidctest: SubjectTokenPublicKey: %w", err)
	}
	s.SubjectTokenKeyID = "subject-key-1"
	subjectJWK, err := PublicJWK(subjectPub, s.SubjectTokenKeyID, s.SubjectTokenAlg)
	if err != nil {
		return nil, nil, fmt.Errorf("oidctest: SubjectTokenPublicKey: %w", err)
	}
	subjectJWKS := jwksDocument{Keys: []JWK{subjectJWK}}

	cfg := &serverConfig{
		Host:               "127.0.0.1",
		Resource:           s.Resource,
		ResourceScopes:     strings.Join(s.ResourceScopes, " "),
		AccessTokenTTL:     int(s.AccessTokenTTL / time.Second),
		RefreshTokenTTL:    seconds(opts.RefreshTokenTTL, 10*time.Minute),
		RotateRefreshToken: !opts.NoRefreshTokenRotation,
		Clients: []clientConfig{
			{ClientID: s.BasicClient.ID, ClientSecret: s.BasicClient.Secret, AuthMethod: AuthBasic},
			{ClientID: s.PostClient.ID, ClientSecret: s.PostClient.Secret, AuthMethod: AuthPost},
			{ClientID: s.PrivateKeyJWTClient.ID, AuthMethod: AuthPrivateKeyJWT, JWKS: &jwksDocument{Keys: []JWK{clientJWK}}},
			{ClientID: s.PublicClient.ID, AuthMethod: AuthNone},
		},
		Users: []userConfig{{Username: s.Username, Password: s.Password}},
		CIBA: cibaConfig{
			ApproveDelayMs:    s.CIBAApproveDelay.Milliseconds(),
			DenyLoginHints:    s.DenyLoginHints,
			UnknownLoginHints: opts.CIBAUnknownLoginHints,
			OpaqueLoginHints:  opts.CIBAOpaqueLoginHints,
			Interval:          int(s.CIBAInterval / time.Second),
			EnforceInterval:   opts.CIBAEnforceInterval,
			RequestTTL:        120,
		},
		DPoP:          dpopConfig{RequireNonce: opts.DPoPNonceRequired},
		TokenExchange: verifierConfig{JWKS: subjectJWKS, Issuer: s.SubjectTokenIssuer, Audience: s.SubjectTokenAudience},
		Tapkey:        verifierConfig{Provider: s.TapkeyProvider, JWKS: subjectJWKS, Issuer: s.SubjectTokenIssuer, Audience: s.TapkeyAudience},
	}
	if opts.MTLS {
		m, tlsCfg, err := newMTLS()
		if err != nil {
			return nil, nil, err
		}
		s.MTLS, cfg.TLS = m, tlsCfg
		s.MTLSClient = Client{ID: "mtls-client", AuthMethod: AuthTLSClient}
		cfg.Clients = append(cfg.Clients, clientConfig{ClientID: s.MTLSClient.ID, AuthMethod: AuthTLSClient, SubjectDN: "CN=" + MTLSClientCN})
	}
	return s, cfg, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func writeConfig(dir string, cfg *serverConfig) (string, error) {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", fmt.Errorf("oidctest: encode config: %w", err)
	}
	path := filepath.Join(dir, "config.json")
	// The file holds client secrets: owner-only.
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("oidctest: write config: %w", err)
	}
	return path, nil
}
