package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClientAuthMethod is how the client authenticates to the token endpoint.
//
// +kubebuilder:validation:Enum=ClientSecretBasic;ClientSecretPost;ClientSecretJWT;PrivateKeyJWT;TLSClientAuth;None
type ClientAuthMethod string

// Client authentication methods.
const (
	ClientSecretBasic ClientAuthMethod = "ClientSecretBasic"
	ClientSecretPost  ClientAuthMethod = "ClientSecretPost"
	// ClientSecretJWT is RFC 7523 §2.2 / OpenID Core §9 client_secret_jwt:
	// an HS256 assertion keyed with the client secret.
	ClientSecretJWT ClientAuthMethod = "ClientSecretJWT"
	PrivateKeyJWT   ClientAuthMethod = "PrivateKeyJWT"
	TLSClientAuth   ClientAuthMethod = "TLSClientAuth"
	ClientAuthNone  ClientAuthMethod = "None"
)

// ClientAuth is the client's authentication to the token endpoint.
//
// +kubebuilder:validation:XValidation:rule="self.method == 'None' || has(self.secretRef)",message="clientAuth.secretRef: required for ClientSecretBasic, ClientSecretPost, ClientSecretJWT, PrivateKeyJWT and TLSClientAuth (it holds the client ID, and the client secret for the ClientSecret methods)"
// +kubebuilder:validation:XValidation:rule="self.method != 'TLSClientAuth' || has(self.tlsSecretRef)",message="clientAuth.tlsSecretRef: required when clientAuth.method is TLSClientAuth (a kubernetes.io/tls Secret with the client certificate)"
// +kubebuilder:validation:XValidation:rule="!has(self.tlsSecretRef) || self.method == 'TLSClientAuth'",message="clientAuth.tlsSecretRef: only used when clientAuth.method is TLSClientAuth"
type ClientAuth struct {
	// method is ClientSecretBasic (HTTP Basic), ClientSecretPost (form
	// fields), ClientSecretJWT (RFC 7523 assertion signed HS256 with the
	// client secret, which must be at least 32 bytes), PrivateKeyJWT (RFC
	// 7523 assertion signed with privateKey), TLSClientAuth (mutual TLS,
	// RFC 8705) or None (public client).
	// +kubebuilder:default=ClientSecretBasic
	// +optional
	Method ClientAuthMethod `json:"method,omitempty"`

	// secretRef names the Secret with the client ID and, for the
	// ClientSecret methods, the client secret.
	// +optional
	SecretRef *ClientSecretRef `json:"secretRef,omitempty"`

	// tlsSecretRef names a kubernetes.io/tls Secret (keys tls.crt and
	// tls.key) presented as the client certificate to the token endpoint
	// and the upstream.
	// +optional
	TLSSecretRef *TLSSecretRef `json:"tlsSecretRef,omitempty"`

	// audience is the aud claim of the PrivateKeyJWT or ClientSecretJWT
	// assertion. Defaults to the token endpoint URL.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Audience string `json:"audience,omitempty"`
}

// PrivateKey is the client's private key.
type PrivateKey struct {
	// secretRef names the Secret with the PEM key (PKCS#1, PKCS#8 or
	// encrypted PKCS#8) and, for an encrypted key, its passphrase.
	// +required
	SecretRef PrivateKeySecretRef `json:"secretRef"`
}

// ProofOfPossessionType selects a per-request proof-of-possession scheme.
//
// +kubebuilder:validation:Enum=None;TAAP;DPoP
type ProofOfPossessionType string

// Proof-of-possession types.
const (
	PoPNone ProofOfPossessionType = "None"
	PoPTAAP ProofOfPossessionType = "TAAP"
	PoPDPoP ProofOfPossessionType = "DPoP"
)

// ProofOfPossession configures per-request proof-of-possession tokens.
//
// +kubebuilder:validation:XValidation:rule="!has(self.taap) || self.type == 'TAAP'",message="proofOfPossession.taap: only used when proofOfPossession.type is TAAP"
type ProofOfPossession struct {
	// type is None, TAAP (T-Mobile's PoP token in X-Authorization) or DPoP
	// (RFC 9449).
	// +kubebuilder:default=None
	// +optional
	Type ProofOfPossessionType `json:"type,omitempty"`

	// taap tunes T-Mobile TAAP PoP tokens.
	// +optional
	TAAP *TAAP `json:"taap,omitempty"`
}

// TAAP tunes T-Mobile's proof-of-possession token.
type TAAP struct {
	// header carries the PoP token. Defaults to X-Authorization.
	// +optional
	Header HTTPHeaderName `json:"header,omitempty"`

	// sign lists what the PoP token's ehts/edts claims cover, in order:
	// uri, http-method, body, or request header names such as
	// Content-Type. Defaults to [uri, http-method, body].
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Sign []HTTPHeaderName `json:"sign,omitempty"`

	// onTokenEndpoint also sends a PoP token on token requests, as
	// T-Mobile's OAuth server requires. Defaults to true.
	// +optional
	OnTokenEndpoint *bool `json:"onTokenEndpoint,omitempty"`

	// lifetime is exp-iat of each PoP token, in whole seconds, at most 120s
	// (T-Mobile's validator rejects longer). Defaults to 120s.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('120s')",message="proofOfPossession.taap.lifetime: must be positive and at most 120s (T-Mobile rejects longer PoP tokens)"
	// +optional
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`

	// maxBodyBytes bounds how much of a request body is buffered to sign
	// it; larger requests are refused with 413. Defaults to 1Mi.
	// +optional
	MaxBodyBytes *resource.Quantity `json:"maxBodyBytes,omitempty"`
}

// TokenPlacementIn is where the access token is placed.
//
// +kubebuilder:validation:Enum=Header;Query;Form
type TokenPlacementIn string

// Token placements (RFC 6750 section 2).
const (
	PlaceHeader TokenPlacementIn = "Header"
	PlaceQuery  TokenPlacementIn = "Query"
	PlaceForm   TokenPlacementIn = "Form"
)

// TokenPlacement says where the access token goes on partner requests.
type TokenPlacement struct {
	// in is Header (Authorization: Bearer), Query (access_token parameter)
	// or Form (access_token field of a form-encoded body).
	// +kubebuilder:default=Header
	// +optional
	In TokenPlacementIn `json:"in,omitempty"`

	// idTokenHeader, when set, forwards the token response's id_token in
	// this header (T-Mobile: X-Auth-Originator, the default with TAAP).
	// +optional
	IDTokenHeader HTTPHeaderName `json:"idTokenHeader,omitempty"`
}

// OAuth1SignatureMethod is an RFC 5849 signature method.
//
// +kubebuilder:validation:Enum=HMAC-SHA1;HMAC-SHA256;RSA-SHA1;RSA-SHA256;PLAINTEXT
type OAuth1SignatureMethod string

// OAuth1 configures OAuth 1.0a (RFC 5849) request signing.
type OAuth1 struct {
	// signatureMethod is HMAC-SHA1, HMAC-SHA256, PLAINTEXT, or RSA-SHA1 /
	// RSA-SHA256 (which sign with privateKey).
	// +kubebuilder:default=HMAC-SHA1
	// +optional
	SignatureMethod OAuth1SignatureMethod `json:"signatureMethod,omitempty"`

	// consumerSecretRef names the Secret with the consumer key and, for
	// HMAC and PLAINTEXT, the consumer secret.
	// +required
	ConsumerSecretRef OAuth1ConsumerSecretRef `json:"consumerSecretRef"`

	// tokenSecretRef names the Secret with the token credentials for
	// three-legged signing; omit it for two-legged signing.
	// +optional
	TokenSecretRef *OAuth1TokenSecretRef `json:"tokenSecretRef,omitempty"`
}
