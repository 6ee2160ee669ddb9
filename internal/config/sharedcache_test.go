package config

import (
	"strings"
	"testing"
	"time"
)

// withSharedCache adds a valid sharedCache section, then lets edit break it.
func withSharedCache(edit func(sc map[string]any)) func(b, root map[string]any) {
	return func(b, root map[string]any) {
		sc := map[string]any{
			"address":    "redis.cache.svc:6379",
			"encryption": map[string]any{"keyFile": "/s/cache/current"},
		}
		if edit != nil {
			edit(sc)
		}
		b["sharedCache"] = sc
	}
}

func TestSharedCacheDefaults(t *testing.T) {
	c, err := Parse(mutate(t, withSharedCache(nil)))
	if err != nil {
		t.Fatal(err)
	}
	sc := c.Bindings[0].SharedCache
	if sc == nil {
		t.Fatal("sharedCache dropped")
	}
	if sc.KeyPrefix != DefaultSharedCacheKeyPrefix || sc.Timeout.Duration != 200*time.Millisecond {
		t.Fatalf("defaults: keyPrefix %q timeout %s", sc.KeyPrefix, sc.Timeout.Duration)
	}
}

func TestSharedCacheFull(t *testing.T) {
	c, err := Parse(mutate(t, withSharedCache(func(sc map[string]any) {
		sc["usernameFile"] = "/s/auth/username"
		sc["passwordFile"] = "/s/auth/password"
		sc["tls"] = map[string]any{"caFile": "/s/ca/ca.crt", "serverName": "redis.cache.svc"}
		sc["keyPrefix"] = "team-a:"
		sc["namespace"] = "payments"
		sc["timeout"] = "150ms"
		sc["encryption"] = map[string]any{"keyFile": "/s/cache/current", "previousKeyFiles": []any{"/s/cache/previous"}}
	})))
	if err != nil {
		t.Fatal(err)
	}
	sc := c.Bindings[0].SharedCache
	if sc.TLS.ServerName != "redis.cache.svc" || sc.Encryption.PreviousKeyFiles[0] != "/s/cache/previous" || sc.Namespace != "payments" || sc.Timeout.Duration != 150*time.Millisecond {
		t.Fatalf("parsed %+v", sc)
	}
}

func TestSharedCacheValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name string
		edit func(sc map[string]any)
		want string
	}{
		{"no address", func(sc map[string]any) { delete(sc, "address") }, "bindings[0].sharedCache.address: required"},
		{"address without port", func(sc map[string]any) { sc["address"] = "redis.cache.svc" }, `bindings[0].sharedCache.address: must be host:port, got "redis.cache.svc"`},
		{"address port range", func(sc map[string]any) { sc["address"] = "redis:70000" }, `bindings[0].sharedCache.address: port must be 1-65535, got "70000"`},
		{"user without password", func(sc map[string]any) { sc["usernameFile"] = "/s/u" }, "bindings[0].sharedCache.passwordFile: required with usernameFile"},
		{"no key file", func(sc map[string]any) { sc["encryption"] = map[string]any{} }, "bindings[0].sharedCache.encryption.keyFile: required"},
		{"key pasted as path", func(sc map[string]any) { sc["encryption"] = map[string]any{"keyFile": "not a path"} }, "bindings[0].sharedCache.encryption.keyFile: must be a file path"},
		{"previous same as current", func(sc map[string]any) {
			sc["encryption"] = map[string]any{"keyFile": "/k", "previousKeyFiles": []any{"/p", "/k"}}
		}, "bindings[0].sharedCache.encryption.previousKeyFiles[1]: must differ from encryption.keyFile"},
		{"prefix with space", func(sc map[string]any) { sc["keyPrefix"] = "a b" }, `bindings[0].sharedCache.keyPrefix: must not contain spaces or control characters`},
		{"prefix too long", func(sc map[string]any) { sc["keyPrefix"] = strings.Repeat("p", 129) }, "bindings[0].sharedCache.keyPrefix: must be at most 128 bytes"},
		{"negative timeout", func(sc map[string]any) { sc["timeout"] = "-1s" }, "bindings[0].sharedCache.timeout: must be positive"},
		{"timeout too long", func(sc map[string]any) { sc["timeout"] = "6s" }, "bindings[0].sharedCache.timeout: must be at most 5s"},
		{"bad server name", func(sc map[string]any) { sc["tls"] = map[string]any{"serverName": "redis:6379"} }, `bindings[0].sharedCache.tls.serverName: must be a DNS name, got "redis:6379"`},
		{"unknown field", func(sc map[string]any) { sc["adress"] = "x" }, `bindings[0].sharedCache.adress: unknown field`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(mutate(t, withSharedCache(tc.edit)))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant substring %q", err, tc.want)
			}
		})
	}
}

func TestSharedCacheNeedsTokens(t *testing.T) {
	_, err := Parse(mutate(t, func(b, root map[string]any) {
		withSharedCache(nil)(b, root)
		delete(b, "pop")
		delete(b, "privateKey")
		delete(b, "tokenEndpoint")
		b["grant"] = map[string]any{"type": "none"}
		b["clientAuth"] = map[string]any{}
		b["oauth1"] = map[string]any{"signatureMethod": "HMAC-SHA1", "consumerKeyFile": "/c", "consumerSecretFile": "/s"}
	}))
	if err == nil || !strings.Contains(err.Error(), `bindings[0].sharedCache: grant.type "none" has no tokens to share`) {
		t.Fatalf("err = %v", err)
	}
}
