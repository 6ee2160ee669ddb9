package consent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefForFile: a webhook-rendered path names the Secret and key; any
// other path needs --secret-name; flags override; bad names are refused
// with the flag or field that produced them.
func TestRefForFile(t *testing.T) {
	const field = "grant.refreshToken.file"
	tests := []struct {
		name, file, nameFlag, keyFlag string
		want                          SecretRef
		wantErr                       string
	}{
		{name: "rendered", file: "/var/run/oauth-injector/gh/partner-rt/refresh_token", want: SecretRef{"partner-rt", "refresh_token"}},
		{name: "rendered, dotted name", file: "/var/run/oauth-injector/gh/rt.partner.example/token", want: SecretRef{"rt.partner.example", "token"}},
		{name: "rendered, key flag", file: "/var/run/oauth-injector/gh/partner-rt/refresh_token", keyFlag: "rt", want: SecretRef{"partner-rt", "rt"}},
		{name: "rendered, name flag", file: "/var/run/oauth-injector/gh/partner-rt/refresh_token", nameFlag: "other", want: SecretRef{"other", "refresh_token"}},
		{name: "hand-written with name flag", file: "/etc/partner/rt", nameFlag: "partner", want: SecretRef{"partner", "rt"}},
		{name: "hand-written without name flag", file: "/etc/partner/rt", wantErr: "grant.refreshToken.file /etc/partner/rt is not a webhook-rendered path (/var/run/oauth-injector/gh/<secret>/<key>), so the Secret name is unknown: give --secret-name"},
		{name: "another binding's path", file: "/var/run/oauth-injector/other/partner-rt/refresh_token", wantErr: "give --secret-name"},
		{name: "too deep", file: "/var/run/oauth-injector/gh/a/b/refresh_token", wantErr: "give --secret-name"},
		{name: "bad name flag", file: "/etc/partner/rt", nameFlag: "Partner_RT", wantErr: `--secret-name "Partner_RT": a Secret name must be a DNS subdomain`},
		{name: "bad key flag", file: "/etc/partner/rt", nameFlag: "p", keyFlag: "a/b", wantErr: `Secret key "a/b" (from grant.refreshToken.file or --secret-key)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refForFile("gh", field, tt.file, tt.nameFlag, tt.keyFlag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCheckNamespace(t *testing.T) {
	for ns, ok := range map[string]bool{"": true, "team-a": true, "Team": false, "a.b": false, strings.Repeat("a", 64): false} {
		if err := checkNamespace(ns); (err == nil) != ok {
			t.Errorf("checkNamespace(%q) = %v", ns, err)
		}
	}
}

// TestManifestGolden: one Secret per name, keys sorted, values base64, every
// scalar quoted (a Secret named "123" must stay a string). UPDATE_GOLDEN=1
// regenerates.
func TestManifestGolden(t *testing.T) {
	secrets := secretsFor("team-a",
		[]SecretRef{{"partner-oauth1", "token_secret"}, {"partner-oauth1", "token"}, {"123", "true"}},
		[]string{"s3cr€t\n\"quoted\"", "tok", "x"})
	if len(secrets) != 2 {
		t.Fatalf("secretsFor grouped into %d Secrets, want 2", len(secrets))
	}
	got := Manifest("partner", secrets)
	path := filepath.Join("testdata", "manifest.golden.yaml")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create)", err)
	}
	if string(got) != string(want) {
		t.Errorf("manifest differs from %s (UPDATE_GOLDEN=1 regenerates)\n got:\n%s\nwant:\n%s", path, got, want)
	}
	if strings.Contains(string(got), "s3cr") || strings.Contains(string(got), "tok\n") {
		t.Errorf("a value appears unencoded:\n%s", got)
	}
}
