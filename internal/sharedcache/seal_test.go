package sharedcache

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func ring(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpen(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	sealed, err := ring(t, k1).seal("oauth-injector:tok:aa", []byte("secret access token"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret access token")) {
		t.Fatal("sealed value holds the plaintext")
	}
	tamper := bytes.Clone(sealed)
	tamper[len(tamper)-1] ^= 1
	cases := []struct {
		name    string
		kr      *Keyring
		key     string
		sealed  []byte
		want    string
		wantErr error
	}{
		{"same key and name", ring(t, k1), "oauth-injector:tok:aa", sealed, "secret access token", nil},
		{"after rotation the old key still opens", ring(t, k2, k1), "oauth-injector:tok:aa", sealed, "secret access token", nil},
		{"copied to another store key", ring(t, k1), "oauth-injector:tok:bb", sealed, "", ErrOpen},
		{"a keyring without the key", ring(t, k2), "oauth-injector:tok:aa", sealed, "", ErrUnknownKey},
		{"tampered", ring(t, k1), "oauth-injector:tok:aa", tamper, "", ErrOpen},
		{"truncated", ring(t, k1), "oauth-injector:tok:aa", sealed[:headerSize-1], "", ErrOpen},
		{"unknown version", ring(t, k1), "oauth-injector:tok:aa", append([]byte{9}, sealed[1:]...), "", ErrOpen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.kr.open(tc.key, tc.sealed)
			if !errors.Is(err, tc.wantErr) || string(got) != tc.want {
				t.Fatalf("open = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRotationSealsWithTheNewKey(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	sealed, err := ring(t, k2, k1).seal("n", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring(t, k1).open("n", sealed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a value sealed after the rotation opened with the old key alone: %v", err)
	}
	if got, err := ring(t, k2).open("n", sealed); err != nil || string(got) != "v" {
		t.Fatalf("new key: %q, %v", got, err)
	}
}

func TestKeyringDropsDuplicatesAndChecksLength(t *testing.T) {
	if kr := ring(t, testKey(1), testKey(1), testKey(2)); len(kr.KeyIDs()) != 2 {
		t.Fatalf("ids %v, want the duplicate dropped", kr.KeyIDs())
	}
	if _, err := NewKeyring(testKey(1), []byte("short")); err == nil || !strings.Contains(err.Error(), "key 1 is 5 bytes, want 32") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	raw := testKey(7)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := ring(t, raw).KeyIDs()[0]
	rawWithSpace := bytes.Clone(raw)
	rawWithSpace[0] = ' ' // a raw key may start with any byte
	cases := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"raw", raw, ""},
		{"hex with newline", []byte(hex.EncodeToString(raw) + "\n"), ""},
		{"base64 with newline", []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), ""},
		{"too short", []byte("c2hvcnQ="), "must hold a 32-byte key"},
		{"bad hex", []byte(strings.Repeat("zz", KeySize)), "must hold a 32-byte key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tc.name, " ", "-"), tc.data)
			kr, err := LoadKeyring(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err = %v, want %q naming %s", err, tc.wantErr, p)
				}
				if strings.Contains(err.Error(), string(tc.data)) {
					t.Fatal("the error echoes the key file's contents")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kr.KeyIDs()[0] != want {
				t.Fatalf("loaded a different key")
			}
		})
	}
	t.Run("raw key starting with a space", func(t *testing.T) {
		kr, err := LoadKeyring(write("space", rawWithSpace))
		if err != nil || kr.KeyIDs()[0] != ring(t, rawWithSpace).KeyIDs()[0] {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("missing previous key is skipped", func(t *testing.T) {
		kr, err := LoadKeyring(write("cur", raw), filepath.Join(dir, "absent"))
		if err != nil || len(kr.KeyIDs()) != 1 {
			t.Fatalf("kr %v, err %v", kr, err)
		}
	})
	t.Run("missing current key fails", func(t *testing.T) {
		if _, err := LoadKeyring(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "absent") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad previous key fails", func(t *testing.T) {
		if _, err := LoadKeyring(write("cur2", raw), write("bad", []byte("nope"))); err == nil || !strings.Contains(err.Error(), "bad") {
			t.Fatalf("err = %v", err)
		}
	})
}
