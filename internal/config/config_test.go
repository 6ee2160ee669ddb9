package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const minimalTAAP = `{
  "version": "v1",
  "bindings": [{
    "name": "tmobile",
    "listenPort": 15001,
    "upstream": {"url": "https://api.t-mobile.example"},
    "tokenEndpoint": {"url": "https://oauth.t-mobile.example/oauth2/v6/tokens"},
    "grant": {"type": "client_credentials"},
    "clientAuth": {"method": "client_secret_basic", "clientIDFile": "/s/client_id", "clientSecretFile": "/s/client_secret"},
    "privateKey": {"file": "/s/key.pem"},
    "pop": {"type": "taap"}
  }]
}`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimalTAAP))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bindings[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"admin.listen", c.Admin.Listen, DefaultAdminListen},
		{"tokenEndpoint.method", b.TokenEndpoint.Method, "POST"},
		{"pop.header", b.PoP.Header, "X-Authorization"},
		{"pop.sign", strings.Join(b.PoP.Sign, ";"), "uri;http-method;body"},
		{"pop.lifetime", b.PoP.Lifetime.Duration, 120 * time.Second},
		{"pop.onTokenEndpoint", *b.PoP.OnTokenEndpoint, true},
		{"pop.maxBodyBytes", b.PoP.MaxBodyBytes, int64(DefaultMaxBodyBytes)},
		{"tokenPlacement.in", b.TokenPlacement.In, PlaceHeader},
		{"tokenPlacement.idTokenHeader", b.TokenPlacement.IDTokenHeader, "X-Auth-Originator"},
		{"refresh.before", b.Refresh.Before.Duration, 30 * time.Second},
		{"upstream.responseHeaderTimeout", b.Upstream.ResponseHeaderTimeout.Duration, 30 * time.Second},
		{"upstream.allowTrace", b.Upstream.AllowTrace, false},
		{"allowInsecureHTTP", b.AllowInsecureHTTP, false},
		{"bodyReadTimeout", c.BodyReadTimeout.Duration, 10 * time.Second},
		{"refresh.expirySkew", b.Refresh.ExpirySkew.Duration, 10 * time.Second},
		{"refresh.minInterval", b.Refresh.MinInterval.Duration, time.Second},
		{"refresh.maxCallsPerSecond", b.Refresh.MaxCallsPerSecond, 10},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestCIBADefaults(t *testing.T) {
	c, err := Parse(mutate(t, func(b, r map[string]any) {
		b["grant"] = map[string]any{"type": "ciba", "scopes": []any{"sim-swap"}, "ciba": map[string]any{"authorizeURL": "https://auth.example/bc"}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Bindings[0].Grant.CIBA
	small, err := Parse(mutate(t, func(b, r map[string]any) {
		b["grant"] = map[string]any{"type": "ciba", "scopes": []any{"sim-swap"}, "ciba": map[string]any{"authorizeURL": "https://auth.example/bc", "cacheSize": 10}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"loginHintHeader", g.LoginHintHeader, DefaultLoginHintHeader},
		{"loginHintFormat", g.LoginHintFormat, LoginHintOpenGateway},
		{"maxWait", g.MaxWait.Duration, DefaultCIBAMaxWait},
		{"cacheSize", g.CacheSize, DefaultCacheSize},
		{"maxPending", g.MaxPending, DefaultCIBAMaxPending},
		{"maxPending with a smaller cacheSize", small.Bindings[0].Grant.CIBA.MaxPending, 10},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("grant.ciba.%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// mutate applies a JSON merge to the minimal config so each case states only
// what it breaks.
func mutate(t *testing.T, f func(b map[string]any, root map[string]any)) []byte {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal([]byte(minimalTAAP), &root); err != nil {
		t.Fatal(err)
	}
	b := root["bindings"].([]any)[0].(map[string]any)
	f(b, root)
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidationErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name string
		edit func(b, root map[string]any)
		want string
	}{
		{"version", func(b, r map[string]any) { r["version"] = "v9" }, `version: must be "v1"`},
		{"no bindings", func(b, r map[string]any) { r["bindings"] = []any{} }, "bindings: at least one binding"},
		{"pop lifetime", func(b, r map[string]any) { b["pop"].(map[string]any)["lifetime"] = "121s" }, "bindings[0].pop.lifetime: must be <= 2m0s"},
		{"pop lifetime fraction", func(b, r map[string]any) { b["pop"].(map[string]any)["lifetime"] = "1500ms" }, "bindings[0].pop.lifetime: must be whole seconds"},
		{"pop sign dup", func(b, r map[string]any) { b["pop"].(map[string]any)["sign"] = []any{"uri", "URI"} }, `bindings[0].pop.sign[1]: "URI" is listed twice`},
		{"pop sign bad", func(b, r map[string]any) { b["pop"].(map[string]any)["sign"] = []any{"uri", "bad header"} }, "bindings[0].pop.sign[1]: must be uri, http-method, body or a header name"},
		{"taap without key", func(b, r map[string]any) { delete(b, "privateKey") }, "bindings[0].pop.type: taap requires privateKey"},
		{"port range", func(b, r map[string]any) { b["listenPort"] = 70000 }, "bindings[0].listenPort: must be 1-65535"},
		{"port clash admin", func(b, r map[string]any) { b["listenPort"] = 15020 }, "bindings[0].listenPort: port 15020 is already used by admin.listen"},
		{"bad name", func(b, r map[string]any) { b["name"] = "T_Mobile" }, "bindings[0].name: must be a DNS label"},
		{"upstream scheme", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "ftp://x"} }, `bindings[0].upstream.url: scheme must be https or http, got "ftp"`},
		{"upstream creds", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "https://u:p@x"} }, "bindings[0].upstream.url: must not embed credentials"},
		{"implicit", func(b, r map[string]any) { b["grant"] = map[string]any{"type": "implicit"} }, "bindings[0].grant.type: the implicit grant is browser-only"},
		{"unknown grant", func(b, r map[string]any) { b["grant"] = map[string]any{"type": "magic"} }, `bindings[0].grant.type: unsupported grant "magic"`},
		{"ciba without block", func(b, r map[string]any) { b["grant"] = map[string]any{"type": "ciba"} }, `bindings[0].grant.ciba: required when grant.type is "ciba"`},
		{"ciba maxPending", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "ciba", "scopes": []any{"a"}, "ciba": map[string]any{"authorizeURL": "https://auth.example/bc", "maxPending": -1}}
		}, "bindings[0].grant.ciba.maxPending: must be at least 1"},
		{"ciba maxPending over cacheSize", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "ciba", "scopes": []any{"a"}, "ciba": map[string]any{"authorizeURL": "https://auth.example/bc", "cacheSize": 4, "maxPending": 5}}
		}, "bindings[0].grant.ciba.maxPending: must not exceed grant.ciba.cacheSize (4)"},
		{"ciba loginHintFormat", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "ciba", "scopes": []any{"a"}, "ciba": map[string]any{"authorizeURL": "https://auth.example/bc", "loginHintFormat": "email"}}
		}, `bindings[0].grant.ciba.loginHintFormat: must be open_gateway or opaque, got "email"`},
		{"password block on cc", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "client_credentials", "password": map[string]any{"usernameFile": "/u", "passwordFile": "/p"}}
		}, `bindings[0].grant.password: only allowed when grant.type is "password"`},
		{"secret file missing", func(b, r map[string]any) { delete(b["clientAuth"].(map[string]any), "clientSecretFile") }, "bindings[0].clientAuth.clientSecretFile: required"},
		{"auth method", func(b, r map[string]any) { b["clientAuth"].(map[string]any)["method"] = "digest" }, `bindings[0].clientAuth.method: unsupported method "digest"`},
		{"client_secret_jwt needs the secret", func(b, r map[string]any) {
			b["clientAuth"] = map[string]any{"method": "client_secret_jwt", "clientIDFile": "/s/client_id"}
		}, "bindings[0].clientAuth.clientSecretFile: required"},
		{"placement", func(b, r map[string]any) { b["tokenPlacement"] = map[string]any{"in": "cookie"} }, `bindings[0].tokenPlacement.in: must be header, query or form, got "cookie"`},
		{"token method", func(b, r map[string]any) { b["tokenEndpoint"].(map[string]any)["method"] = "PUT" }, `bindings[0].tokenEndpoint.method: must be GET or POST, got "PUT"`},
		{"oauth1 rsa no key", func(b, r map[string]any) {
			delete(b, "privateKey")
			delete(b, "pop")
			b["oauth1"] = map[string]any{"signatureMethod": "RSA-SHA1", "consumerKeyFile": "/c"}
		}, "bindings[0].oauth1.signatureMethod: RSA-SHA1 requires privateKey"},
		{"exchange both sources", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "token_exchange", "tokenExchange": map[string]any{
				"grantType": TokenExchangeTapkey, "provider": "p", "subjectToken": map[string]any{"file": "/t", "mint": map[string]any{"issuer": "i", "audience": "a"}}}}
		}, "bindings[0].grant.tokenExchange.subjectToken: set exactly one of file or mint, not both"},
		{"tapkey audience", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "token_exchange", "tokenExchange": map[string]any{
				"grantType": TokenExchangeTapkey, "provider": "p", "audience": "other", "subjectToken": map[string]any{"file": "/t"}}}
		}, `bindings[0].grant.tokenExchange.audience: must be "tapkey_api"`},
		{"jwt_bearer without block", func(b, r map[string]any) { b["grant"] = map[string]any{"type": "jwt_bearer"} }, `bindings[0].grant.jwtBearer: required when grant.type is "jwt_bearer"`},
		{"jwtBearer block on cc", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "client_credentials", "jwtBearer": map[string]any{"subject": "svc"}}
		}, `bindings[0].grant.jwtBearer: only allowed when grant.type is "jwt_bearer"`},
		{"jwt_bearer both subjects", jwtBearer(map[string]any{"subject": "svc", "subjectHeader": "X-User"}), "bindings[0].grant.jwtBearer: set exactly one of subject (fixed) or subjectHeader (per request), not both"},
		{"jwt_bearer no subject", jwtBearer(map[string]any{}), "bindings[0].grant.jwtBearer: set exactly one of subject (fixed) or subjectHeader (per request)"},
		{"jwt_bearer subject control char", jwtBearer(map[string]any{"subject": "tel:+34\n"}), "bindings[0].grant.jwtBearer.subject: contains a control character"},
		{"jwt_bearer subject too long", jwtBearer(map[string]any{"subject": strings.Repeat("x", 1025)}), "bindings[0].grant.jwtBearer.subject: longer than 1024 bytes (1025)"},
		{"jwt_bearer bad header", jwtBearer(map[string]any{"subjectHeader": "X User"}), `bindings[0].grant.jwtBearer.subjectHeader: must be a valid HTTP header name, got "X User"`},
		{"jwt_bearer cacheSize with fixed subject", jwtBearer(map[string]any{"subject": "svc", "cacheSize": 5}), "bindings[0].grant.jwtBearer.cacheSize: only used with subjectHeader"},
		{"jwt_bearer cacheSize negative", jwtBearer(map[string]any{"subjectHeader": "X-User", "cacheSize": -1}), "bindings[0].grant.jwtBearer.cacheSize: must be at least 1"},
		{"jwt_bearer lifetime over 300s", jwtBearer(map[string]any{"subject": "svc", "lifetime": "301s"}), "bindings[0].grant.jwtBearer.lifetime: must be <= 5m0s, got 5m1s"},
		{"jwt_bearer lifetime fraction", jwtBearer(map[string]any{"subject": "svc", "lifetime": "1500ms"}), "bindings[0].grant.jwtBearer.lifetime: must be whole seconds"},
		{"jwt_bearer lifetime negative", jwtBearer(map[string]any{"subject": "svc", "lifetime": "-1s"}), "bindings[0].grant.jwtBearer.lifetime: must be positive"},
		{"jwt_bearer algorithm", jwtBearer(map[string]any{"subject": "svc", "algorithm": "HS256"}), `bindings[0].grant.jwtBearer.algorithm: must be RS256, PS256 or ES256 (or empty: by key type), got "HS256"`},
		{"jwt_bearer needs a key", func(b, r map[string]any) {
			jwtBearer(map[string]any{"subject": "svc"})(b, r)
			delete(b, "privateKey")
		}, "bindings[0].grant.jwtBearer: requires privateKey to sign the assertion"},
		{"jwt_bearer needs the client id", func(b, r map[string]any) {
			jwtBearer(map[string]any{"subject": "svc"})(b, r)
			b["clientAuth"] = map[string]any{"method": "none"}
		}, "bindings[0].clientAuth.clientIDFile: required with grant.jwtBearer: the client ID is the assertion's iss"},
		{"duplicate names", func(b, r map[string]any) {
			c := map[string]any{}
			for k, v := range b {
				c[k] = v
			}
			c["listenPort"] = 15002
			r["bindings"] = append(r["bindings"].([]any), c)
		}, `bindings[1].name: duplicates bindings[0].name "tmobile"`},
		{"unknown field", func(b, r map[string]any) { b["listenPrt"] = 1 }, `bindings[0].listenPrt: unknown field`},
		{"unknown nested field", func(b, r map[string]any) { b["upstream"].(map[string]any)["tlsVerify"] = false }, `bindings[0].upstream.tlsVerify: unknown field`},
		{"unknown top-level field", func(b, r map[string]any) { r["logLevel"] = "debug" }, `config: logLevel: unknown field`},
		{"unknown field in a second binding", func(b, r map[string]any) {
			c := map[string]any{"name": "b2", "listenPort": 15002, "pop": map[string]any{"type": "none", "signs": []any{}}}
			r["bindings"] = append(r["bindings"].([]any), c)
		}, `bindings[1].pop.signs: unknown field`},
		{"http upstream", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "http://api.partner.example"} },
			`bindings[0].upstream.url: http:// sends credentials in cleartext; use https:// or set bindings[0].allowInsecureHTTP: true`},
		{"http token endpoint", func(b, r map[string]any) {
			b["tokenEndpoint"].(map[string]any)["url"] = "http://auth.partner.example/token"
		},
			`bindings[0].tokenEndpoint.url: http:// sends credentials in cleartext`},
		{"http ciba authorize", func(b, r map[string]any) {
			b["grant"] = map[string]any{"type": "ciba", "scopes": []any{"openid"}, "ciba": map[string]any{"authorizeURL": "http://auth.partner.example/bc"}}
		}, `bindings[0].grant.ciba.authorizeURL: http:// sends credentials in cleartext`},
		{"http loopback look-alike", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "http://127.0.0.1.nip.io"} },
			`bindings[0].upstream.url: http:// sends credentials in cleartext`},
		{"response header timeout", func(b, r map[string]any) { b["upstream"].(map[string]any)["responseHeaderTimeout"] = "-1s" },
			`bindings[0].upstream.responseHeaderTimeout: must be positive`},
		{"body read timeout", func(b, r map[string]any) { r["bodyReadTimeout"] = "-1s" }, `bodyReadTimeout: must be positive`},
		{"wrong type", func(b, r map[string]any) { b["listenPort"] = "15001" }, "bindings.listenPort: must be int"},
		{"bad duration", func(b, r map[string]any) { b["refresh"] = map[string]any{"before": "soon"} }, `invalid duration "soon"`},
		{"negative before", func(b, r map[string]any) { b["refresh"] = map[string]any{"before": "-1s"} }, "bindings[0].refresh.before: must not be negative"},
		{"negative skew", func(b, r map[string]any) { b["refresh"] = map[string]any{"expirySkew": "-1s"} }, "bindings[0].refresh.expirySkew: must be between 0s and 5m0s, got -1s"},
		{"huge skew", func(b, r map[string]any) { b["refresh"] = map[string]any{"expirySkew": "1h"} }, "bindings[0].refresh.expirySkew: must be between 0s and 5m0s, got 1h0m0s"},
		{"huge min interval", func(b, r map[string]any) { b["refresh"] = map[string]any{"minInterval": "11m"} }, "bindings[0].refresh.minInterval: must be between 0s and 10m0s"},
		{"negative min interval", func(b, r map[string]any) { b["refresh"] = map[string]any{"minInterval": "-5ms"} }, "bindings[0].refresh.minInterval: must be between 0s and 10m0s, got -5ms"},
		{"rate limit too high", func(b, r map[string]any) { b["refresh"] = map[string]any{"maxCallsPerSecond": 5000} }, "bindings[0].refresh.maxCallsPerSecond: must be between 1 and 1000, got 5000"},
		{"negative rate limit", func(b, r map[string]any) { b["refresh"] = map[string]any{"maxCallsPerSecond": -1} }, "bindings[0].refresh.maxCallsPerSecond: must be between 1 and 1000, got -1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(mutate(t, tc.edit))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant substring %q", err, tc.want)
			}
		})
	}
}

// jwtBearer edits the minimal config into a jwt_bearer binding (no PoP).
func jwtBearer(block map[string]any) func(b, r map[string]any) {
	return func(b, r map[string]any) {
		delete(b, "pop")
		b["grant"] = map[string]any{"type": "jwt_bearer", "jwtBearer": block}
	}
}

func TestJWTBearerDefaults(t *testing.T) {
	tests := []struct {
		name          string
		block         map[string]any
		wantLifetime  time.Duration
		wantCacheSize int
	}{
		{"fixed subject", map[string]any{"subject": "svc"}, DefaultJWTBearerLifetime, 0},
		{"per request", map[string]any{"subjectHeader": "X-Subscriber"}, DefaultJWTBearerLifetime, DefaultCacheSize},
		{"explicit", map[string]any{"subjectHeader": "X-Subscriber", "lifetime": "300s", "cacheSize": 7, "algorithm": "PS256", "keyID": "k1", "audience": "https://issuer.example"}, 300 * time.Second, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(mutate(t, jwtBearer(tt.block)))
			if err != nil {
				t.Fatal(err)
			}
			j := c.Bindings[0].Grant.JWTBearer
			if j.Lifetime.Duration != tt.wantLifetime || j.CacheSize != tt.wantCacheSize {
				t.Fatalf("lifetime %s cacheSize %d, want %s %d", j.Lifetime.Duration, j.CacheSize, tt.wantLifetime, tt.wantCacheSize)
			}
		})
	}
}

// TestInsecureHTTP: cleartext is refused unless the binding opts in, except
// for loopback destinations (local tests and same-pod services).
func TestInsecureHTTP(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(b, root map[string]any)
		valid bool
	}{
		{"https", func(b, r map[string]any) {}, true},
		{"http refused", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "http://api.partner.example"} }, false},
		{"http allowed by opt-in", func(b, r map[string]any) {
			b["upstream"] = map[string]any{"url": "http://api.partner.example"}
			b["tokenEndpoint"].(map[string]any)["url"] = "http://auth.partner.example/t"
			b["allowInsecureHTTP"] = true
		}, true},
		{"http 127.0.0.1", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "http://127.0.0.1:8080/x"} }, true},
		{"http 127.1.2.3", func(b, r map[string]any) { b["tokenEndpoint"].(map[string]any)["url"] = "http://127.1.2.3/t" }, true},
		{"http ::1", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "http://[::1]:8080"} }, true},
		{"http localhost", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "http://LOCALHOST:8080"} }, true},
		{"http 10.0.0.1", func(b, r map[string]any) { b["upstream"] = map[string]any{"url": "http://10.0.0.1"} }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(mutate(t, tc.edit))
			if tc.valid && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if !tc.valid && (err == nil || !strings.Contains(err.Error(), "cleartext")) {
				t.Fatalf("want a cleartext refusal, got %v", err)
			}
		})
	}
}

// TestClientSecretJWTAccepted: client_secret_jwt is a client authentication
// method like the others, with the token URL as default audience.
func TestClientSecretJWTAccepted(t *testing.T) {
	c, err := Parse(mutate(t, func(b, r map[string]any) {
		b["clientAuth"] = map[string]any{"method": "client_secret_jwt", "clientIDFile": "/s/client_id", "clientSecretFile": "/s/client_secret", "audience": "https://oauth.example"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Bindings[0].ClientAuth; a.Method != AuthClientSecretJWT || a.Audience != "https://oauth.example" {
		t.Fatalf("clientAuth = %+v", a)
	}
}

// TestTapkeyDefaults: Tapkey's endpoint refuses an exchange without
// audience, so the documented defaults must be applied, not just allowed.
func TestTapkeyDefaults(t *testing.T) {
	cases := []struct {
		name                              string
		grantType                         string
		wantAudience, wantRequested, want string
	}{
		{"tapkey", TokenExchangeTapkey, "tapkey_api", "access_token", "jwt"},
		{"rfc8693 gets none", TokenExchangeRFC8693, "", "", "urn:ietf:params:oauth:token-type:jwt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := mutate(t, func(b, r map[string]any) {
				te := map[string]any{"grantType": tc.grantType, "provider": "idp", "subjectToken": map[string]any{"file": "/t"}}
				if tc.grantType == TokenExchangeRFC8693 {
					te["subjectTokenType"] = "urn:ietf:params:oauth:token-type:jwt"
				}
				b["grant"] = map[string]any{"type": "token_exchange", "scopes": []any{"read:user"}, "tokenExchange": te}
			})
			c, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			te := c.Bindings[0].Grant.TokenExchange
			if te.Audience != tc.wantAudience || te.RequestedTokenType != tc.wantRequested || te.SubjectTokenType != tc.want {
				t.Fatalf("audience %q requestedTokenType %q subjectTokenType %q; want %q %q %q",
					te.Audience, te.RequestedTokenType, te.SubjectTokenType, tc.wantAudience, tc.wantRequested, tc.want)
			}
		})
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "{", "null", `{"version":"v1"} {}`, strings.Repeat(" ", MaxConfigBytes+1)} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%.20q) succeeded", in)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c, err := Parse([]byte(minimalTAAP))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse of marshalled config: %v\n%s", err, out)
	}
	if c2.Bindings[0].PoP.Lifetime != c.Bindings[0].PoP.Lifetime {
		t.Fatal("lifetime lost in round trip")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimalTAAP))
	f.Add([]byte(`{"version":"v1","bindings":[{"name":"a","grant":{"type":"ciba","ciba":{}}}]}`))
	f.Add([]byte(`{"bindings":[{"pop":{"lifetime":"-5s","sign":[""]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil {
			// Anything accepted must survive a round trip.
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(out); err != nil {
				t.Fatalf("accepted config fails after round trip: %v", err)
			}
		}
	})
}
