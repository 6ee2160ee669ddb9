package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GrantType names an OAuth grant. Values: ClientCredentials, Password,
// RefreshToken, CIBA, TokenExchange, JWTBearer, None. The allowed values are enforced by
// CEL rules on Grant rather than an enum so that "Implicit" gets a message
// explaining why it is refused instead of a bare "unsupported value".
//
// +kubebuilder:validation:MaxLength=32
type GrantType string

// Grant types.
const (
	GrantClientCredentials GrantType = "ClientCredentials"
	GrantPassword          GrantType = "Password"
	GrantRefreshToken      GrantType = "RefreshToken"
	GrantCIBA              GrantType = "CIBA"
	GrantTokenExchange     GrantType = "TokenExchange"
	// GrantJWTBearer is the RFC 7523 §2.1 JWT bearer authorization grant.
	GrantJWTBearer GrantType = "JWTBearer"
	// GrantNone is for bindings that only sign requests (OAuth 1.0a).
	GrantNone GrantType = "None"
)

// Grant selects how the access token is obtained.
//
// +kubebuilder:validation:XValidation:rule="self.type.lowerAscii() != 'implicit'",message="grant.type: the implicit grant is not supported by a backend sidecar (it returns tokens in a browser redirect); use ClientCredentials or RefreshToken"
// +kubebuilder:validation:XValidation:rule="self.type.lowerAscii() == 'implicit' || self.type in ['ClientCredentials', 'Password', 'RefreshToken', 'CIBA', 'TokenExchange', 'JWTBearer', 'None']",message="grant.type: must be one of ClientCredentials, Password, RefreshToken, CIBA, TokenExchange, JWTBearer, None"
// +kubebuilder:validation:XValidation:rule="self.type != 'Password' || has(self.password)",message="grant.password: required when grant.type is Password"
// +kubebuilder:validation:XValidation:rule="self.type != 'RefreshToken' || has(self.refreshToken)",message="grant.refreshToken: required when grant.type is RefreshToken"
// +kubebuilder:validation:XValidation:rule="self.type != 'CIBA' || has(self.ciba)",message="grant.ciba: required when grant.type is CIBA"
// +kubebuilder:validation:XValidation:rule="self.type != 'TokenExchange' || has(self.tokenExchange)",message="grant.tokenExchange: required when grant.type is TokenExchange"
// +kubebuilder:validation:XValidation:rule="self.type != 'JWTBearer' || has(self.jwtBearer)",message="grant.jwtBearer: required when grant.type is JWTBearer"
// +kubebuilder:validation:XValidation:rule="!has(self.jwtBearer) || self.type == 'JWTBearer'",message="grant.jwtBearer: only allowed when grant.type is JWTBearer"
// +kubebuilder:validation:XValidation:rule="!has(self.password) || self.type == 'Password'",message="grant.password: only allowed when grant.type is Password"
// +kubebuilder:validation:XValidation:rule="!has(self.refreshToken) || self.type == 'RefreshToken'",message="grant.refreshToken: only allowed when grant.type is RefreshToken"
// +kubebuilder:validation:XValidation:rule="!has(self.ciba) || self.type == 'CIBA'",message="grant.ciba: only allowed when grant.type is CIBA"
// +kubebuilder:validation:XValidation:rule="!has(self.tokenExchange) || self.type == 'TokenExchange'",message="grant.tokenExchange: only allowed when grant.type is TokenExchange"
type Grant struct {
	// type is the grant: ClientCredentials, Password, RefreshToken, CIBA,
	// TokenExchange, JWTBearer (RFC 7523 §2.1), or None (no token; only
	// oauth1 request signing).
	// Implicit is refused: it is a browser-only flow.
	// +required
	Type GrantType `json:"type"`

	// scopes are requested with every token request (space-joined).
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	// +listType=atomic
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// password holds the resource owner's credentials (grant type Password).
	// +optional
	Password *PasswordGrant `json:"password,omitempty"`

	// refreshToken bootstraps from a refresh token a person obtained once
	// through the authorization-code flow (grant type RefreshToken).
	// +optional
	RefreshToken *RefreshTokenGrant `json:"refreshToken,omitempty"`

	// ciba configures OpenID CIBA in poll mode (grant type CIBA).
	// +optional
	CIBA *CIBAGrant `json:"ciba,omitempty"`

	// tokenExchange configures RFC 8693 token exchange or Tapkey's variant
	// of it (grant type TokenExchange).
	// +optional
	TokenExchange *TokenExchangeGrant `json:"tokenExchange,omitempty"`

	// jwtBearer configures the RFC 7523 §2.1 JWT bearer grant (grant type
	// JWTBearer).
	// +optional
	JWTBearer *JWTBearerGrant `json:"jwtBearer,omitempty"`
}

// JWTBearerAlgorithm is the JWS algorithm of a JWT bearer assertion.
//
// +kubebuilder:validation:Enum=RS256;PS256;ES256
type JWTBearerAlgorithm string

// JWTBearerGrant configures the RFC 7523 §2.1 authorization grant: the
// sidecar signs a short-lived assertion with privateKey, iss = the client ID
// from clientAuth.secretRef, about a subject, and trades it for an access
// token for that subject (CAMARA's JWT bearer flow: sub = tel:+... or
// operatortoken:...). Register privateKey's public half with the
// authorization server.
//
// +kubebuilder:validation:XValidation:rule="has(self.subject) != has(self.subjectFrom)",message="grant.jwtBearer: set exactly one of subject (fixed) or subjectFrom (per request)"
// +kubebuilder:validation:XValidation:rule="!has(self.cacheSize) || has(self.subjectFrom)",message="grant.jwtBearer.cacheSize: only used with subjectFrom (a fixed subject has one token)"
type JWTBearerGrant struct {
	// subject is a fixed sub claim: one token for the binding.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Subject string `json:"subject,omitempty"`

	// subjectFrom names the app request header carrying the sub claim,
	// for example tel:+34600000000: one token per subject. The header
	// never reaches the partner.
	// +optional
	SubjectFrom *HeaderSource `json:"subjectFrom,omitempty"`

	// audience is the aud claim. Defaults to the token endpoint URL; some
	// servers want their issuer identifier.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Audience string `json:"audience,omitempty"`

	// algorithm signs the assertion: RS256 or PS256 with an RSA key, ES256
	// with a P-256 key. Defaults by key type (RS256 for RSA, ES256 for
	// P-256).
	// +optional
	Algorithm JWTBearerAlgorithm `json:"algorithm,omitempty"`

	// keyID is the assertion's kid header, for servers that hold several
	// keys for the client.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	KeyID string `json:"keyID,omitempty"`

	// lifetime is exp-iat of each assertion, in whole seconds, at most
	// 300s. Defaults to 60s. A new assertion is signed for every token
	// request.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('300s')",message="grant.jwtBearer.lifetime: must be positive and at most 300s"
	// +optional
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`

	// cacheSize bounds how many subjects' tokens are cached (least recently
	// used are evicted); only with subjectFrom. Defaults to 1024.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	CacheSize *int32 `json:"cacheSize,omitempty"`
}

// PasswordGrant is the resource-owner password credentials grant.
type PasswordGrant struct {
	// secretRef names the Secret with the username and password.
	// +required
	SecretRef PasswordSecretRef `json:"secretRef"`
}

// RefreshTokenGrant is the refresh-token grant.
type RefreshTokenGrant struct {
	// secretRef names the Secret with the refresh token.
	// +required
	SecretRef RefreshTokenSecretRef `json:"secretRef"`
}

// HeaderSource reads a per-request value from a header of the app's request.
type HeaderSource struct {
	// header is the request header name. The sidecar removes it before
	// forwarding.
	// +required
	Header HTTPHeaderName `json:"header"`
}

// HTTPHeaderName is an HTTP header field name (an RFC 9110 token).
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
// +kubebuilder:validation:Pattern=`^[-!#$%&'*+.^_|~0-9A-Za-z]+$`
type HTTPHeaderName string

// LoginHintFormat says which CIBA login hints the sidecar accepts.
//
// +kubebuilder:validation:Enum=OpenGateway;Opaque
type LoginHintFormat string

// Login hint formats.
const (
	// LoginHintOpenGateway accepts tel:+<E.164> and ipport:<ip>[:port].
	LoginHintOpenGateway LoginHintFormat = "OpenGateway"
	// LoginHintOpaque accepts any non-empty hint up to 256 bytes without
	// control characters (CIBA Core leaves the hint's form to the provider).
	LoginHintOpaque LoginHintFormat = "Opaque"
)

// CIBAGrant configures OpenID Client-Initiated Backchannel Authentication in
// poll mode: the sidecar asks the subscriber identified by the login hint to
// approve, then polls the token endpoint.
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxPending) || self.maxPending <= (has(self.cacheSize) ? self.cacheSize : 1024)",message="grant.ciba.maxPending: must not exceed grant.ciba.cacheSize (default 1024): every approval needs a cache entry to land in"
type CIBAGrant struct {
	// authorizeURL is the backchannel authentication endpoint, for example
	// https://auth.partner.example/bc-authorize.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="grant.ciba.authorizeURL: must start with https:// or http://"
	// +required
	AuthorizeURL string `json:"authorizeURL"`

	// loginHintFrom names the app request header carrying the login hint
	// (for example tel:+34600000000). Defaults to X-Login-Hint.
	// +optional
	LoginHintFrom *HeaderSource `json:"loginHintFrom,omitempty"`

	// loginHintFormat is OpenGateway (the default: tel:+<E.164> or
	// ipport:<ip>[:port]) or Opaque (any non-empty hint up to 256 bytes
	// without control characters, for providers that identify users by
	// e-mail address or user id). A hint that does not fit gets 400
	// invalid_login_hint before anything is sent.
	// +optional
	LoginHintFormat LoginHintFormat `json:"loginHintFormat,omitempty"`

	// purpose is sent as the CIBA purpose, for example
	// dpv:FraudPreventionAndDetection#sim-swap (Open Gateway style).
	// Either purpose or grant.scopes is required.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Purpose string `json:"purpose,omitempty"`

	// maxWait is how long an app request waits for the subscriber to
	// approve before it gets 503 authorization_pending (polling continues
	// in the background). Defaults to 30s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="grant.ciba.maxWait: must be between 0s and 10m"
	// +optional
	MaxWait *metav1.Duration `json:"maxWait,omitempty"`

	// extraParams are added to the backchannel authentication request.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	ExtraParams map[string]string `json:"extraParams,omitempty"`

	// cacheSize bounds how many subscribers' tokens the sidecar caches
	// (least recently used are evicted). Defaults to 1024.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	CacheSize *int32 `json:"cacheSize,omitempty"`

	// maxPending bounds the authorizations waiting for subscribers at once
	// (each is a consent prompt and a polling loop). Another subscriber
	// gets 429 too_many_pending_authorizations until one ends; a subscriber
	// already pending is never asked twice. At most cacheSize. Defaults to
	// 100, or cacheSize if smaller.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	MaxPending *int32 `json:"maxPending,omitempty"`
}

// Token-exchange grant_type values.
const (
	TokenExchangeRFC8693 = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenExchangeTapkey  = "http://tapkey.net/oauth/token_exchange"
)

// TokenExchangeGrant configures RFC 8693 token exchange, or Tapkey's
// pre-RFC variant, trading a subject token for an access token.
//
// +kubebuilder:validation:XValidation:rule="self.grantType != 'http://tapkey.net/oauth/token_exchange' || has(self.provider)",message="grant.tokenExchange.provider: required for the Tapkey grant (http://tapkey.net/oauth/token_exchange)"
// +kubebuilder:validation:XValidation:rule="self.grantType != 'urn:ietf:params:oauth:grant-type:token-exchange' || has(self.subjectTokenType)",message="grant.tokenExchange.subjectTokenType: required for RFC 8693 (for example urn:ietf:params:oauth:token-type:jwt)"
type TokenExchangeGrant struct {
	// grantType is the grant_type sent on the wire: the RFC 8693 URN or
	// Tapkey's http://tapkey.net/oauth/token_exchange.
	// +kubebuilder:validation:Enum="urn:ietf:params:oauth:grant-type:token-exchange";"http://tapkey.net/oauth/token_exchange"
	// +kubebuilder:default="urn:ietf:params:oauth:grant-type:token-exchange"
	// +optional
	GrantType string `json:"grantType,omitempty"`

	// provider is the identity provider ID registered with the partner
	// (Tapkey: the IdP id issued when the provider was registered).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Provider string `json:"provider,omitempty"`

	// audience is the logical name of the target service (RFC 8693
	// audience). For the Tapkey grant it defaults to tapkey_api, the only
	// value Tapkey accepts; the default is applied when the sidecar config
	// is rendered because it depends on grantType.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Audience string `json:"audience,omitempty"`

	// requestedTokenType is the RFC 8693 requested_token_type. For the
	// Tapkey grant it defaults to access_token (applied at rendering, like
	// audience).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	RequestedTokenType string `json:"requestedTokenType,omitempty"`

	// subjectTokenType is the RFC 8693 subject_token_type, for example
	// urn:ietf:params:oauth:token-type:jwt. For the Tapkey grant it
	// defaults to jwt.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	SubjectTokenType string `json:"subjectTokenType,omitempty"`

	// subjectToken says where the token being exchanged comes from: set
	// exactly one of serviceAccountToken or mint.
	// +required
	SubjectToken SubjectToken `json:"subjectToken"`
}

// SubjectToken is the source of the token being exchanged.
//
// +kubebuilder:validation:XValidation:rule="has(self.serviceAccountToken) != has(self.mint)",message="grant.tokenExchange.subjectToken: set exactly one of serviceAccountToken or mint"
type SubjectToken struct {
	// serviceAccountToken uses the pod's own Kubernetes service account
	// token, projected into the sidecar with the given audience, as the
	// subject token (workload identity federation).
	// +optional
	ServiceAccountToken *ServiceAccountTokenSubject `json:"serviceAccountToken,omitempty"`

	// mint makes the sidecar act as the identity provider registered with
	// the partner: it signs a short-lived JWT per end user with privateKey,
	// taking the user from a request header.
	// +optional
	Mint *MintSubject `json:"mint,omitempty"`
}

// ServiceAccountTokenSubject projects a service account token into the
// sidecar.
type ServiceAccountTokenSubject struct {
	// audience is the token's aud claim; the partner must trust the
	// cluster's service account issuer for it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +required
	Audience string `json:"audience"`

	// expirationSeconds is the requested token lifetime; the kubelet
	// rotates the file before it expires. Defaults to 3600.
	// +kubebuilder:validation:Minimum=600
	// +kubebuilder:validation:Maximum=86400
	// +kubebuilder:default=3600
	// +optional
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
}

// MintSubject configures subject tokens signed by the sidecar.
type MintSubject struct {
	// issuer is the iss claim, the identity provider's issuer as registered
	// with the partner.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +required
	Issuer string `json:"issuer"`

	// audience is the aud claim expected by the partner.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +required
	Audience string `json:"audience"`

	// lifetime is the minted token's validity. Defaults to 5m.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('24h')",message="grant.tokenExchange.subjectToken.mint.lifetime: must be positive and at most 24h"
	// +optional
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`

	// subjectFrom names the app request header carrying the end user's
	// identifier (the sub claim). Defaults to X-User.
	// +optional
	SubjectFrom *HeaderSource `json:"subjectFrom,omitempty"`

	// cacheSize bounds how many users' exchanged tokens are cached.
	// Defaults to 1024.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	CacheSize *int32 `json:"cacheSize,omitempty"`
}
