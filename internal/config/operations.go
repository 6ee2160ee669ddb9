package config

// Operation-specific tokens (docs/operations.md): a binding may route each
// request, by method and path, to an operation that names the scopes, the
// CIBA purpose and the provider of the token it carries, so that no request
// carries a token with more scopes than it needs.

// Unmatched policies.
const (
	UnmatchedAllow = "allow"
	UnmatchedDeny  = "deny"
)

// MaxOperations and MaxProviders bound a binding's lists; the CRD has the
// same bounds. Each distinct (provider, scopes, purpose) is a token cache.
const (
	MaxOperations = 64
	MaxProviders  = 8
)

// Operation is one kind of request of the partner API.
type Operation struct {
	// Name identifies the operation in errors and logs.
	Name string `json:"name"`
	// Methods are the HTTP methods it covers (upper case); empty: any.
	Methods []string `json:"methods,omitempty"`
	// Path is the path pattern: "/v1/users/{id}", "/v1/files/**".
	Path string `json:"path"`
	// Scopes replace the provider's grant.scopes for this operation's
	// token; empty keeps them.
	Scopes []string `json:"scopes,omitempty"`
	// Purpose replaces grant.ciba.purpose for this operation's token (CIBA
	// bindings only); empty keeps it.
	Purpose string `json:"purpose,omitempty"`
	// Provider names an entry of the binding's Providers; empty is the
	// binding's own tokenEndpoint, clientAuth and grant.
	Provider string `json:"provider,omitempty"`
}

// Provider is a further token endpoint with its own client and grant. It
// shares the binding's privateKey (for private_key_jwt and jwt_bearer), its
// proof-of-possession settings and its refresh tuning.
type Provider struct {
	Name          string         `json:"name"`
	TokenEndpoint *TokenEndpoint `json:"tokenEndpoint"`
	ClientAuth    ClientAuth     `json:"clientAuth"`
	Grant         Grant          `json:"grant"`
}

// ProviderGrants are the grants a provider may use: each gives one token
// for the client, because the request's subject header belongs to the
// binding's own grant.
var ProviderGrants = []string{GrantClientCredentials, GrantPassword, GrantRefreshToken, GrantJWTBearer}

// PerSubject reports whether the binding's own grant gives one token per
// subject named by a request header (CIBA, a minted token exchange, JWT
// bearer with subjectHeader) rather than one for the client.
func (b *Binding) PerSubject() bool {
	g := b.Grant
	return g.CIBA != nil ||
		(g.TokenExchange != nil && g.TokenExchange.SubjectToken.Mint != nil) ||
		(g.JWTBearer != nil && g.JWTBearer.SubjectHeader != "")
}

// Provider returns the provider with the given name.
func (b *Binding) Provider(name string) (*Provider, bool) {
	for i := range b.Providers {
		if b.Providers[i].Name == name {
			return &b.Providers[i], true
		}
	}
	return nil, false
}

// ProviderBinding is the binding as one provider sees it: the binding with
// the provider's token endpoint, client authentication and grant in place
// of its own. Validation checks a provider through it, so a provider obeys
// exactly the rules of a binding's own token source.
func (b *Binding) ProviderBinding(p *Provider) Binding {
	pb := *b
	pb.TokenEndpoint, pb.ClientAuth, pb.Grant = p.TokenEndpoint, p.ClientAuth, p.Grant
	pb.Operations, pb.Providers, pb.Unmatched = nil, nil, ""
	return pb
}
