package webhook

import (
	"slices"
	"strings"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// operations renders spec.operations, spec.unmatched and spec.providers. A
// provider's Secrets (client credentials, password, refresh token, CA) are
// mounted like the binding's own, under the binding's directory.
func (r *renderer) operations(s *v1alpha1.OAuthClientBindingSpec, cb *config.Binding) {
	for _, o := range s.Operations {
		cb.Operations = append(cb.Operations, config.Operation{
			Name:     o.Name,
			Methods:  slices.Clone(o.Methods),
			Path:     o.Path,
			Scopes:   slices.Clone(o.Scopes),
			Purpose:  o.Purpose,
			Provider: o.Provider,
		})
	}
	// Allow/Deny become allow/deny; anything else is passed on for
	// config.Validate to name.
	cb.Unmatched = strings.ToLower(string(s.Unmatched))
	for i := range s.Providers {
		p := &s.Providers[i]
		cb.Providers = append(cb.Providers, config.Provider{
			Name:          p.Name,
			TokenEndpoint: r.tokenEndpoint(&p.TokenEndpoint),
			ClientAuth:    r.clientAuth(&p.ClientAuth),
			Grant:         r.grant(&p.Grant),
		})
	}
}
