package oidctest

// CodeRedirectURI is the redirect URI the authorization code clients are
// registered with. They are native clients (RFC 8252 §7.3): the provider
// accepts any port on the loopback address, so a consent tool may listen on
// a random one.
const CodeRedirectURI = "http://127.0.0.1/callback"

// addCodeClients registers the authorization code clients and turns the
// provider's interaction pages on.
func addCodeClients(s *Server, cfg *serverConfig) {
	s.CodeClient = Client{ID: "code-client", Secret: randomSecret("c+o:d e%"), AuthMethod: AuthBasic}
	s.CodePublicClient = Client{ID: "code-public-client", AuthMethod: AuthNone}
	s.CodeDPoPClient = Client{ID: "code-dpop-client", Secret: randomSecret("d+p:o p%"), AuthMethod: AuthBasic}
	for _, c := range []Client{s.CodeClient, s.CodePublicClient, s.CodeDPoPClient} {
		cfg.Clients = append(cfg.Clients, clientConfig{
			ClientID: c.ID, ClientSecret: c.Secret, AuthMethod: c.AuthMethod,
			ApplicationType:       "native",
			GrantTypes:            []string{"authorization_code", "refresh_token"},
			ResponseTypes:         []string{"code"},
			RedirectURIs:          []string{CodeRedirectURI},
			DPoPBoundAccessTokens: c == s.CodeDPoPClient,
		})
	}
	cfg.DevInteractions = true
}
