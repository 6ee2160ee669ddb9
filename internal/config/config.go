// Package config owns the rendered sidecar configuration: a versioned JSON
// document that the webhook writes and the injector sidecar reads. It is the
// only contract between the two binaries, so it depends on the standard
// library alone and every validation error names the JSON field path.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"
)

// Version is the only schema version this build understands. Bumping it is a
// breaking change for pods injected by an older webhook, so readers refuse
// unknown versions instead of guessing.
const Version = "v1"

// MaxPoPLifetime is the ceiling T-Mobile's validator enforces on exp-iat.
const MaxPoPLifetime = 120 * time.Second

// MountRoot is where the webhook mounts a binding's Secret keys into the
// sidecar: <MountRoot>/<binding>/<secret-name>/<key>. It lives here, not in
// the webhook, because `injector consent` reads a rendered path back into
// the Secret name and key it must write, and the injector links no webhook code.
const MountRoot = "/var/run/oauth-injector"

// DefaultMaxBodyBytes bounds the buffer used when a signature covers the body.
const DefaultMaxBodyBytes = 1 << 20

// Config is the whole sidecar configuration.
type Config struct {
	Version string `json:"version"`
	// Admin is the listener for probes and metrics. The default ":15020"
	// binds every interface of the pod's network namespace so the kubelet
	// can reach it on the pod IP; it serves no credentials. Data-plane
	// listeners stay on loopback.
	Admin    Admin     `json:"admin"`
	Bindings []Binding `json:"bindings"`
	// DrainTimeout bounds how long SIGTERM waits for in-flight requests.
	DrainTimeout Duration `json:"drainTimeout,omitempty"`
	// ReloadInterval is how often mounted credential files are checked for
	// changes (kubelet swaps them atomically through a ..data symlink).
	ReloadInterval Duration `json:"reloadInterval,omitempty"`
	// BodyReadTimeout bounds how long the sidecar waits for the app to send
	// a request body it must buffer (one a signature or the token placement
	// covers). A body that trickles in would otherwise hold its share of
	// the buffer budget forever.
	BodyReadTimeout Duration `json:"bodyReadTimeout,omitempty"`
}

// Admin configures the health and metrics listener.
type Admin struct {
	Listen string `json:"listen"`
}

// Binding is one partner API reached through one loopback port.
type Binding struct {
	Name           string         `json:"name"`
	ListenPort     int            `json:"listenPort"`
	Upstream       Upstream       `json:"upstream"`
	TokenEndpoint  *TokenEndpoint `json:"tokenEndpoint,omitempty"`
	Grant          Grant          `json:"grant"`
	ClientAuth     ClientAuth     `json:"clientAuth"`
	PrivateKey     *PrivateKey    `json:"privateKey,omitempty"`
	PoP            *PoP           `json:"pop,omitempty"`
	TokenPlacement TokenPlacement `json:"tokenPlacement"`
	OAuth1         *OAuth1        `json:"oauth1,omitempty"`
	Refresh        Refresh        `json:"refresh"`
	// AllowInsecureHTTP permits http:// for upstream.url, tokenEndpoint.url
	// (also of providers) and grant.ciba.authorizeURL on non-loopback hosts.
	// Every request to those carries credentials, so cleartext is an
	// explicit opt-in.
	AllowInsecureHTTP bool `json:"allowInsecureHTTP,omitempty"`
	// SharedCache, when set, shares tokens, rotated refresh tokens and
	// pending CIBA authorizations with the other replicas through a Redis or
	// Valkey server. Without it every sidecar keeps its tokens to itself.
	SharedCache *SharedCache `json:"sharedCache,omitempty"`
	// Operations give each kind of request the token it needs: its own
	// scopes, CIBA purpose or provider (see operations.go). Without them
	// one token serves every request.
	Operations []Operation `json:"operations,omitempty"`
	// Unmatched is what a request that no operation matches gets:
	// UnmatchedAllow (the binding's own grant) or UnmatchedDeny (403).
	Unmatched string `json:"unmatched,omitempty"`
	// Providers are token providers besides the binding's own
	// tokenEndpoint, clientAuth and grant; operations name them.
	Providers []Provider `json:"providers,omitempty"`
}

// Upstream is the single destination a binding may forward to.
type Upstream struct {
	URL    string `json:"url"`
	CAFile string `json:"caFile,omitempty"`
	// ResponseHeaderTimeout bounds the wait for the partner's response
	// headers; once they arrive the body may stream for as long as it
	// takes (server-sent events, exports).
	ResponseHeaderTimeout Duration `json:"responseHeaderTimeout,omitempty"`
	// AllowTrace forwards TRACE requests. Off by default: an upstream that
	// echoes TRACE would hand the sidecar's credentials back to the app.
	AllowTrace bool `json:"allowTrace,omitempty"`
	// Proxy routes the connections to the upstream through an HTTP proxy.
	Proxy *Proxy `json:"proxy,omitempty"`
}

// TokenEndpoint describes how tokens are requested.
type TokenEndpoint struct {
	URL    string `json:"url"`
	Method string `json:"method,omitempty"` // POST (default) or GET
	// ExtraParams are extension parameters (RFC 6749 §8.2) added verbatim.
	ExtraParams map[string]string `json:"extraParams,omitempty"`
	CAFile      string            `json:"caFile,omitempty"`
	// Proxy routes the connections to the token endpoint (and the CIBA
	// authorize endpoint) through an HTTP proxy.
	Proxy *Proxy `json:"proxy,omitempty"`
}

// Grant types, spelled as they appear on the wire where one exists.
const (
	GrantNone              = "none" // OAuth 1.0a-only bindings have no token endpoint
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantCIBA              = "ciba"
	GrantTokenExchange     = "token_exchange"
	GrantJWTBearer         = "jwt_bearer"
)

// Grant selects how an access token is obtained.
type Grant struct {
	Type          string         `json:"type"`
	Scopes        []string       `json:"scopes,omitempty"`
	Password      *PasswordGrant `json:"password,omitempty"`
	RefreshToken  *RefreshGrant  `json:"refreshToken,omitempty"`
	CIBA          *CIBAGrant     `json:"ciba,omitempty"`
	TokenExchange *TokenExchange `json:"tokenExchange,omitempty"`
	JWTBearer     *JWTBearer     `json:"jwtBearer,omitempty"`
}

// PasswordGrant holds the resource-owner credentials by file.
type PasswordGrant struct {
	UsernameFile string `json:"usernameFile"`
	PasswordFile string `json:"passwordFile"`
}

// RefreshGrant bootstraps from a refresh token obtained once by a person
// through the authorization-code flow.
type RefreshGrant struct {
	File string `json:"file"`
}

// CIBAGrant configures the OpenID CIBA poll-mode flow.
type CIBAGrant struct {
	AuthorizeURL    string            `json:"authorizeURL"`
	LoginHintHeader string            `json:"loginHintHeader,omitempty"`
	Purpose         string            `json:"purpose,omitempty"`
	MaxWait         Duration          `json:"maxWait,omitempty"`
	ExtraParams     map[string]string `json:"extraParams,omitempty"`
	// LoginHintFormat is open_gateway (tel:/ipport:, the default) or opaque
	// (any non-empty hint up to 256 bytes without control characters).
	LoginHintFormat string `json:"loginHintFormat,omitempty"`
	// CacheSize bounds the per-subscriber token cache.
	CacheSize int `json:"cacheSize,omitempty"`
	// MaxPending bounds the authorizations waiting for a subscriber at
	// once; each has a goroutine polling the token endpoint.
	MaxPending int `json:"maxPending,omitempty"`
}

// CIBA login hint formats.
const (
	LoginHintOpenGateway = "open_gateway"
	LoginHintOpaque      = "opaque"
)

// Token-exchange grant_type values.
const (
	TokenExchangeRFC8693 = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenExchangeTapkey  = "http://tapkey.net/oauth/token_exchange"
)

// TokenExchange configures RFC 8693 or Tapkey's variant of it.
type TokenExchange struct {
	GrantType          string        `json:"grantType"`
	Provider           string        `json:"provider,omitempty"`
	Audience           string        `json:"audience,omitempty"`
	RequestedTokenType string        `json:"requestedTokenType,omitempty"`
	SubjectTokenType   string        `json:"subjectTokenType"`
	SubjectToken       SubjectSource `json:"subjectToken"`
}

// SubjectSource says where the subject token comes from: exactly one field.
type SubjectSource struct {
	File string       `json:"file,omitempty"`
	Mint *MintSubject `json:"mint,omitempty"`
}

// MintSubject makes the sidecar act as the identity provider registered with
// the partner, signing a per-user JWT with the binding's private key.
type MintSubject struct {
	Issuer        string   `json:"issuer"`
	Audience      string   `json:"audience"`
	Lifetime      Duration `json:"lifetime,omitempty"`
	SubjectHeader string   `json:"subjectHeader,omitempty"`
	CacheSize     int      `json:"cacheSize,omitempty"`
}

// MaxJWTBearerLifetime bounds exp-iat of a jwt_bearer assertion: it is a
// bearer credential for a user, so it must be short-lived, and several
// servers (the test provider, CAMARA operators) refuse longer ones.
const MaxJWTBearerLifetime = 300 * time.Second

// JWT-bearer assertion algorithms a binding may ask for; empty means by key
// type (RS256 for RSA, ES256 for P-256, ES384 for P-384, EdDSA for Ed25519).
const (
	AlgRS256 = "RS256"
	AlgPS256 = "PS256"
	AlgES256 = "ES256"
)

// JWTBearer configures the RFC 7523 §2.1 authorization grant: the sidecar
// signs an assertion with privateKey (iss = the client ID) about a subject
// and trades it for an access token. Exactly one of Subject and
// SubjectHeader is set.
type JWTBearer struct {
	// Subject is a fixed sub: one token for the binding.
	Subject string `json:"subject,omitempty"`
	// SubjectHeader takes sub from each app request: one token per subject,
	// in an LRU of CacheSize.
	SubjectHeader string `json:"subjectHeader,omitempty"`
	// Audience is aud; the token endpoint URL when empty.
	Audience  string `json:"audience,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	// KeyID is the JWS kid header, for servers that hold several keys.
	KeyID     string   `json:"keyID,omitempty"`
	Lifetime  Duration `json:"lifetime,omitempty"`
	CacheSize int      `json:"cacheSize,omitempty"`
}

// Client authentication methods, spelled as RFC 7591 registers them.
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthClientSecretJWT   = "client_secret_jwt"
	AuthTLSClientAuth     = "tls_client_auth"
	AuthNone              = "none"
)

// ClientAuth says how the client authenticates to the token endpoint.
type ClientAuth struct {
	Method           string `json:"method"`
	ClientIDFile     string `json:"clientIDFile,omitempty"`
	ClientSecretFile string `json:"clientSecretFile,omitempty"`
	TLSCertFile      string `json:"tlsCertFile,omitempty"`
	TLSKeyFile       string `json:"tlsKeyFile,omitempty"`
	// Audience of the private_key_jwt or client_secret_jwt assertion; the
	// token URL when empty.
	Audience string `json:"audience,omitempty"`
}

// PrivateKey is a PEM file (PKCS#1, PKCS#8 or encrypted PKCS#8).
type PrivateKey struct {
	File           string `json:"file"`
	PassphraseFile string `json:"passphraseFile,omitempty"`
}

// Proof-of-possession types.
const (
	PoPNone = "none"
	PoPTAAP = "taap"
	PoPDPoP = "dpop"
)

// PoP configures per-request proof-of-possession tokens.
type PoP struct {
	Type            string   `json:"type"`
	Header          string   `json:"header,omitempty"`
	Sign            []string `json:"sign,omitempty"`
	OnTokenEndpoint *bool    `json:"onTokenEndpoint,omitempty"`
	Lifetime        Duration `json:"lifetime,omitempty"`
	MaxBodyBytes    int64    `json:"maxBodyBytes,omitempty"`
}

// Token placements (RFC 6750 §2).
const (
	PlaceHeader = "header"
	PlaceQuery  = "query"
	PlaceForm   = "form"
)

// TokenPlacement says where the access token goes on the partner request.
type TokenPlacement struct {
	In            string `json:"in,omitempty"`
	IDTokenHeader string `json:"idTokenHeader,omitempty"`
}

// OAuth 1.0a signature methods (RFC 5849 §3.4).
const (
	OAuth1HMACSHA1   = "HMAC-SHA1"
	OAuth1HMACSHA256 = "HMAC-SHA256"
	OAuth1RSASHA1    = "RSA-SHA1"
	OAuth1RSASHA256  = "RSA-SHA256"
	OAuth1Plaintext  = "PLAINTEXT"
)

// OAuth1 configures RFC 5849 request signing. The RSA methods use the
// binding's PrivateKey.
type OAuth1 struct {
	SignatureMethod    string `json:"signatureMethod"`
	ConsumerKeyFile    string `json:"consumerKeyFile"`
	ConsumerSecretFile string `json:"consumerSecretFile,omitempty"`
	TokenFile          string `json:"tokenFile,omitempty"`
	TokenSecretFile    string `json:"tokenSecretFile,omitempty"`
}

// Refresh tunes the token cache and how hard it may press the token
// endpoint.
type Refresh struct {
	// Before is the lead time: a token is refreshed at the earlier of 80% of
	// its lifetime or this long before expiry.
	Before Duration `json:"before,omitempty"`
	// ExpirySkew: a token is no longer sent this long before it expires
	// (at most half its lifetime), so clock differences and latency cannot
	// make the upstream see an expired token.
	ExpirySkew Duration `json:"expirySkew,omitempty"`
	// MinInterval is the least time between two token calls for one
	// subject caused by expiry, so a tiny expires_in cannot make a loop.
	MinInterval Duration `json:"minInterval,omitempty"`
	// MaxCallsPerSecond bounds the binding's token calls across all
	// subjects, with bursts of up to twice as many.
	MaxCallsPerSecond int `json:"maxCallsPerSecond,omitempty"`
}

// SharedCache is a binding's second-level token cache on a Redis-protocol
// server (see docs/scaling.md).
type SharedCache struct {
	// Address is host:port of the Redis or Valkey server.
	Address string `json:"address"`
	// UsernameFile holds the ACL user; without it the password
	// authenticates the default user.
	UsernameFile string `json:"usernameFile,omitempty"`
	// PasswordFile holds the password (AUTH); without it no AUTH is sent.
	PasswordFile string `json:"passwordFile,omitempty"`
	// TLS, when set, connects with TLS.
	TLS *SharedCacheTLS `json:"tls,omitempty"`
	// KeyPrefix starts every store key. Default DefaultSharedCacheKeyPrefix.
	KeyPrefix string `json:"keyPrefix,omitempty"`
	// Namespace is the binding's namespace. It is part of every store key
	// name (hashed), so bindings of the same name in two namespaces never
	// meet. The webhook renders it.
	Namespace string `json:"namespace,omitempty"`
	// Encryption holds the keys that seal every value.
	Encryption SharedCacheEncryption `json:"encryption"`
	// Timeout bounds every store call. Default DefaultSharedCacheTimeout.
	Timeout Duration `json:"timeout,omitempty"`
}

// SharedCacheTLS configures TLS to the store.
type SharedCacheTLS struct {
	// CAFile is a PEM bundle that replaces the system roots.
	CAFile string `json:"caFile,omitempty"`
	// ServerName is checked against the server certificate; the address's
	// host when empty.
	ServerName string `json:"serverName,omitempty"`
}

// SharedCacheEncryption names the AES-256 key files. KeyFile seals new
// values; PreviousKeyFiles only open values sealed before a rotation. A
// previous key file that does not exist is skipped.
type SharedCacheEncryption struct {
	KeyFile          string   `json:"keyFile"`
	PreviousKeyFiles []string `json:"previousKeyFiles,omitempty"`
}

// Duration is a time.Duration that reads and writes Go duration strings.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string such as "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	d.Duration = v
	return nil
}

// MaxConfigBytes bounds what Parse reads; a rendered config is a few KiB.
const MaxConfigBytes = 1 << 20

// Parse decodes, defaults and validates a config. Unknown fields are errors:
// a typo in a hand-written config must not silently disable a feature.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("config: %d bytes exceeds the %d byte limit", len(data), MaxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", describeJSONError(err, data))
	}
	if dec.More() {
		return nil, errors.New("config: trailing data after the JSON document")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("config: trailing data after the JSON document")
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data)
}

// Marshal renders the config as indented JSON; the webhook uses it.
func Marshal(c *Config) ([]byte, error) {
	return json.MarshalIndent(c, "", "  ")
}

// Binding returns the binding with the given name.
func (c *Config) Binding(name string) (*Binding, bool) {
	for i := range c.Bindings {
		if c.Bindings[i].Name == name {
			return &c.Bindings[i], true
		}
	}
	return nil, false
}

func describeJSONError(err error, data []byte) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s: must be %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		// encoding/json names the key but not where it is; a key such as
		// "url" is valid in one section and a typo in another.
		if paths := unknownFields(data, reflect.TypeFor[Config]()); len(paths) > 0 {
			return fmt.Errorf("%s: unknown field", strings.Join(paths, ": unknown field; "))
		}
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return err
}
