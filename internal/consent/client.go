package consent

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/egress"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// httpTimeout bounds one call to the provider; the wait for the person is
// bounded separately by --timeout.
const httpTimeout = 30 * time.Second

// readText reads one credential file the way the sidecar does: surrounding
// whitespace is dropped, since Secrets made with echo end in a newline.
func readText(field, file string) (string, error) {
	if file == "" {
		return "", nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return string(bytes.TrimSpace(data)), nil
}

// loadKey reads the binding's privateKey, nil when it has none.
func loadKey(b *config.Binding) (crypto.Signer, error) {
	if b.PrivateKey == nil {
		return nil, nil
	}
	k, err := pop.LoadPrivateKey(b.PrivateKey.File, b.PrivateKey.PassphraseFile)
	if err != nil {
		return nil, fmt.Errorf("privateKey.file %s: %w", b.PrivateKey.File, err)
	}
	return k, nil
}

// httpClient reaches dest ("tokenEndpoint" or "upstream") as the sidecar
// does: it trusts the CAs in caFile instead of the system roots when one is
// named, presents the binding's client certificate when it has one, and
// goes through dest's proxy section when there is one. It never follows
// redirects: a provider endpoint that redirects would make us replay a
// signed or authenticated request elsewhere.
func httpClient(b *config.Binding, dest, caFile string, px *config.Proxy) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s.caFile: %w", dest, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("%s.caFile %s: no PEM certificates found", dest, caFile)
		}
		tc.RootCAs = pool
	}
	if a := b.ClientAuth; a.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("clientAuth.tlsCertFile/tlsKeyFile: not a matching PEM certificate and key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	rt, err := proxied(&http.Transport{Proxy: nil, TLSClientConfig: tc, ForceAttemptHTTP2: true}, dest, px)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Transport:     rt,
		Timeout:       httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// proxied routes tr through px, with its credentials read once: a consent
// run is over in minutes.
func proxied(tr *http.Transport, dest string, px *config.Proxy) (http.RoundTripper, error) {
	var creds egress.Credentials
	if px != nil && px.UsernameFile != "" {
		user, err := readText(dest+".proxy.usernameFile", px.UsernameFile)
		if err != nil {
			return nil, err
		}
		pass, err := readText(dest+".proxy.passwordFile", px.PasswordFile)
		if err != nil {
			return nil, err
		}
		creds = func() (string, string) { return user, pass }
	}
	r, err := egress.New(px, dest+".proxy", creds)
	if err != nil {
		return nil, err
	}
	return r.Apply(tr), nil
}

// tokenClient is the binding's token endpoint client, as the sidecar builds
// it, with the credentials read once: a consent run is over in minutes.
func tokenClient(b *config.Binding) (*oauth.Client, oauth.Credentials, error) {
	var creds oauth.Credentials
	te := b.TokenEndpoint
	if te == nil {
		return nil, creds, fmt.Errorf("binding %q has no tokenEndpoint to exchange the authorization code at", b.Name)
	}
	if popOnTokenEndpoint(b, config.PoPTAAP) {
		// TAAP is T-Mobile's, whose APIs use client credentials; no
		// provider to test a signed code exchange against exists here.
		return nil, creds, fmt.Errorf("pop.type taap with onTokenEndpoint: injector consent does not sign the code exchange with a TAAP PoP")
	}
	var err error
	if creds.ClientID, err = readText("clientAuth.clientIDFile", b.ClientAuth.ClientIDFile); err != nil {
		return nil, creds, err
	}
	if creds.ClientID == "" {
		return nil, creds, fmt.Errorf("clientAuth.clientIDFile: the authorization request needs a client_id; the binding names no client ID file, or it is empty")
	}
	if creds.ClientSecret, err = readText("clientAuth.clientSecretFile", b.ClientAuth.ClientSecretFile); err != nil {
		return nil, creds, err
	}
	if creds.Key, err = loadKey(b); err != nil {
		return nil, creds, err
	}
	hc, err := httpClient(b, "tokenEndpoint", te.CAFile, te.Proxy)
	if err != nil {
		return nil, creds, err
	}
	opts := oauth.Options{
		TokenURL:    te.URL,
		Method:      te.Method,
		ExtraParams: te.ExtraParams,
		AuthMethod:  b.ClientAuth.Method,
		Audience:    b.ClientAuth.Audience,
		Credentials: func() (oauth.Credentials, error) { return creds, nil },
		HTTPClient:  hc,
	}
	if popOnTokenEndpoint(b, config.PoPDPoP) {
		// A key of this run only: RFC 9449 §5 binds the refresh token of a
		// confidential client to nothing, so the sidecar can use it with
		// its own key. A public client's refresh token would be bound to
		// this key and useless to the sidecar; say so rather than fail later.
		if b.ClientAuth.Method == config.AuthNone {
			return nil, creds, fmt.Errorf("pop.type dpop with clientAuth.method none: the provider binds a public client's refresh token to the DPoP key of this run, which the sidecar does not have")
		}
		prover, err := signing.NewDPoPProver()
		if err != nil {
			return nil, creds, fmt.Errorf("pop: %w", err)
		}
		opts.DPoP = func(method, htu, nonce string) (string, error) { return prover.Proof(method, htu, "", nonce) }
	}
	c, err := oauth.NewClient(opts)
	if err != nil {
		return nil, creds, fmt.Errorf("tokenEndpoint: %w", err)
	}
	return c, creds, nil
}

func popOnTokenEndpoint(b *config.Binding, typ string) bool {
	p := b.PoP
	return p != nil && p.Type == typ && p.OnTokenEndpoint != nil && *p.OnTokenEndpoint
}
