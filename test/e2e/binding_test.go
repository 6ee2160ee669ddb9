package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// readyCondition polls until the binding's Ready condition, observed for
// its current generation, has the wanted status and reason.
func (s *suite) waitReady(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *v1alpha1.OAuthClientBinding {
	t.Helper()
	var b v1alpha1.OAuthClientBinding
	eventually(t, 60*time.Second, fmt.Sprintf("binding %s/%s Ready=%s/%s", ns, name, status, reason), func(ctx context.Context) (bool, error) {
		if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil {
			return false, fmt.Errorf("no Ready condition yet\n%s", s.webhookLog())
		}
		if b.Status.ObservedGeneration != b.Generation || c.Status != status || c.Reason != reason {
			return false, fmt.Errorf("Ready=%s reason=%s message=%q observedGeneration=%d generation=%d", c.Status, c.Reason, c.Message, b.Status.ObservedGeneration, b.Generation)
		}
		return true, nil
	})
	return &b
}

func TestBindingBecomesReady(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "ready")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	s.waitReady(t, ns, "tmobile", metav1.ConditionTrue, v1alpha1.ReasonValid)
}

// TestBindingSecretNotFoundThenReady creates the binding before its
// private-key Secret: it reports SecretNotFound naming the Secret, then
// turns Ready once the Secret exists (Secrets are re-read every resync).
func TestBindingSecretNotFoundThenReady(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "late")
	s.createClientSecret(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	b := s.waitReady(t, ns, "tmobile", metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound)
	if c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, keySecretName) {
		t.Errorf("SecretNotFound message %q does not name the missing Secret %q", c.Message, keySecretName)
	}
	s.createKeySecret(t, ns)
	s.waitReady(t, ns, "tmobile", metav1.ConditionTrue, v1alpha1.ReasonValid)
}

// TestBindingKeyMissing: the Secret exists but lacks the referenced key.
func TestBindingKeyMissing(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "key")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, `{"privateKey":{"secretRef":{"key":"absent.pem"}}}`)
	b := s.waitReady(t, ns, "tmobile", metav1.ConditionFalse, v1alpha1.ReasonKeyMissing)
	if c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "absent.pem") {
		t.Errorf("KeyMissing message %q does not name the key", c.Message)
	}
}
