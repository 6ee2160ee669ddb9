package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OAuthClientBinding describes how the injected sidecar obtains OAuth
// credentials for one partner API and adds them to the app's plain-HTTP
// requests sent to 127.0.0.1:<listenPort>. Pods opt in with the annotation
// oauth.injector.dev/bindings. A binding may reference Secrets only in its
// own namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=ocb,categories=oauth-injector
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Grant",type=string,JSONPath=`.spec.grant.type`
// +kubebuilder:printcolumn:name="Upstream",type=string,JSONPath=`.spec.upstream.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OAuthClientBinding struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata. The name becomes the
	// sidecar's binding name and the app's env var OAUTH_INJECTOR_<NAME>_URL.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the partner API and how to authenticate to it.
	// +required
	Spec OAuthClientBindingSpec `json:"spec"`

	// status is written by the controller.
	// +optional
	Status OAuthClientBindingStatus `json:"status,omitempty"`
}

// OAuthClientBindingList is a list of OAuthClientBindings.
//
// +kubebuilder:object:root=true
type OAuthClientBindingList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the bindings.
	Items []OAuthClientBinding `json:"items"`
}

// OAuthClientBindingSpec is the desired credential behaviour.
//
// +kubebuilder:validation:XValidation:rule="self.grant.type == 'None' || has(self.tokenEndpoint)",message="tokenEndpoint: required unless grant.type is None"
// +kubebuilder:validation:XValidation:rule="self.grant.type != 'None' || has(self.oauth1)",message="oauth1: required when grant.type is None (without a token, OAuth 1.0a signing is the only credential left to add)"
// +kubebuilder:validation:XValidation:rule="self.grant.type == 'None' || has(self.clientAuth)",message="clientAuth: required unless grant.type is None (use method None for a public client)"
// +kubebuilder:validation:XValidation:rule="!has(self.clientAuth) || self.clientAuth.method != 'PrivateKeyJWT' || has(self.privateKey)",message="privateKey: required when clientAuth.method is PrivateKeyJWT (it signs the client assertion)"
// +kubebuilder:validation:XValidation:rule="!has(self.proofOfPossession) || self.proofOfPossession.type != 'TAAP' || has(self.privateKey)",message="privateKey: required when proofOfPossession.type is TAAP (it signs the PoP tokens)"
// +kubebuilder:validation:XValidation:rule="!has(self.oauth1) || !self.oauth1.signatureMethod.startsWith('RSA-') || has(self.privateKey)",message="privateKey: required when oauth1.signatureMethod is RSA-SHA1 or RSA-SHA256 (an RSA key signs the request)"
// +kubebuilder:validation:XValidation:rule="!has(self.grant.tokenExchange) || !has(self.grant.tokenExchange.subjectToken.mint) || has(self.privateKey)",message="privateKey: required when grant.tokenExchange.subjectToken.mint is set (it signs the minted subject token)"
// +kubebuilder:validation:XValidation:rule="!has(self.sharedCache) || self.grant.type != 'None'",message="sharedCache: grant.type None has no tokens to share"
// +kubebuilder:validation:XValidation:rule="self.grant.type != 'JWTBearer' || has(self.privateKey)",message="privateKey: required when grant.type is JWTBearer (it signs the assertion)"
// +kubebuilder:validation:XValidation:rule="self.grant.type != 'JWTBearer' || !has(self.clientAuth) || has(self.clientAuth.secretRef)",message="clientAuth.secretRef: required when grant.type is JWTBearer, also with method None (its client ID is the assertion's iss)"
// +kubebuilder:validation:XValidation:rule="!has(self.proofOfPossession) || self.proofOfPossession.type != 'DPoP' || !has(self.tokenPlacement) || self.tokenPlacement.__in__ == 'Header'",message="tokenPlacement.in: must be Header when proofOfPossession.type is DPoP (RFC 9449 sends DPoP-bound tokens only in the Authorization header)"
// +kubebuilder:validation:XValidation:rule="(has(self.allowInsecureHTTP) && self.allowInsecureHTTP) || !self.upstream.url.startsWith('http://') || self.upstream.url.matches('^(?i)http://(localhost|127([.][0-9]{1,3}){3}|[[]::1[]])([:/?#].*)?$')",message="upstream.url: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true (loopback hosts are exempt)"
// +kubebuilder:validation:XValidation:rule="(has(self.allowInsecureHTTP) && self.allowInsecureHTTP) || !has(self.tokenEndpoint) || !self.tokenEndpoint.url.startsWith('http://') || self.tokenEndpoint.url.matches('^(?i)http://(localhost|127([.][0-9]{1,3}){3}|[[]::1[]])([:/?#].*)?$')",message="tokenEndpoint.url: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true (loopback hosts are exempt)"
// +kubebuilder:validation:XValidation:rule="(has(self.allowInsecureHTTP) && self.allowInsecureHTTP) || !has(self.grant.ciba) || !self.grant.ciba.authorizeURL.startsWith('http://') || self.grant.ciba.authorizeURL.matches('^(?i)http://(localhost|127([.][0-9]{1,3}){3}|[[]::1[]])([:/?#].*)?$')",message="grant.ciba.authorizeURL: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true (loopback hosts are exempt)"
// +kubebuilder:validation:XValidation:rule="!has(self.operations) || self.operations.all(o, !has(o.provider) || (has(self.providers) && self.providers.exists(p, p.name == o.provider)))",message="operations[].provider: must name an entry of providers"
// +kubebuilder:validation:XValidation:rule="!has(self.operations) || self.grant.type == 'CIBA' || self.operations.all(o, !has(o.purpose))",message="operations[].purpose: only for a CIBA binding (grant.type CIBA)"
// +kubebuilder:validation:XValidation:rule="!has(self.unmatched) || self.unmatched != 'Deny' || (has(self.operations) && size(self.operations) > 0)",message="unmatched: Deny needs operations (without any it would refuse every request)"
// +kubebuilder:validation:XValidation:rule="self.grant.type != 'None' || ((!has(self.operations) || size(self.operations) == 0) && (!has(self.providers) || size(self.providers) == 0))",message="operations: grant.type None has no token to choose; operations and providers need a token grant"
// +kubebuilder:validation:XValidation:rule="!has(self.providers) || size(self.providers) == 0 || (self.grant.type != 'CIBA' && !(has(self.grant.tokenExchange) && has(self.grant.tokenExchange.subjectToken.mint)) && !(has(self.grant.jwtBearer) && has(self.grant.jwtBearer.subjectFrom)))",message="providers: not supported when the binding's grant takes its subject from each request (CIBA, TokenExchange with mint, JWTBearer with subjectFrom); use operations' scopes or purpose"
// +kubebuilder:validation:XValidation:rule="!has(self.providers) || has(self.privateKey) || self.providers.all(p, p.clientAuth.method != 'PrivateKeyJWT' && p.grant.type != 'JWTBearer')",message="privateKey: required when a provider uses PrivateKeyJWT or JWTBearer (providers sign with the binding's key)"
// +kubebuilder:validation:XValidation:rule="(has(self.allowInsecureHTTP) && self.allowInsecureHTTP) || !has(self.providers) || self.providers.all(p, !p.tokenEndpoint.url.startsWith('http://') || p.tokenEndpoint.url.matches('^(?i)http://(localhost|127([.][0-9]{1,3}){3}|[[]::1[]])([:/?#].*)?$'))",message="providers[].tokenEndpoint.url: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true (loopback hosts are exempt)"
// +kubebuilder:validation:XValidation:rule="!has(self.grant.ciba) || has(self.grant.ciba.purpose) || (has(self.grant.scopes) && size(self.grant.scopes) > 0) || (has(self.unmatched) && self.unmatched == 'Deny' && has(self.operations) && self.operations.all(o, has(o.purpose) || (has(o.scopes) && size(o.scopes) > 0)))",message="grant.ciba.purpose: a purpose (dpv:<purpose>#<scope>) or grant.scopes is required for CIBA (or, with unmatched: Deny, one on every operation)"
type OAuthClientBindingSpec struct {
	// listenPort is the loopback port (127.0.0.1) on which the sidecar
	// accepts the app's plain-HTTP requests for this binding. It must differ
	// from every other binding's port and every app container port in the
	// pod, and from the sidecar's admin port 15020.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:validation:XValidation:rule="self != 15020",message="listenPort: 15020 is the sidecar's admin port; choose another port"
	// +required
	ListenPort int32 `json:"listenPort"`

	// upstream is the only destination requests on listenPort are forwarded
	// to; the sidecar is not an open proxy.
	// +required
	Upstream Upstream `json:"upstream"`

	// tokenEndpoint is where access tokens are requested. Required unless
	// grant.type is None.
	// +optional
	TokenEndpoint *TokenEndpoint `json:"tokenEndpoint,omitempty"`

	// grant selects how the access token is obtained.
	// +required
	Grant Grant `json:"grant"`

	// clientAuth is how the client authenticates to the token endpoint.
	// Required unless grant.type is None.
	// +optional
	ClientAuth *ClientAuth `json:"clientAuth,omitempty"`

	// privateKey is the client's private key, used for PrivateKeyJWT client
	// authentication, TAAP PoP tokens, DPoP proofs, OAuth 1.0a RSA
	// signatures, minted subject tokens and JWTBearer assertions.
	// +optional
	PrivateKey *PrivateKey `json:"privateKey,omitempty"`

	// proofOfPossession adds a per-request proof that the caller holds
	// privateKey: T-Mobile's TAAP PoP token or an RFC 9449 DPoP proof.
	// +optional
	ProofOfPossession *ProofOfPossession `json:"proofOfPossession,omitempty"`

	// tokenPlacement says where the access token goes on the partner
	// request. Defaults to the Authorization header.
	// +optional
	TokenPlacement *TokenPlacement `json:"tokenPlacement,omitempty"`

	// oauth1 signs every partner request with OAuth 1.0a (RFC 5849).
	// +optional
	OAuth1 *OAuth1 `json:"oauth1,omitempty"`

	// refresh tunes when cached tokens are renewed.
	// +optional
	Refresh *Refresh `json:"refresh,omitempty"`

	// sharedCache shares tokens, rotated refresh tokens and pending CIBA
	// authorizations with the workload's other replicas through a Redis or
	// Valkey server, so that replicas and restarts neither repeat token
	// requests nor lose a rotating refresh token. Without it every sidecar
	// keeps its tokens to itself.
	// +optional
	SharedCache *SharedCache `json:"sharedCache,omitempty"`

	// allowedServiceAccounts, when set, restricts the binding to pods that
	// run as one of these service accounts (names in the binding's
	// namespace); other pods asking for it are refused at admission.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	AllowedServiceAccounts []string `json:"allowedServiceAccounts,omitempty"`

	// allowInsecureHTTP permits http:// for upstream.url, tokenEndpoint.url,
	// providers[].tokenEndpoint.url and grant.ciba.authorizeURL on hosts
	// other than loopback (localhost, 127.0.0.0/8, ::1). Every request to
	// those carries credentials, so cleartext is an explicit opt-in; the
	// sidecar logs a warning naming the hosts at start.
	// +optional
	AllowInsecureHTTP bool `json:"allowInsecureHTTP,omitempty"`

	// operations give each kind of request the token it needs, so that no
	// request carries scopes it does not need: each names its methods and
	// path pattern, and the scopes, CIBA purpose or provider of its token.
	// The sidecar keeps one token per (provider, scopes, purpose). Without
	// operations one token serves every request.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +optional
	Operations []Operation `json:"operations,omitempty"`

	// unmatched is what a request that no operation matches gets: Allow
	// (the default) sends it with the binding's own grant; Deny refuses it
	// with 403 operation_not_allowed.
	// +optional
	Unmatched UnmatchedPolicy `json:"unmatched,omitempty"`

	// providers are token providers besides the binding's own
	// tokenEndpoint, clientAuth and grant; operations name them.
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	// +optional
	Providers []TokenProvider `json:"providers,omitempty"`
}

// Upstream is the partner API.
type Upstream struct {
	// url is the base URL of the partner API, for example
	// https://api.partner.example. The app's request path and query are
	// appended to it.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="upstream.url: must start with https:// or http://"
	// +required
	URL string `json:"url"`

	// caSecretRef names a Secret holding a PEM CA bundle that replaces the
	// system roots for the upstream (for partners with a private CA).
	// +optional
	CASecretRef *CASecretRef `json:"caSecretRef,omitempty"`

	// responseHeaderTimeout bounds the wait for the partner's response
	// headers; past it the app gets 504 upstream_timeout. Once headers
	// arrive the body may stream for as long as it takes (server-sent
	// events). Defaults to 30s.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('10m')",message="upstream.responseHeaderTimeout: must be positive and at most 10m"
	// +optional
	ResponseHeaderTimeout *metav1.Duration `json:"responseHeaderTimeout,omitempty"`

	// allowTrace forwards TRACE requests. Off by default: the sidecar
	// answers TRACE with 405 method_not_allowed, because an upstream that
	// echoes it would hand the sidecar's credentials back to the app.
	// +optional
	AllowTrace bool `json:"allowTrace,omitempty"`

	// proxy sends the connections to the upstream through an HTTP proxy.
	// Without it they go out directly, whatever the environment says.
	// +optional
	Proxy *EgressProxy `json:"proxy,omitempty"`
}

// TokenEndpoint is the OAuth token endpoint.
type TokenEndpoint struct {
	// url is the token endpoint, for example
	// https://auth.partner.example/oauth2/token.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="tokenEndpoint.url: must start with https:// or http://"
	// +required
	URL string `json:"url"`

	// method is the HTTP method of token requests. A few providers (for
	// example T-Mobile's) accept GET with the parameters in the query.
	// +kubebuilder:validation:Enum=GET;POST
	// +kubebuilder:default=POST
	// +optional
	Method string `json:"method,omitempty"`

	// extraParams are extension parameters (RFC 6749 section 8.2), such as
	// resource or audience, added verbatim to every token request.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	ExtraParams map[string]string `json:"extraParams,omitempty"`

	// caSecretRef names a Secret holding a PEM CA bundle that replaces the
	// system roots for the token endpoint (and the CIBA authorize endpoint).
	// +optional
	CASecretRef *CASecretRef `json:"caSecretRef,omitempty"`

	// proxy sends the connections to the token endpoint (and the CIBA
	// authorize endpoint) through an HTTP proxy. Without it they go out
	// directly, whatever the environment says.
	// +optional
	Proxy *EgressProxy `json:"proxy,omitempty"`
}

// Refresh tunes the token cache and how hard it may press the token
// endpoint.
type Refresh struct {
	// before is the lead time: a token is refreshed at the earlier of 80% of
	// its lifetime or this long before it expires. Defaults to 30s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="refresh.before: must not be negative"
	// +optional
	Before *metav1.Duration `json:"before,omitempty"`

	// expirySkew: a token is no longer sent this long before it expires
	// (at most half its lifetime), so that clock differences and latency
	// cannot make the partner see an expired token. The expiry is the
	// earlier of expires_in and, for a JWT access token, its exp claim.
	// Defaults to 10s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('5m')",message="refresh.expirySkew: must be between 0s and 5m"
	// +optional
	ExpirySkew *metav1.Duration `json:"expirySkew,omitempty"`

	// minInterval is the least time between two token calls for one
	// subject caused by expiry, so that a tiny expires_in cannot make the
	// sidecar call the token endpoint in a loop. Defaults to 1s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="refresh.minInterval: must be between 0s and 10m"
	// +optional
	MinInterval *metav1.Duration `json:"minInterval,omitempty"`

	// maxCallsPerSecond bounds the binding's token calls across all
	// subjects (CIBA subscribers, token-exchange users), with bursts of up
	// to twice as many. Defaults to 10.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxCallsPerSecond *int32 `json:"maxCallsPerSecond,omitempty"`
}

// OAuthClientBindingStatus is the observed state, written by the controller.
type OAuthClientBindingStatus struct {
	// observedGeneration is the metadata.generation the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions report readiness. Type Ready is True when the spec renders
	// and every referenced Secret key exists and parses; its reason is one
	// of Valid, SecretNotFound, KeyMissing, KeyUnparseable or InvalidSpec.
	// It is Unknown, with reason NamespaceNotWatched or SecretAccessDenied,
	// when the controller does not or may not read the referenced Secrets.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// injectedPods counts running pods whose sidecar uses this binding.
	// +optional
	InjectedPods int32 `json:"injectedPods,omitempty"`

	// outdatedPods counts injected pods rendered from an older generation
	// of this binding; restart them to pick up the change.
	// +optional
	OutdatedPods int32 `json:"outdatedPods,omitempty"`

	// missedPods counts pods that ask for this binding but were admitted
	// without a sidecar (for example while the webhook was unavailable).
	// +optional
	MissedPods int32 `json:"missedPods,omitempty"`
}
