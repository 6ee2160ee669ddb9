package pop

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParsePrivateKey feeds mutated key files to the parser. It must return
// a key or an error, never panic or hang, whatever the bytes.
func FuzzParsePrivateKey(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.pem"))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("testdata", "rsa_pkcs8.der"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte(testPassphrase))
		f.Add(data, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		k, err := ParsePrivateKey(data, pass)
		if (k == nil) == (err == nil) {
			t.Fatalf("got key %v and error %v", k, err)
		}
		_, _ = ParsePublicKey(data)
	})
}

// FuzzValidate checks that arbitrary tokens and requests never panic the
// validator and that nothing but a correctly signed token is accepted.
func FuzzValidate(f *testing.F) {
	key := testRSAKey(f, "rsa_pkcs8.pem")
	b, err := NewBuilder(key, []string{"uri", "http-method", "body"}, MaxLifetime)
	if err != nil {
		f.Fatal(err)
	}
	b.Now = func() time.Time { return testNow }
	// A fixed jti keeps tok, and so any saved crasher, reproducible.
	b.NewJTI = func() string { return "fuzz" }
	tok, err := b.Mint(Request{Method: "POST", URI: "/v1/echo", Body: []byte("x")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok, "POST", "/v1/echo", []byte("x"))
	f.Add(tok, "GET", "/", []byte(nil))
	f.Add("eyJhbGciOiJub25lIn0.e30.", "GET", "/", []byte(nil))
	f.Add("..", "", "", []byte(nil))
	v := &Validator{Key: &key.PublicKey, Now: func() time.Time { return testNow }}
	f.Fuzz(func(t *testing.T, token, method, uri string, body []byte) {
		c, err := v.Validate(token, Request{Method: method, URI: uri, Body: body})
		if (c == nil) == (err == nil) {
			t.Fatalf("got claims %v and error %v", c, err)
		}
		if err == nil && token != tok {
			t.Fatalf("accepted a token the key never signed: %q", token)
		}
	})
}
