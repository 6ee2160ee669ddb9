package sharedcache

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil/redistest"
)

// A binding's sharedCache section, rendered as the webhook does (files for
// the secrets), reaches a TLS server as an ACL user restricted to the key
// prefix. Each broken piece fails with ErrUnavailable, which the sidecar
// treats as "use the local cache".
func TestFromConfigTLSAndACL(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true, Password: "admin-pw"})
	ctx := ctxT(t)
	admin := srv.Admin(t)
	if err := admin.Do(ctx, "ACL", "SETUSER", "sidecar", "on", ">sidecar-pw", "resetkeys", "~oauth-injector:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "elsewhere", "on", ">sidecar-pw", "resetkeys", "~other:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := config.SharedCache{
		Address:      srv.Addr,
		UsernameFile: file("username", "sidecar\n"),
		PasswordFile: file("password", "sidecar-pw\n"),
		TLS:          &config.SharedCacheTLS{CAFile: srv.CAFile, ServerName: "localhost"},
		Namespace:    "team-a",
		Encryption:   config.SharedCacheEncryption{KeyFile: file("current", hex.EncodeToString(testKey(1))), PreviousKeyFiles: []string{filepath.Join(dir, "previous")}},
	}
	cases := []struct {
		name    string
		edit    func(sc *config.SharedCache)
		wantErr string // substring of the error from the first store call
	}{
		{"works", func(*config.SharedCache) {}, ""},
		{"system roots do not trust the CA", func(sc *config.SharedCache) { sc.TLS.CAFile = "" }, "certificate"},
		{"server name mismatch", func(sc *config.SharedCache) { sc.TLS.ServerName = "redis.example" }, "certificate"},
		{"plain text to a TLS port", func(sc *config.SharedCache) { sc.TLS = nil }, ""},
		{"wrong password", func(sc *config.SharedCache) { sc.PasswordFile = file("bad", "nope") }, "WRONGPASS"},
		{"ACL user for another prefix", func(sc *config.SharedCache) { sc.UsernameFile = file("user2", "elsewhere") }, "NOPERM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := base
			tls := *base.TLS
			sc.TLS = &tls
			tc.edit(&sc)
			sc.KeyPrefix, sc.Timeout = config.DefaultSharedCacheKeyPrefix, config.Duration{Duration: time.Second}
			o, err := FromConfig(&sc, "opengateway", "client-1")
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			l, err := s.Acquire(ctx, phone)
			if tc.name != "works" {
				if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrUnavailable mentioning %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "sidecar-pw") {
					t.Fatal("the error carries the password")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := l.PutToken(ctx, token("over-tls", time.Hour)); err != nil {
				t.Fatal(err)
			}
			if tok, _, err := s.Token(ctx, phone); err != nil || tok.AccessToken != "over-tls" {
				t.Fatalf("%v, %v", tok, err)
			}
		})
	}
}

func TestFromConfigErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "current")
	if err := os.WriteFile(key, []byte(hex.EncodeToString(testKey(1))), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		sc   config.SharedCache
		want string
	}{
		{"missing key", config.SharedCache{Address: "r:1", Encryption: config.SharedCacheEncryption{KeyFile: filepath.Join(dir, "nope")}}, "nope"},
		{"missing password", config.SharedCache{Address: "r:1", PasswordFile: filepath.Join(dir, "pw"), Encryption: config.SharedCacheEncryption{KeyFile: key}}, "reading the password"},
		{"CA not PEM", config.SharedCache{Address: "r:1", TLS: &config.SharedCacheTLS{CAFile: notPEM}, Encryption: config.SharedCacheEncryption{KeyFile: key}}, notPEM + " holds no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromConfig(&tc.sc, "b", "c"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
