package config

import (
	"strings"
	"testing"
)

type jsonMap = map[string]any

func op(name, path string, extra jsonMap) jsonMap {
	o := jsonMap{"name": name, "path": path}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// secondProvider is a valid client_credentials provider.
func secondProvider(name string) jsonMap {
	return jsonMap{
		"name":          name,
		"tokenEndpoint": jsonMap{"url": "https://auth.other.example/token"},
		"clientAuth":    jsonMap{"method": "client_secret_post", "clientIDFile": "/s/p/id", "clientSecretFile": "/s/p/secret"},
		"grant":         jsonMap{"type": "client_credentials", "scopes": []any{"reports"}},
	}
}

func ciba(b jsonMap, purpose string) {
	delete(b, "pop")
	c := jsonMap{"authorizeURL": "https://auth.example/bc"}
	if purpose != "" {
		c["purpose"] = purpose
	}
	b["grant"] = jsonMap{"type": "ciba", "ciba": c}
}

func TestOperationsValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(b, r map[string]any)
		want string // "" = valid
	}{
		{"operations with scopes and providers", func(b, r map[string]any) {
			b["operations"] = []any{
				op("read", "/v1/items/{id}", jsonMap{"methods": []any{"GET", "HEAD"}, "scopes": []any{"items:read"}}),
				op("write", "/v1/items/{id}", jsonMap{"methods": []any{"PUT", "DELETE"}, "scopes": []any{"items:write"}}),
				op("reports", "/v1/reports/**", jsonMap{"provider": "analytics"}),
			}
			b["unmatched"] = "deny"
			b["providers"] = []any{secondProvider("analytics")}
		}, ""},
		{"unknown unmatched", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", nil)}
			b["unmatched"] = "reject"
		}, `bindings[0].unmatched: must be allow or deny, got "reject"`},
		{"deny without operations", func(b, r map[string]any) { b["unmatched"] = "deny" },
			"bindings[0].unmatched: deny needs operations"},
		{"bad pattern", func(b, r map[string]any) { b["operations"] = []any{op("a", "/a/**/b", nil)} },
			`bindings[0].operations[0].path: "**" may only be the last segment`},
		{"relative pattern", func(b, r map[string]any) { b["operations"] = []any{op("a", "a/b", nil)} },
			`bindings[0].operations[0].path: must start with "/"`},
		{"bad method", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", jsonMap{"methods": []any{"get"}})}
		}, `bindings[0].operations[0].methods[0]: must be an upper-case HTTP method such as GET, got "get"`},
		{"method twice", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", jsonMap{"methods": []any{"GET", "GET"}})}
		}, `bindings[0].operations[0].methods[1]: GET is listed twice`},
		{"bad operation name", func(b, r map[string]any) { b["operations"] = []any{op("Read_All", "/a", nil)} },
			`bindings[0].operations[0].name: must be a DNS label`},
		{"duplicate operation name", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", nil), op("a", "/b", nil)}
		}, `bindings[0].operations[1].name: duplicates operations[0].name "a"`},
		{"bad operation scope", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", jsonMap{"scopes": []any{"a b"}})}
		}, `bindings[0].operations[0].scopes[0]: must be a non-empty scope token`},
		{"equally specific overlap", func(b, r map[string]any) {
			b["operations"] = []any{
				op("by-id", "/v1/users/{id}", jsonMap{"scopes": []any{"a"}}),
				op("other", "/v1/users/me", nil),
				op("by-name", "/v1/users/{name}", jsonMap{"scopes": []any{"b"}}),
			}
		}, `bindings[0].operations[2]: "by-name" and operations[0] "by-id" are equally specific and both match any method /v1/users/x`},
		{"overlapping methods", func(b, r map[string]any) {
			b["operations"] = []any{
				op("a", "/v1/{id}", jsonMap{"methods": []any{"GET", "POST"}}),
				op("b", "/v1/{id}", jsonMap{"methods": []any{"POST"}}),
			}
		}, `bindings[0].operations[1]: "b" and operations[0] "a" are equally specific and both match POST /v1/x`},
		{"unknown provider", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", jsonMap{"provider": "analytcs"})}
			b["providers"] = []any{secondProvider("analytics")}
		}, `bindings[0].operations[0].provider: names no entry of providers (have "analytics")`},
		{"provider without providers", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", jsonMap{"provider": "x"})}
		}, `bindings[0].operations[0].provider: names no entry of providers (there are none)`},
		{"purpose outside CIBA", func(b, r map[string]any) {
			b["operations"] = []any{op("a", "/a", jsonMap{"purpose": "dpv:X#y"})}
		}, `bindings[0].operations[0].purpose: only for a CIBA binding`},
		{"operations on a signing-only binding", func(b, r map[string]any) {
			delete(b, "pop")
			delete(b, "tokenEndpoint")
			b["grant"] = jsonMap{"type": "none"}
			b["oauth1"] = jsonMap{"signatureMethod": "HMAC-SHA1", "consumerKeyFile": "/s/ck", "consumerSecretFile": "/s/cs"}
			b["operations"] = []any{op("a", "/a", nil)}
		}, `bindings[0].operations: grant.type none has no token to choose`},
		{"provider needs a token endpoint", func(b, r map[string]any) {
			p := secondProvider("p")
			delete(p, "tokenEndpoint")
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].tokenEndpoint: required for grant "client_credentials"`},
		{"provider client auth", func(b, r map[string]any) {
			p := secondProvider("p")
			p["clientAuth"] = jsonMap{"method": "client_secret_basic", "clientIDFile": "/s/p/id"}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].clientAuth.clientSecretFile: required`},
		{"provider mTLS", func(b, r map[string]any) {
			p := secondProvider("p")
			p["clientAuth"] = jsonMap{"method": "tls_client_auth", "clientIDFile": "/s/p/id", "tlsCertFile": "/s/p/crt", "tlsKeyFile": "/s/p/key"}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].clientAuth.method: tls_client_auth is only supported for the binding's own clientAuth`},
		{"provider CIBA", func(b, r map[string]any) {
			p := secondProvider("p")
			p["grant"] = jsonMap{"type": "ciba", "scopes": []any{"x"}, "ciba": jsonMap{"authorizeURL": "https://auth.other.example/bc"}}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].grant.type: must be one of client_credentials, password, refresh_token, jwt_bearer`},
		{"provider password files", func(b, r map[string]any) {
			p := secondProvider("p")
			p["grant"] = jsonMap{"type": "password", "password": jsonMap{"usernameFile": "/s/p/user"}}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].grant.password.passwordFile: required`},
		{"provider JWT bearer per request", func(b, r map[string]any) {
			p := secondProvider("p")
			p["grant"] = jsonMap{"type": "jwt_bearer", "jwtBearer": jsonMap{"subjectHeader": "X-User"}}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].grant.jwtBearer.subjectHeader: a provider's JWT bearer grant has a fixed subject`},
		{"provider cleartext names the binding's switch", func(b, r map[string]any) {
			p := secondProvider("p")
			p["tokenEndpoint"] = jsonMap{"url": "http://auth.other.example/token"}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].tokenEndpoint.url: http:// sends credentials in cleartext; use https:// or set bindings[0].allowInsecureHTTP: true`},
		{"provider proxy checked like the binding's", func(b, r map[string]any) {
			p := secondProvider("p")
			p["tokenEndpoint"] = jsonMap{"url": "https://auth.other.example/token", "proxy": jsonMap{"url": "https://proxy.corp.example"}}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].tokenEndpoint.proxy.url: https:// proxies (TLS to the proxy itself) are not supported`},
		{"provider proxy credentials together", func(b, r map[string]any) {
			p := secondProvider("p")
			p["tokenEndpoint"] = jsonMap{"url": "https://auth.other.example/token", "proxy": jsonMap{"fromEnvironment": true, "usernameFile": "/s/px/u"}}
			b["providers"] = []any{p}
		}, `bindings[0].providers[0].tokenEndpoint.proxy: usernameFile and passwordFile are set together or not at all`},
		{"provider through a proxy", func(b, r map[string]any) {
			p := secondProvider("p")
			p["tokenEndpoint"] = jsonMap{"url": "https://auth.other.example/token", "proxy": jsonMap{"url": "http://proxy.corp.example:3128", "usernameFile": "/s/px/u", "passwordFile": "/s/px/p"}}
			b["providers"] = []any{p}
		}, ""},
		{"duplicate provider", func(b, r map[string]any) {
			b["providers"] = []any{secondProvider("p"), secondProvider("p")}
		}, `bindings[0].providers[1].name: duplicates providers[0].name "p"`},
		{"providers on a per-subscriber binding", func(b, r map[string]any) {
			ciba(b, "dpv:FraudPreventionAndDetection#sim-swap")
			b["providers"] = []any{secondProvider("p")}
		}, `bindings[0].providers: not supported when the binding's grant takes its subject from each request (ciba)`},
		{"CIBA operations with purposes", func(b, r map[string]any) {
			ciba(b, "")
			b["operations"] = []any{
				op("sim-swap", "/sim-swap/**", jsonMap{"purpose": "dpv:FraudPreventionAndDetection#sim-swap"}),
				op("location", "/location/**", jsonMap{"purpose": "dpv:FraudPreventionAndDetection#device-location"}),
			}
			b["unmatched"] = "deny"
		}, ""},
		{"CIBA operations leave unmatched requests without a purpose", func(b, r map[string]any) {
			ciba(b, "")
			b["operations"] = []any{op("sim-swap", "/sim-swap/**", jsonMap{"purpose": "dpv:FraudPreventionAndDetection#sim-swap"})}
		}, `bindings[0].grant.ciba.purpose: a purpose (dpv:<purpose>#<scope>) or grant.scopes is required (or, with unmatched: deny, one on every operation)`},
		{"CIBA operation without a purpose", func(b, r map[string]any) {
			ciba(b, "")
			b["operations"] = []any{op("sim-swap", "/sim-swap/**", jsonMap{"purpose": "dpv:X#sim-swap"}), op("other", "/other", nil)}
			b["unmatched"] = "deny"
		}, `bindings[0].grant.ciba.purpose: a purpose`},
		{"too long purpose", func(b, r map[string]any) {
			ciba(b, "dpv:X#y")
			b["operations"] = []any{op("a", "/a", jsonMap{"purpose": strings.Repeat("p", MaxPurposeBytes+1)})}
		}, `bindings[0].operations[0].purpose: longer than 512 bytes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(mutate(t, tc.edit))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant substring %q", err, tc.want)
			}
		})
	}
}

func TestOperationsDefaults(t *testing.T) {
	c, err := Parse(mutate(t, func(b, r map[string]any) {
		b["operations"] = []any{op("a", "/a", jsonMap{"provider": "p"})}
		p := secondProvider("p")
		p["grant"] = jsonMap{"type": "jwt_bearer", "jwtBearer": jsonMap{"subject": "svc"}}
		b["providers"] = []any{p}
	}))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bindings[0]
	if b.Unmatched != UnmatchedAllow {
		t.Errorf("unmatched = %q, want %q", b.Unmatched, UnmatchedAllow)
	}
	p := b.Providers[0]
	if p.TokenEndpoint.Method != DefaultTokenHTTPMethod || p.Grant.JWTBearer.Lifetime.Duration != DefaultJWTBearerLifetime {
		t.Errorf("provider defaults not applied: method %q, jwtBearer.lifetime %s", p.TokenEndpoint.Method, p.Grant.JWTBearer.Lifetime)
	}
	// Without operations nothing is added: configs rendered before
	// operations existed stay byte-identical.
	plain, err := Parse([]byte(minimalTAAP))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Bindings[0].Unmatched != "" {
		t.Errorf("unmatched defaulted without operations: %q", plain.Bindings[0].Unmatched)
	}
}
