package webhook

import (
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestRenderJWTBearer: every grant.jwtBearer field reaches the sidecar config,
// defaults are the sidecar's, and with client authentication None the client
// ID (the assertion's iss) is still mounted.
func TestRenderJWTBearer(t *testing.T) {
	a := newCRDAdmitter(t)
	i32 := func(n int32) *int32 { return &n }
	tests := []struct {
		name string
		edit func(*v1alpha1.OAuthClientBinding)
		want config.JWTBearer
	}{
		{"the example", func(*v1alpha1.OAuthClientBinding) {}, config.JWTBearer{
			SubjectHeader: "X-Subscriber", Audience: "https://auth.operator.example", Algorithm: config.AlgES256, KeyID: "injector-2026",
			Lifetime: config.Duration{Duration: 2 * time.Minute}, CacheSize: 5000}},
		{"fixed subject, defaults", func(b *v1alpha1.OAuthClientBinding) {
			b.Spec.Grant.JWTBearer = &v1alpha1.JWTBearerGrant{Subject: "svc-reports"}
		}, config.JWTBearer{Subject: "svc-reports", Lifetime: config.Duration{Duration: config.DefaultJWTBearerLifetime}}},
		{"public client", func(b *v1alpha1.OAuthClientBinding) {
			b.Spec.ClientAuth.Method = v1alpha1.ClientAuthNone
			b.Spec.Grant.JWTBearer = &v1alpha1.JWTBearerGrant{SubjectFrom: &v1alpha1.HeaderSource{Header: "X-User"}, CacheSize: i32(3)}
		}, config.JWTBearer{SubjectHeader: "X-User", Lifetime: config.Duration{Duration: config.DefaultJWTBearerLifetime}, CacheSize: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := loadExample(t, a, filepath.Join("..", "..", "examples", "bindings", "jwt-bearer.yaml")).bindings[0]
			tt.edit(&b)
			cfg, _, _, err := RenderConfig(&corev1.Pod{}, []v1alpha1.OAuthClientBinding{b})
			if err != nil {
				t.Fatal(err)
			}
			cb := cfg.Bindings[0]
			if cb.Grant.Type != config.GrantJWTBearer || cb.Grant.JWTBearer == nil || *cb.Grant.JWTBearer != tt.want {
				t.Fatalf("rendered grant %s %+v, want %+v", cb.Grant.Type, cb.Grant.JWTBearer, tt.want)
			}
			if want := MountRoot + "/" + b.Name + "/" + string(b.Spec.ClientAuth.SecretRef.Name) + "/client_id"; cb.ClientAuth.ClientIDFile != want {
				t.Errorf("clientIDFile = %q, want %q", cb.ClientAuth.ClientIDFile, want)
			}
		})
	}
}
