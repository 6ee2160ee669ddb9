package webhook

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestRenderOperations: what CEL cannot check about operations (two
// equally specific patterns that match one request, a provider grant's
// missing key) makes the binding invalid for the webhook and the
// controller, with a message naming the fields; a valid one renders
// unmatched and the CIBA purposes for the sidecar.
func TestRenderOperations(t *testing.T) {
	a := newCRDAdmitter(t)
	load := func(name string) v1alpha1.OAuthClientBinding {
		return loadExample(t, a, filepath.Join("..", "..", "examples", "bindings", name)).bindings[0]
	}
	t.Run("rendered", func(t *testing.T) {
		b := load("operations-ciba.yaml")
		cfg, _, _, err := RenderConfig(&corev1.Pod{}, []v1alpha1.OAuthClientBinding{b})
		if err != nil {
			t.Fatal(err)
		}
		cb := cfg.Bindings[0]
		if cb.Unmatched != config.UnmatchedDeny || len(cb.Operations) != 2 || cb.Operations[1].Purpose != "dpv:FraudPreventionAndDetection#device-location" {
			t.Fatalf("rendered unmatched %q, operations %+v", cb.Unmatched, cb.Operations)
		}
	})
	tests := []struct {
		name string
		edit func(*v1alpha1.OAuthClientBindingSpec)
		want []string
	}{
		{"equally specific operations", func(s *v1alpha1.OAuthClientBindingSpec) {
			s.Operations = append(s.Operations, v1alpha1.Operation{Name: "order-by-number", Methods: []string{"GET"}, Path: "/v1/orders/{number}"})
		}, []string{`binding "orders"`, `bindings[0].operations[5]: "order-by-number" and operations[1] "read-order" are equally specific and both match GET /v1/orders/x`}},
		{"provider password grant without its Secret", func(s *v1alpha1.OAuthClientBindingSpec) {
			s.Providers[0].Grant = v1alpha1.Grant{Type: v1alpha1.GrantPassword}
		}, []string{"bindings[0].providers[0].grant.password: required when grant.type is \"password\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := load("operations.yaml")
			tt.edit(&b.Spec)
			err := ValidateBinding(&b)
			var d *Denial
			if !errors.As(err, &d) {
				t.Fatalf("want a Denial, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(d.Message, w) {
					t.Errorf("message %q\ndoes not contain %q", d.Message, w)
				}
			}
		})
	}
}
