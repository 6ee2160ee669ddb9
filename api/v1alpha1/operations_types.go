package v1alpha1

// UnmatchedPolicy says what a request that no operation matches gets.
//
// +kubebuilder:validation:Enum=Allow;Deny
type UnmatchedPolicy string

// Unmatched policies.
const (
	// UnmatchedAllow sends it with the binding's own grant (its scopes).
	UnmatchedAllow UnmatchedPolicy = "Allow"
	// UnmatchedDeny refuses it: 403 operation_not_allowed.
	UnmatchedDeny UnmatchedPolicy = "Deny"
)

// Operation is one kind of request of the partner API and the token it
// needs. The sidecar sends each request with the token of the most specific
// operation that matches it (see docs/operations.md): more literal path
// segments win, then a literal beats {param} beats the end of a pattern
// beats "**" at the first segment where two patterns differ, then an
// explicit methods list beats any method. Two operations equally specific
// that can match one request are refused (reason InvalidSpec, and the
// webhook refuses pods).
type Operation struct {
	// name identifies the operation in errors: a DNS label, unique among
	// operations.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// methods are the HTTP methods the operation covers, upper case, for
	// example [GET, HEAD]. Empty: any method.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=20
	// +kubebuilder:validation:items:Pattern=`^[A-Z]+(-[A-Z]+)*$`
	// +listType=set
	// +optional
	Methods []string `json:"methods,omitempty"`

	// path is the pattern of the path the app sends to the sidecar (before
	// upstream.url's own path is prepended): "/" and segments, each a
	// literal, a {name} parameter matching one non-empty segment, or, as
	// the last segment only, "**" matching any number of segments (none
	// included). Example: /v1/users/{id}/orders/**.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.matches('^(/|(/([^/{}*?#%]+|[{][A-Za-z_][A-Za-z0-9_]*[}]))*(/[*][*])?)$')",message="operations[].path: must be \"/\" and segments, each a literal, a {name} parameter or, as the last segment only, \"**\" (no empty segments, no trailing \"/\", and no * ? # % in literals)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="operations[].path: \".\" and \"..\" segments are not allowed"
	// +required
	Path string `json:"path"`

	// scopes are requested for this operation's token, in place of the
	// provider's grant.scopes. Empty: the provider's grant.scopes.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	// +listType=atomic
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// purpose is the CIBA purpose of this operation's token, in place of
	// grant.ciba.purpose, for example dpv:FraudPreventionAndDetection#sim-swap
	// (CIBA bindings only). Each purpose has its own token per subscriber,
	// each from its own authorization.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Purpose string `json:"purpose,omitempty"`

	// provider names the entry of providers whose token this operation
	// uses. Empty: the binding's own tokenEndpoint, clientAuth and grant.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Provider string `json:"provider,omitempty"`
}

// TokenProvider is a token provider besides the binding's own: a token
// endpoint with its own client and grant. It shares the binding's
// privateKey (PrivateKeyJWT, JWTBearer), proofOfPossession and refresh
// settings. Its grant gives one token for the client: ClientCredentials,
// Password, RefreshToken or JWTBearer with a fixed subject.
//
// +kubebuilder:validation:XValidation:rule="self.grant.type in ['ClientCredentials', 'Password', 'RefreshToken', 'JWTBearer']",message="providers[].grant.type: must be ClientCredentials, Password, RefreshToken or JWTBearer (a provider gives one token for the client)"
// +kubebuilder:validation:XValidation:rule="!has(self.grant.jwtBearer) || !has(self.grant.jwtBearer.subjectFrom)",message="providers[].grant.jwtBearer.subjectFrom: a provider's JWTBearer grant has a fixed subject; only the binding's own grant may take it from requests"
// +kubebuilder:validation:XValidation:rule="self.clientAuth.method != 'TLSClientAuth'",message="providers[].clientAuth.method: TLSClientAuth is only supported for the binding's own clientAuth (its certificate is also the upstream's client certificate)"
// +kubebuilder:validation:XValidation:rule="self.grant.type != 'JWTBearer' || has(self.clientAuth.secretRef)",message="providers[].clientAuth.secretRef: required when the provider's grant.type is JWTBearer (its client ID is the assertion's iss)"
type TokenProvider struct {
	// name identifies the provider for operations[].provider: a DNS label,
	// unique among providers.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// tokenEndpoint is where this provider's tokens are requested.
	// +required
	TokenEndpoint TokenEndpoint `json:"tokenEndpoint"`

	// clientAuth is how the client authenticates to this provider.
	// +required
	ClientAuth ClientAuth `json:"clientAuth"`

	// grant selects how this provider's token is obtained.
	// +required
	Grant Grant `json:"grant"`
}
