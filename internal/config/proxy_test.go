package config

import (
	"strings"
	"testing"
)

// TestProxyValidation: every proxy problem is reported with its path, for
// the upstream and the token endpoint alike, and the valid shapes parse.
func TestProxyValidation(t *testing.T) {
	up := func(px map[string]any) func(b, r map[string]any) {
		return func(b, r map[string]any) { b["upstream"].(map[string]any)["proxy"] = px }
	}
	te := func(px map[string]any) func(b, r map[string]any) {
		return func(b, r map[string]any) { b["tokenEndpoint"].(map[string]any)["proxy"] = px }
	}
	creds := map[string]any{"url": "http://proxy.corp.example:3128", "usernameFile": "/s/proxy/username", "passwordFile": "/s/proxy/password"}
	cases := []struct {
		name string
		edit func(b, root map[string]any)
		want string // empty: valid
	}{
		{"url", up(map[string]any{"url": "http://proxy.corp.example:3128"}), ""},
		{"url with slash", te(map[string]any{"url": "http://10.0.0.1:8080/"}), ""},
		{"url with credentials files", te(creds), ""},
		{"from environment", up(map[string]any{"fromEnvironment": true}), ""},
		{"from environment with credentials", te(map[string]any{"fromEnvironment": true, "usernameFile": "/u", "passwordFile": "/p"}), ""},
		{"empty", up(map[string]any{}), "bindings[0].upstream.proxy: set exactly one of url or fromEnvironment: true"},
		{"both", te(map[string]any{"url": "http://p:3128", "fromEnvironment": true}), "bindings[0].tokenEndpoint.proxy: set exactly one of url or fromEnvironment, not both"},
		{"https proxy", up(map[string]any{"url": "https://proxy.corp.example"}), "bindings[0].upstream.proxy.url: https:// proxies (TLS to the proxy itself) are not supported"},
		{"socks", te(map[string]any{"url": "socks5://proxy:1080"}), `bindings[0].tokenEndpoint.proxy.url: must be http://host[:port], got scheme "socks5"`},
		{"no scheme", up(map[string]any{"url": "proxy.corp.example:3128"}), "bindings[0].upstream.proxy.url: must be http://host[:port]"},
		{"no host", up(map[string]any{"url": "http://:3128"}), "bindings[0].upstream.proxy.url: must include a host"},
		{"embedded credentials", te(map[string]any{"url": "http://user:pw@proxy:3128"}), "bindings[0].tokenEndpoint.proxy.url: must not embed credentials; use usernameFile and passwordFile"},
		{"path", up(map[string]any{"url": "http://proxy:3128/pac"}), "bindings[0].upstream.proxy.url: must be http://host[:port] without a path"},
		{"username without password", up(map[string]any{"url": "http://proxy:3128", "usernameFile": "/u"}), "bindings[0].upstream.proxy: usernameFile and passwordFile are set together or not at all"},
		{"password pasted as path", te(map[string]any{"url": "http://proxy:3128", "usernameFile": "/u", "passwordFile": "hunter 2"}), "bindings[0].tokenEndpoint.proxy.passwordFile: must be a file path"},
		{"unknown field", up(map[string]any{"url": "http://proxy:3128", "password": "x"}), "bindings[0].upstream.proxy.password: unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(mutate(t, tc.edit))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if c.Bindings[0].Upstream.Proxy == nil && c.Bindings[0].TokenEndpoint.Proxy == nil {
					t.Fatal("the proxy section was dropped")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant substring %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error echoes the embedded credentials: %v", err)
			}
		})
	}
}
