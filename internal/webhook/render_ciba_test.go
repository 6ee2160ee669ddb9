package webhook

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestRenderCIBAOptions: loginHintFormat and maxPending reach the sidecar
// config, and their defaults are the sidecar's.
func TestRenderCIBAOptions(t *testing.T) {
	a := newCRDAdmitter(t)
	i32 := func(n int32) *int32 { return &n }
	tests := []struct {
		name       string
		edit       func(*v1alpha1.CIBAGrant)
		wantFormat string
		wantMax    int
	}{
		{"defaults", func(g *v1alpha1.CIBAGrant) { g.CacheSize = nil }, config.LoginHintOpenGateway, config.DefaultCIBAMaxPending},
		{"default maxPending follows a small cacheSize", func(g *v1alpha1.CIBAGrant) { g.CacheSize = i32(10) }, config.LoginHintOpenGateway, 10},
		{"Opaque and maxPending", func(g *v1alpha1.CIBAGrant) {
			g.LoginHintFormat, g.MaxPending = v1alpha1.LoginHintOpaque, i32(7)
		}, config.LoginHintOpaque, 7},
		{"OpenGateway", func(g *v1alpha1.CIBAGrant) { g.LoginHintFormat = v1alpha1.LoginHintOpenGateway }, config.LoginHintOpenGateway, config.DefaultCIBAMaxPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := loadExample(t, a, filepath.Join("..", "..", "examples", "bindings", "ciba.yaml")).bindings[0]
			g := b.Spec.Grant.CIBA
			g.LoginHintFormat, g.MaxPending = "", nil // the example spells out the defaults
			tt.edit(g)
			cfg, _, _, err := RenderConfig(&corev1.Pod{}, []v1alpha1.OAuthClientBinding{b})
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Bindings[0].Grant.CIBA
			if got.LoginHintFormat != tt.wantFormat || got.MaxPending != tt.wantMax {
				t.Fatalf("rendered loginHintFormat %q, maxPending %d; want %q, %d", got.LoginHintFormat, got.MaxPending, tt.wantFormat, tt.wantMax)
			}
		})
	}
}
