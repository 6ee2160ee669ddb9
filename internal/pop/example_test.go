package pop_test

import (
	"crypto/rsa"
	"fmt"
	"net/url"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/pop"
)

// A sidecar mints one PoP token per outgoing request; the partner (here the
// Validator) recomputes edts from the request it received.
func Example() {
	signer, err := pop.LoadPrivateKey("testdata/rsa_pkcs8_aes256.pem", "testdata/passphrase.txt")
	if err != nil {
		panic(err)
	}
	key := signer.(*rsa.PrivateKey)
	b, err := pop.NewBuilder(key, []string{pop.KeyURI, pop.KeyMethod, pop.KeyBody}, 60*time.Second)
	if err != nil {
		panic(err)
	}
	u, _ := url.Parse("https://api.example.com/v1/orders?note=a%20b")
	req := pop.Request{Method: "POST", URI: pop.URIValue(u), Body: []byte(`{"qty":1}`)}
	token, err := b.Mint(req)
	if err != nil {
		panic(err)
	}
	v := &pop.Validator{Key: &key.PublicKey}
	claims, err := v.Validate(token, req)
	fmt.Println(req.URI, claims.EHTS, err)
	// Output: /v1/orders?note=a b [uri http-method body] <nil>
}
