package webhook

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// crdAdmitter defaults and validates OAuthClientBinding objects with the
// generated CRD's schema and CEL rules, as kube-apiserver would, so the
// examples are checked against the real CRD without an API server.
type crdAdmitter struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

func newCRDAdmitter(t testing.TB) *crdAdmitter {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "oauth.injector.dev_oauthclientbindings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	apiextensionsinstall.Install(scheme)
	var v1crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &v1crd); err != nil {
		t.Fatal(err)
	}
	scheme.Default(&v1crd)
	var crd apiextensions.CustomResourceDefinition
	if err := scheme.Convert(&v1crd, &crd, nil); err != nil {
		t.Fatal(err)
	}
	props := crd.Spec.Validation.OpenAPIV3Schema
	ss, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		t.Fatal(err)
	}
	return &crdAdmitter{structural: ss, schema: sv, cel: cel.NewValidator(ss, true, celconfig.PerCallLimit)}
}

// admit defaults and validates a binding given as JSON and decodes it.
func (a *crdAdmitter) admit(t testing.TB, j []byte) v1alpha1.OAuthClientBinding {
	t.Helper()
	var obj map[string]any
	if err := utiljson.Unmarshal(j, &obj); err != nil {
		t.Fatal(err)
	}
	structuraldefaulting.Default(obj, a.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, a.schema)
	celErrs, _ := a.cel.Validate(context.Background(), nil, a.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	if errs = append(errs, celErrs...); len(errs) > 0 {
		t.Fatalf("the API server would reject binding: %v", errs.ToAggregate())
	}
	defaulted, err := utiljson.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var b v1alpha1.OAuthClientBinding
	if err := yaml.UnmarshalStrict(defaulted, &b); err != nil {
		t.Fatalf("decode defaulted binding: %v", err)
	}
	return b
}

// exampleFile holds the objects of one examples/bindings file.
type exampleFile struct {
	bindings []v1alpha1.OAuthClientBinding
	secrets  map[string]corev1.Secret
}

func loadExample(t testing.TB, a *crdAdmitter, path string) exampleFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := exampleFile{secrets: map[string]corev1.Secret{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if s := strings.TrimSpace(string(j)); s == "null" || s == "" {
			continue
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := utiljson.Unmarshal(j, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "OAuthClientBinding":
			out.bindings = append(out.bindings, a.admit(t, j))
		case "Secret":
			var s corev1.Secret
			if err := yaml.UnmarshalStrict(j, &s); err != nil {
				t.Fatalf("%s: secret: %v", path, err)
			}
			out.secrets[s.Name] = s
		default:
			t.Fatalf("%s: unexpected kind %q", path, meta.Kind)
		}
	}
	return out
}
