package v1alpha1

// Pod annotations. AnnotationBindings is the user's switch; the other two are
// written by the webhook and read by the controller.
const (
	// AnnotationBindings names, comma-separated, the OAuthClientBindings in
	// the pod's namespace whose credentials the pod wants.
	AnnotationBindings = "oauth.injector.dev/bindings"
	// AnnotationStatus is set to StatusInjected by the webhook; its presence
	// makes a second mutation a no-op (reinvocationPolicy: IfNeeded).
	AnnotationStatus = "oauth.injector.dev/status"
	// StatusInjected is the only value the webhook writes to AnnotationStatus.
	StatusInjected = "injected"
	// AnnotationGenerations records the metadata.generation of every binding
	// the pod was rendered from, e.g. "tmobile=3,opengateway=1", so the
	// controller can count pods running an outdated configuration.
	AnnotationGenerations = "oauth.injector.dev/binding-generations"
)

// Facts about the injected sidecar that other components rely on.
const (
	// SidecarContainerName is the name of the injected native sidecar.
	SidecarContainerName = "oauth-injector"
	// AdminPort serves the sidecar's probes and metrics on the pod IP; no
	// binding and no app container may use it.
	AdminPort = 15020
)

// Condition types and reasons reported in OAuthClientBindingStatus.
const (
	// ConditionReady is True when the binding's spec is valid and every
	// Secret key it references exists and parses.
	ConditionReady = "Ready"

	// ReasonValid: the spec renders and all referenced Secrets are usable.
	ReasonValid = "Valid"
	// ReasonSecretNotFound: a referenced Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonKeyMissing: a referenced Secret lacks a referenced key.
	ReasonKeyMissing = "KeyMissing"
	// ReasonKeyUnparseable: a key exists but its content cannot be used
	// (for example a private key that is not PEM).
	ReasonKeyUnparseable = "KeyUnparseable"
	// ReasonInvalidSpec: the spec passes the CRD schema but cannot be
	// rendered into a valid sidecar configuration.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonNamespaceNotWatched (status Unknown): the controller runs with
	// Secret access limited to a list of namespaces (chart value
	// secretAccess.mode=namespaces) that does not include the binding's, so
	// its Secrets are not checked. Pods are still injected.
	ReasonNamespaceNotWatched = "NamespaceNotWatched"
	// ReasonSecretAccessDenied (status Unknown): the API server refused the
	// controller's read of a referenced Secret (RBAC), so it is not checked.
	ReasonSecretAccessDenied = "SecretAccessDenied"
)
