package webhook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// ProxyEnv is the proxy environment a cluster admin gives the sidecars
// (chart value sidecar.proxyEnv). It is set only on sidecars of pods with
// a binding whose proxy says fromEnvironment: elsewhere it would be inert,
// and the webhook never copies proxy variables from the app's containers,
// whose proxy is the app's business, not the credential sidecar's.
type ProxyEnv struct {
	HTTPSProxy, HTTPProxy, NoProxy string
}

// Validate refuses a proxy the sidecar cannot use, and credentials in a
// proxy URL: they would sit in every pod spec. Proxy credentials belong in
// a binding's proxy.credentialsSecretRef.
func (p ProxyEnv) Validate() error {
	for _, v := range []struct{ flag, value string }{
		{"--sidecar-https-proxy", p.HTTPSProxy},
		{"--sidecar-http-proxy", p.HTTPProxy},
	} {
		if v.value == "" {
			continue
		}
		if err := config.CheckProxyURL(v.value); err != nil {
			return fmt.Errorf("%s: %w", v.flag, err)
		}
	}
	return nil
}

// vars returns the variables to set on a sidecar whose config cfg is.
func (p ProxyEnv) vars(cfg *config.Config) []corev1.EnvVar {
	if !usesEnvironmentProxy(cfg) {
		return nil
	}
	var out []corev1.EnvVar
	for _, v := range []struct{ name, value string }{
		{"HTTPS_PROXY", p.HTTPSProxy},
		{"HTTP_PROXY", p.HTTPProxy},
		{"NO_PROXY", p.NoProxy},
	} {
		if v.value != "" {
			out = append(out, corev1.EnvVar{Name: v.name, Value: v.value})
		}
	}
	return out
}

func usesEnvironmentProxy(cfg *config.Config) bool {
	for i := range cfg.Bindings {
		for _, px := range cfg.Bindings[i].ProxySections() {
			if px.Proxy.FromEnvironment {
				return true
			}
		}
	}
	return false
}
