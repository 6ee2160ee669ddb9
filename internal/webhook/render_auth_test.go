package webhook

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestRenderClientAuthMethods: each CRD method reaches the sidecar config
// under its RFC 7591 name, with exactly the files that method reads.
func TestRenderClientAuthMethods(t *testing.T) {
	const dir = MountRoot + "/a/a-client/"
	tests := []struct {
		method               v1alpha1.ClientAuthMethod
		want                 string
		wantID, wantSecret   string
		needsKey, needsCerts bool
	}{
		{v1alpha1.ClientSecretBasic, config.AuthClientSecretBasic, dir + "client_id", dir + "client_secret", false, false},
		{v1alpha1.ClientSecretPost, config.AuthClientSecretPost, dir + "client_id", dir + "client_secret", false, false},
		{v1alpha1.ClientSecretJWT, config.AuthClientSecretJWT, dir + "client_id", dir + "client_secret", false, false},
		{v1alpha1.PrivateKeyJWT, config.AuthPrivateKeyJWT, dir + "client_id", "", true, false},
		{v1alpha1.TLSClientAuth, config.AuthTLSClientAuth, dir + "client_id", "", false, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.method), func(t *testing.T) {
			b := binding("a", 15001, func(b *v1alpha1.OAuthClientBinding) {
				b.Spec.ClientAuth.Method = tt.method
				b.Spec.ClientAuth.Audience = "https://auth.a.example"
				if tt.needsKey {
					b.Spec.PrivateKey = &v1alpha1.PrivateKey{SecretRef: v1alpha1.PrivateKeySecretRef{Name: "a-key"}}
				}
				if tt.needsCerts {
					b.Spec.ClientAuth.TLSSecretRef = &v1alpha1.TLSSecretRef{Name: "a-tls"}
				}
			})
			cfg, _, _, err := RenderConfig(&corev1.Pod{}, []v1alpha1.OAuthClientBinding{b})
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Bindings[0].ClientAuth
			if got.Method != tt.want || got.ClientIDFile != tt.wantID || got.ClientSecretFile != tt.wantSecret || got.Audience != "https://auth.a.example" {
				t.Fatalf("rendered %+v; want method %s, id %q, secret %q, the audience", got, tt.want, tt.wantID, tt.wantSecret)
			}
		})
	}
}
