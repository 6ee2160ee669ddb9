package injectorcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// consentConfigFile writes a config with an OAuth 2 refresh-token binding
// (rt), an OAuth 1.0a three-legged binding (o1) and a client-credentials
// binding (cc). Their credential files exist; the token files need not.
func consentConfigFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	id, secret := file("client_id", "cid"), file("client_secret", "csecret")
	te := &config.TokenEndpoint{URL: "https://as.example/token"}
	auth := config.ClientAuth{Method: config.AuthClientSecretBasic, ClientIDFile: id, ClientSecretFile: secret}
	c := &config.Config{Version: config.Version, Bindings: []config.Binding{
		{Name: "rt", ListenPort: 8001, Upstream: config.Upstream{URL: "https://api.example"}, TokenEndpoint: te, ClientAuth: auth,
			Grant: config.Grant{Type: config.GrantRefreshToken, RefreshToken: &config.RefreshGrant{File: config.MountRoot + "/rt/partner-rt/refresh_token"}}},
		{Name: "o1", ListenPort: 8002, Upstream: config.Upstream{URL: "https://api.example"}, Grant: config.Grant{Type: config.GrantNone},
			OAuth1: &config.OAuth1{SignatureMethod: config.OAuth1HMACSHA1, ConsumerKeyFile: id, ConsumerSecretFile: secret,
				TokenFile: config.MountRoot + "/o1/o1/token", TokenSecretFile: config.MountRoot + "/o1/o1/token_secret"}},
		{Name: "cc", ListenPort: 8003, Upstream: config.Upstream{URL: "https://api.example"}, TokenEndpoint: te, ClientAuth: auth,
			Grant: config.Grant{Type: config.GrantClientCredentials}},
	}}
	data, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return file("config.json", string(data))
}

// TestConsentCommandRefusesBeforeTheBrowser: every mistake that needs no
// person is reported before a URL is printed, with the flag or field named.
func TestConsentCommandRefusesBeforeTheBrowser(t *testing.T) {
	cfg := consentConfigFile(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{name: "no binding", args: []string{"--config", cfg}, wantCode: 2, want: "--binding is required"},
		{name: "unknown binding", args: []string{"--config", cfg, "--binding", "nope"}, wantCode: 1, want: `binding "nope" not found in config`},
		{name: "binding without consent", args: []string{"--config", cfg, "--binding", "cc"}, wantCode: 1,
			want: `binding "cc" needs no consent: it has neither grant.type refresh_token nor three-legged oauth1 (oauth1.tokenFile); grant.type is "client_credentials"`},
		{name: "no authorize URL", args: []string{"--config", cfg, "--binding", "rt"}, wantCode: 1, want: "--authorize-url is required"},
		{name: "oauth1 flags on oauth2", args: []string{"--config", cfg, "--binding", "rt", "--authorize-url", "https://as.example/a", "--oob"}, wantCode: 1,
			want: `--oob, --request-token-url and --access-token-url are for OAuth 1.0a; binding "rt" uses OAuth 2`},
		{name: "oauth2 flags on oauth1", args: []string{"--config", cfg, "--binding", "o1", "--scope", "a"}, wantCode: 1,
			want: `--scope, --prompt and --offline-access are for OAuth 2; binding "o1" uses OAuth 1.0a`},
		{name: "secret key on oauth1", args: []string{"--config", cfg, "--binding", "o1", "--secret-key", "k"}, wantCode: 1,
			want: "--secret-key names the OAuth 2 refresh token's key"},
		{name: "oauth1 endpoints missing", args: []string{"--config", cfg, "--binding", "o1", "--authorize-url", "https://as.example/a"}, wantCode: 1,
			want: "--request-token-url is required"},
		{name: "bad secret name", args: []string{"--config", cfg, "--binding", "rt", "--secret-name", "Bad_Name", "--authorize-url", "https://as.example/a"}, wantCode: 1,
			want: `--secret-name "Bad_Name": a Secret name must be a DNS subdomain`},
		{name: "bad namespace", args: []string{"--config", cfg, "--binding", "rt", "--namespace", "A", "--authorize-url", "https://as.example/a"}, wantCode: 1,
			want: `--namespace "A": must be a DNS label`},
		{name: "output in a missing directory", args: []string{"--config", cfg, "--binding", "rt", "--authorize-url", "https://as.example/a", "--output", "/nonexistent/dir/rt.yaml"}, wantCode: 1,
			want: "--output /nonexistent/dir/rt.yaml: stat /nonexistent/dir: no such file or directory"},
		{name: "bad timeout", args: []string{"--config", cfg, "--binding", "rt", "--timeout", "0s"}, wantCode: 2, want: "--timeout: must be positive"},
		{name: "bad port", args: []string{"--config", cfg, "--binding", "rt", "--redirect-port", "70000"}, wantCode: 2, want: "--redirect-port: must be 0-65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), append([]string{"consent", "--no-browser"}, tt.args...), strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "http") && strings.Contains(stderr.String(), "Open this URL") {
				t.Errorf("a URL was printed before the mistake was reported:\n%s", stderr.String())
			}
			if stdout.Len() != 0 || strings.Contains(stderr.String(), "csecret") {
				t.Errorf("stdout %q; stderr:\n%s", stdout.String(), stderr.String())
			}
		})
	}
}

// TestWritePrivate: the manifest file ends up 0600 even when a world-readable
// file was there before, and no temporary file is left behind.
func TestWritePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rt.yaml")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writePrivate(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Errorf("content %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the manifest", len(entries))
	}
	if err := writePrivate(filepath.Join(dir, "missing", "x"), nil); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("err = %v", err)
	}
}
