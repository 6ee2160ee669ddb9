// Package v1alpha1 holds the OAuthClientBinding API (group
// oauth.injector.dev): the user-facing description of how a pod's sidecar
// obtains and presents OAuth credentials for one partner API. Validation that
// can be expressed on the CRD (enums, bounds, CEL rules) lives here as
// kubebuilder markers so a bad binding is refused at `kubectl apply` time
// with a message naming the field.
//
// +kubebuilder:object:generate=true
// +groupName=oauth.injector.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "oauth.injector.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the package's types with a runtime.Scheme.
	// It uses apimachinery rather than controller-runtime's helper so the
	// API package stays importable with apimachinery alone.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &OAuthClientBinding{}, &OAuthClientBindingList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
