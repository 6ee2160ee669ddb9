package webhook

import (
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestCRDBoundsMatchTheSidecar ties the CRD's list and length bounds to the
// sidecar config's: the webhook renders what the API server admitted, and a
// CRD raised alone would admit bindings the sidecar then refuses.
func TestCRDBoundsMatchTheSidecar(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "oauth.injector.dev_oauthclientbindings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	ops := spec.Properties["operations"]
	for _, tc := range []struct {
		name string
		crd  *int64
		want int
	}{
		{"spec.operations maxItems", ops.MaxItems, config.MaxOperations},
		{"spec.providers maxItems", spec.Properties["providers"].MaxItems, config.MaxProviders},
		{"spec.operations[].purpose maxLength", ops.Items.Schema.Properties["purpose"].MaxLength, config.MaxPurposeBytes},
	} {
		if tc.crd == nil {
			t.Errorf("%s: not set in the CRD, sidecar config %d", tc.name, tc.want)
		} else if *tc.crd != int64(tc.want) {
			t.Errorf("%s: CRD %d, sidecar config %d", tc.name, *tc.crd, tc.want)
		}
	}
}
