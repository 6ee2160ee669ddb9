package v1alpha1

// Secret references. Each names a Secret in the binding's own namespace;
// there is deliberately no namespace field. Each use has its own type so the
// key names can default to what that use conventionally calls them.

// SecretName is the name of a Secret in the binding's namespace.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type SecretName string

// SecretKey is a key inside a Secret's data. Names starting with ".." are
// refused because the kubelet reserves them for its atomic-update links.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*$`
type SecretKey string

// CASecretRef names a Secret with a PEM CA bundle.
type CASecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// key holding the PEM bundle. Defaults to ca.crt.
	// +kubebuilder:default=ca.crt
	// +optional
	Key SecretKey `json:"key,omitempty"`
}

// PasswordSecretRef names a Secret with resource-owner credentials.
type PasswordSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// usernameKey holds the username. Defaults to username.
	// +kubebuilder:default=username
	// +optional
	UsernameKey SecretKey `json:"usernameKey,omitempty"`
	// passwordKey holds the password. Defaults to password.
	// +kubebuilder:default=password
	// +optional
	PasswordKey SecretKey `json:"passwordKey,omitempty"`
}

// RefreshTokenSecretRef names a Secret with a refresh token.
type RefreshTokenSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// key holding the refresh token. Defaults to refresh_token.
	// +kubebuilder:default=refresh_token
	// +optional
	Key SecretKey `json:"key,omitempty"`
}

// ClientSecretRef names a Secret with client credentials.
type ClientSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// clientIDKey holds the client ID. Defaults to client_id.
	// +kubebuilder:default=client_id
	// +optional
	ClientIDKey SecretKey `json:"clientIDKey,omitempty"`
	// clientSecretKey holds the client secret (ClientSecretBasic,
	// ClientSecretPost and ClientSecretJWT only). Defaults to client_secret.
	// +kubebuilder:default=client_secret
	// +optional
	ClientSecretKey SecretKey `json:"clientSecretKey,omitempty"`
}

// TLSSecretRef names a kubernetes.io/tls Secret (keys tls.crt and tls.key).
type TLSSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
}

// PrivateKeySecretRef names a Secret with a PEM private key.
type PrivateKeySecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// key holding the PEM private key. Defaults to private.pem.
	// +kubebuilder:default=private.pem
	// +optional
	Key SecretKey `json:"key,omitempty"`
	// passphraseKey holds the passphrase of an encrypted PKCS#8 key; omit
	// it for an unencrypted key.
	// +optional
	PassphraseKey SecretKey `json:"passphraseKey,omitempty"`
}

// OAuth1ConsumerSecretRef names a Secret with OAuth 1.0a consumer credentials.
type OAuth1ConsumerSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// keyKey holds the consumer key. Defaults to consumer_key.
	// +kubebuilder:default=consumer_key
	// +optional
	KeyKey SecretKey `json:"keyKey,omitempty"`
	// secretKey holds the consumer secret (not used by the RSA methods).
	// Defaults to consumer_secret.
	// +kubebuilder:default=consumer_secret
	// +optional
	SecretKey SecretKey `json:"secretKey,omitempty"`
}

// OAuth1TokenSecretRef names a Secret with OAuth 1.0a token credentials.
type OAuth1TokenSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// tokenKey holds the token. Defaults to token.
	// +kubebuilder:default=token
	// +optional
	TokenKey SecretKey `json:"tokenKey,omitempty"`
	// secretKey holds the token secret (not used by the RSA methods).
	// Defaults to token_secret.
	// +kubebuilder:default=token_secret
	// +optional
	SecretKey SecretKey `json:"secretKey,omitempty"`
}

// ProxyCredentialsSecretRef names a Secret with HTTP proxy credentials.
type ProxyCredentialsSecretRef struct {
	// name of the Secret.
	// +required
	Name SecretName `json:"name"`
	// usernameKey holds the proxy username, which may not contain ':'
	// (RFC 7617). Defaults to username.
	// +kubebuilder:default=username
	// +optional
	UsernameKey SecretKey `json:"usernameKey,omitempty"`
	// passwordKey holds the proxy password. Defaults to password.
	// +kubebuilder:default=password
	// +optional
	PasswordKey SecretKey `json:"passwordKey,omitempty"`
}
