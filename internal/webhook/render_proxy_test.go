package webhook

import (
	"path"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestRenderProxy: each destination's proxy reaches the sidecar config, its
// credentials Secret is mounted with exactly the two keys the config points
// at, and the chart's proxy environment is set only on sidecars that have a
// fromEnvironment binding.
func TestRenderProxy(t *testing.T) {
	dir := path.Join(MountRoot, "a", "corp-proxy")
	opts := testOpts
	opts.ProxyEnv = ProxyEnv{HTTPSProxy: "http://proxy.corp.example:3128", NoProxy: ".svc,.cluster.local"}
	tests := []struct {
		name          string
		upstream, tok *v1alpha1.EgressProxy
		wantUp        *config.Proxy
		wantTok       *config.Proxy
		wantKeys      []string // items of the corp-proxy volume
		wantEnv       []corev1.EnvVar
	}{
		{name: "no proxy"},
		{
			name:     "upstream url with default keys",
			upstream: &v1alpha1.EgressProxy{URL: "http://proxy.corp.example:3128", CredentialsSecretRef: &v1alpha1.ProxyCredentialsSecretRef{Name: "corp-proxy"}},
			wantUp:   &config.Proxy{URL: "http://proxy.corp.example:3128", UsernameFile: dir + "/username", PasswordFile: dir + "/password"},
			wantKeys: []string{"password", "username"},
		},
		{
			name:     "token endpoint url with custom keys",
			tok:      &v1alpha1.EgressProxy{URL: "http://10.0.0.1:8080", CredentialsSecretRef: &v1alpha1.ProxyCredentialsSecretRef{Name: "corp-proxy", UsernameKey: "user", PasswordKey: "pass"}},
			wantTok:  &config.Proxy{URL: "http://10.0.0.1:8080", UsernameFile: dir + "/user", PasswordFile: dir + "/pass"},
			wantKeys: []string{"pass", "user"},
		},
		{
			name:     "from environment",
			upstream: &v1alpha1.EgressProxy{FromEnvironment: true},
			tok:      &v1alpha1.EgressProxy{URL: "http://proxy.corp.example:3128"},
			wantUp:   &config.Proxy{FromEnvironment: true},
			wantTok:  &config.Proxy{URL: "http://proxy.corp.example:3128"},
			wantEnv:  []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://proxy.corp.example:3128"}, {Name: "NO_PROXY", Value: ".svc,.cluster.local"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := binding("a", 15001, func(b *v1alpha1.OAuthClientBinding) {
				b.Spec.Upstream.Proxy, b.Spec.TokenEndpoint.Proxy = tt.upstream, tt.tok
			})
			got, err := Mutate(testPod("a"), []v1alpha1.OAuthClientBinding{b}, opts)
			if err != nil {
				t.Fatal(err)
			}
			cb := sidecarConfig(t, got).Bindings[0]
			if !reflect.DeepEqual(cb.Upstream.Proxy, tt.wantUp) || !reflect.DeepEqual(cb.TokenEndpoint.Proxy, tt.wantTok) {
				t.Errorf("rendered upstream.proxy %+v, tokenEndpoint.proxy %+v; want %+v, %+v", cb.Upstream.Proxy, cb.TokenEndpoint.Proxy, tt.wantUp, tt.wantTok)
			}
			var keys []string
			for _, v := range got.Spec.Volumes {
				if v.Secret != nil && v.Secret.SecretName == "corp-proxy" {
					for _, it := range v.Secret.Items {
						keys = append(keys, it.Key)
					}
				}
			}
			if !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Errorf("corp-proxy volume keys %v, want %v", keys, tt.wantKeys)
			}
			var proxyEnv []corev1.EnvVar
			for _, e := range got.Spec.InitContainers[0].Env {
				switch e.Name {
				case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy":
					proxyEnv = append(proxyEnv, e)
				}
			}
			if !reflect.DeepEqual(proxyEnv, tt.wantEnv) {
				t.Errorf("sidecar proxy env %v, want %v", proxyEnv, tt.wantEnv)
			}
		})
	}
}

// TestAppProxyEnvNotCopied: an app container's own proxy variables never
// reach the sidecar, even for a fromEnvironment binding.
func TestAppProxyEnvNotCopied(t *testing.T) {
	b := binding("a", 15001, func(b *v1alpha1.OAuthClientBinding) {
		b.Spec.Upstream.Proxy = &v1alpha1.EgressProxy{FromEnvironment: true}
	})
	pod := testPod("a", func(p *corev1.Pod) {
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://app-proxy:3128"}}
	})
	got, err := Mutate(pod, []v1alpha1.OAuthClientBinding{b}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if v := env(got.Spec.InitContainers[0], "HTTPS_PROXY"); v != "" {
		t.Errorf("sidecar HTTPS_PROXY = %q; want none without sidecar.proxyEnv", v)
	}
}

// TestRenderProviderProxy: a provider's token endpoint proxy is rendered
// like the binding's own, its credentials Secret is mounted, and a
// provider alone asking for fromEnvironment gets the chart's proxy
// environment on the sidecar.
func TestRenderProviderProxy(t *testing.T) {
	opts := testOpts
	opts.ProxyEnv = ProxyEnv{HTTPSProxy: "http://proxy.corp.example:3128"}
	b := binding("a", 15001, func(b *v1alpha1.OAuthClientBinding) {
		b.Spec.Providers = []v1alpha1.TokenProvider{{
			Name: "analytics",
			TokenEndpoint: v1alpha1.TokenEndpoint{URL: "https://auth.analytics.example/token", Method: "POST",
				Proxy: &v1alpha1.EgressProxy{FromEnvironment: true, CredentialsSecretRef: &v1alpha1.ProxyCredentialsSecretRef{Name: "analytics-proxy"}}},
			ClientAuth: v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretPost, SecretRef: &v1alpha1.ClientSecretRef{Name: "analytics-client"}},
			Grant:      v1alpha1.Grant{Type: v1alpha1.GrantClientCredentials, Scopes: []string{"reports:read"}},
		}}
		b.Spec.Operations = []v1alpha1.Operation{{Name: "reports", Path: "/v1/reports/**", Provider: "analytics"}}
	})
	got, err := Mutate(testPod("a"), []v1alpha1.OAuthClientBinding{b}, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := path.Join(MountRoot, "a", "analytics-proxy")
	cb := sidecarConfig(t, got).Bindings[0]
	want := &config.Proxy{FromEnvironment: true, UsernameFile: dir + "/username", PasswordFile: dir + "/password"}
	if len(cb.Providers) != 1 || !reflect.DeepEqual(cb.Providers[0].TokenEndpoint.Proxy, want) {
		t.Fatalf("rendered providers %+v; want providers[0].tokenEndpoint.proxy %+v", cb.Providers, want)
	}
	if cb.TokenEndpoint.Proxy != nil || cb.Upstream.Proxy != nil {
		t.Errorf("the provider's proxy leaked to the binding's own destinations: %+v, %+v", cb.Upstream.Proxy, cb.TokenEndpoint.Proxy)
	}
	var keys []string
	for _, v := range got.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "analytics-proxy" {
			for _, it := range v.Secret.Items {
				keys = append(keys, it.Key)
			}
		}
	}
	if !reflect.DeepEqual(keys, []string{"password", "username"}) {
		t.Errorf("analytics-proxy volume keys %v, want [password username]", keys)
	}
	if v := env(got.Spec.InitContainers[0], "HTTPS_PROXY"); v != "http://proxy.corp.example:3128" {
		t.Errorf("sidecar HTTPS_PROXY = %q; want the chart's proxy for the provider's fromEnvironment", v)
	}
}
