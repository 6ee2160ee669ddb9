package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"sync"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// Names of the Secrets the TAAP fixture binding references.
const (
	clientSecretName = "tmobile-client"
	keySecretName    = "tmobile-key"
	fixtureClientID  = "e2e-client"
	// fixtureClientSecret is a test-only value for the TAAP simulator.
	fixtureClientSecret = "e2e-secret-not-real"
)

// taapSpec is a complete TAAP binding (client credentials, Basic client
// auth, PoP on token and resource calls, ID token forwarded) as JSON, the
// base that CEL cases mutate with a merge patch.
func taapSpec(listenPort int, upstream, tokenURL string) map[string]any {
	return map[string]any{
		"listenPort":    listenPort,
		"upstream":      map[string]any{"url": upstream},
		"tokenEndpoint": map[string]any{"url": tokenURL},
		"grant":         map[string]any{"type": "ClientCredentials"},
		"clientAuth": map[string]any{
			"method":    "ClientSecretBasic",
			"secretRef": map[string]any{"name": clientSecretName},
		},
		"privateKey": map[string]any{"secretRef": map[string]any{"name": keySecretName}},
		"proofOfPossession": map[string]any{
			"type": "TAAP",
			"taap": map[string]any{"header": "X-Authorization", "onTokenEndpoint": true},
		},
		"tokenPlacement": map[string]any{"in": "Header", "idTokenHeader": "X-Auth-Originator"},
	}
}

// bindingObject wraps a spec as an unstructured OAuthClientBinding, so
// specs the Go types could not even express (an unknown grant type) still
// reach the API server.
func bindingObject(ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind("OAuthClientBinding")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// mergePatched applies an RFC 7386 merge patch (null deletes a field).
func mergePatched(t *testing.T, base map[string]any, patch string) map[string]any {
	t.Helper()
	doc, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonpatch.MergePatch(doc, []byte(patch))
	if err != nil {
		t.Fatalf("merge patch %s: %v", patch, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
	keyPEM  []byte
)

// fixtureKey is one RSA key per test binary: generating 2048-bit keys is
// slow on a loaded machine and nothing depends on keys differing.
func fixtureKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		testKey, keyPEM = k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	})
	return testKey, keyPEM
}

// createFixtureSecrets creates the client-credential and private-key
// Secrets the TAAP fixture references.
func (s *suite) createFixtureSecrets(t *testing.T, ns string) {
	t.Helper()
	s.createClientSecret(t, ns)
	s.createKeySecret(t, ns)
}

func (s *suite) createClientSecret(t *testing.T, ns string) {
	t.Helper()
	s.create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: clientSecretName},
		StringData: map[string]string{"client_id": fixtureClientID, "client_secret": fixtureClientSecret},
	})
}

func (s *suite) createKeySecret(t *testing.T, ns string) {
	t.Helper()
	_, pemBytes := fixtureKey(t)
	s.create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: keySecretName},
		Data:       map[string][]byte{"private.pem": pemBytes},
	})
}

func (s *suite) create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := s.client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s/%s: %v", obj, obj.GetNamespace(), obj.GetName(), err)
	}
}

// createBinding creates a TAAP binding with the given listen port.
func (s *suite) createBinding(t *testing.T, ns, name string, port int, patch string) {
	t.Helper()
	spec := taapSpec(port, "https://api.partner.example", "https://auth.partner.example/oauth2/v6/tokens")
	if patch != "" {
		spec = mergePatched(t, spec, patch)
	}
	s.create(t, bindingObject(ns, name, spec))
}

// annotatedPod is a minimal pod asking for bindings. There is no kubelet,
// so the image is never pulled.
func annotatedPod(ns, name, bindings string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "registry.example/app:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
	if bindings != "" {
		p.Annotations = map[string]string{v1alpha1.AnnotationBindings: bindings}
	}
	return p
}

// sidecarOf returns the injected sidecar, or nil.
func sidecarOf(p *corev1.Pod) *corev1.Container {
	for i := range p.Spec.InitContainers {
		if p.Spec.InitContainers[i].Name == v1alpha1.SidecarContainerName {
			return &p.Spec.InitContainers[i]
		}
	}
	return nil
}

func countSidecars(p *corev1.Pod) int {
	n := 0
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			if c.Name == v1alpha1.SidecarContainerName {
				n++
			}
		}
	}
	return n
}
