package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SharedCache shares a binding's tokens with the other replicas of the
// workload through a Redis or Valkey server: access tokens (client-level and
// per subject), the current refresh token of a rotating grant, and pending
// CIBA authorizations. Every value is sealed with AES-256-GCM under the key
// in encryptionKeySecretRef, and store keys are hashes, so the server never
// holds a token or a subject (phone number) in clear. The chart does not
// install the server; see docs/scaling.md.
type SharedCache struct {
	// address is host:port of the Redis or Valkey server, for example
	// redis.cache.svc.cluster.local:6379.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^\\\\s/]+:[0-9]{1,5}$')",message="sharedCache.address: must be host:port, for example redis.cache.svc.cluster.local:6379"
	// +required
	Address string `json:"address"`

	// authSecretRef names a Secret with the server password and, for an
	// ACL user, the user name. Omit it for a server without AUTH.
	// +optional
	AuthSecretRef *SharedCacheAuthSecretRef `json:"authSecretRef,omitempty"`

	// tls connects with TLS. Without caSecretRef the system roots verify
	// the server.
	// +optional
	TLS *SharedCacheTLS `json:"tls,omitempty"`

	// keyPrefix starts every store key, so that an ACL rule such as
	// ~oauth-injector:* can confine the sidecar's user. Defaults to
	// oauth-injector:.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[!-~]*$')",message="sharedCache.keyPrefix: printable ASCII without spaces"
	// +optional
	KeyPrefix string `json:"keyPrefix,omitempty"`

	// encryptionKeySecretRef names the Secret holding the AES-256 keys
	// (32 bytes: raw, 64 hex digits or base64). The current key seals new
	// values; the previous key, if the Secret has it, still opens values
	// sealed before a rotation.
	// +required
	EncryptionKeySecretRef EncryptionKeySecretRef `json:"encryptionKeySecretRef"`

	// timeout bounds every call to the server; a slower server is treated
	// as down and the sidecar uses its local cache. Defaults to 200ms.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5s')",message="sharedCache.timeout: must be positive and at most 5s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SharedCacheAuthSecretRef names a Secret with the store credentials.
type SharedCacheAuthSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// usernameKey holds the ACL user name. Omit it to authenticate the
	// default user with the password alone.
	// +optional
	UsernameKey SecretKey `json:"usernameKey,omitempty"`
	// passwordKey holds the password. Defaults to password.
	// +kubebuilder:default=password
	// +optional
	PasswordKey SecretKey `json:"passwordKey,omitempty"`
}

// SharedCacheTLS configures TLS to the store.
type SharedCacheTLS struct {
	// caSecretRef names a Secret with a PEM CA bundle that replaces the
	// system roots.
	// +optional
	CASecretRef *CASecretRef `json:"caSecretRef,omitempty"`
	// serverName is checked against the server certificate. Defaults to
	// the host of address.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?$')",message="sharedCache.tls.serverName: must be a DNS name"
	// +optional
	ServerName string `json:"serverName,omitempty"`
}

// EncryptionKeySecretRef names a Secret with the shared cache's keys.
//
// +kubebuilder:validation:XValidation:rule="self.currentKey != self.previousKey",message="sharedCache.encryptionKeySecretRef.previousKey: must differ from currentKey"
type EncryptionKeySecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// currentKey holds the key that seals new values. Defaults to current.
	// +kubebuilder:default=current
	// +optional
	CurrentKey SecretKey `json:"currentKey,omitempty"`
	// previousKey holds the key from before a rotation; values sealed
	// under it can still be read. The Secret need not have it. Defaults to
	// previous.
	// +kubebuilder:default=previous
	// +optional
	PreviousKey SecretKey `json:"previousKey,omitempty"`
}
