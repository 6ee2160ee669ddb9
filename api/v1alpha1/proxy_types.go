package v1alpha1

// EgressProxy routes one destination's connections through an HTTP proxy.
// For an https:// destination the sidecar opens an HTTP CONNECT tunnel and
// runs TLS with the destination inside it: the destination's certificate
// is verified as without a proxy, and a client certificate (TLSClientAuth)
// is presented to the destination, never to the proxy. An http://
// destination (allowInsecureHTTP) is sent to the proxy in absolute form.
//
// +kubebuilder:validation:XValidation:rule="has(self.url) != (has(self.fromEnvironment) && self.fromEnvironment)",message="proxy: set exactly one of url or fromEnvironment: true"
type EgressProxy struct {
	// url is the proxy, http://host[:port]. Credentials do not go in the
	// URL; use credentialsSecretRef.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('http://')",message="proxy.url: must start with http:// (TLS to the proxy itself is not supported; TLS to the destination still runs end to end inside the CONNECT tunnel)"
	// +kubebuilder:validation:XValidation:rule="!self.contains('@')",message="proxy.url: must not embed credentials; use proxy.credentialsSecretRef"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('http://') || self.matches('^http://[^/?#]+/?$')",message="proxy.url: must be http://host[:port] without a path, query or fragment"
	// +optional
	URL string `json:"url,omitempty"`

	// fromEnvironment chooses the proxy per destination from the
	// sidecar's HTTPS_PROXY, HTTP_PROXY and NO_PROXY, with Go's rules:
	// https:// destinations use HTTPS_PROXY, loopback destinations are
	// never proxied. The webhook sets these variables on the sidecar only
	// from the chart's sidecar.proxyEnv, and only in pods with a binding
	// that sets fromEnvironment; it never copies them from the app.
	// +optional
	FromEnvironment bool `json:"fromEnvironment,omitempty"`

	// credentialsSecretRef names a Secret with the proxy's Basic
	// credentials, sent to the proxy in Proxy-Authorization. With
	// fromEnvironment they apply to whichever proxy the environment names
	// and replace any user:password in it.
	// +optional
	CredentialsSecretRef *ProxyCredentialsSecretRef `json:"credentialsSecretRef,omitempty"`
}
