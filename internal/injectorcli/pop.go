package injectorcli

import (
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/pop"
)

// popCmd mints one TAAP PoP token, for debugging a partner integration by
// hand (curl -H "X-Authorization: $(injector pop ...)").
func popCmd(args []string, stdout io.Writer) error {
	fs := newFlagSet("pop")
	keyFile := fs.String("key", "", "PEM private key (PKCS#1, PKCS#8 or encrypted PKCS#8)")
	passFile := fs.String("passphrase-file", "", "file holding the key's passphrase")
	method := fs.String("method", "", "HTTP method, e.g. POST")
	rawURI := fs.String("uri", "", "request URI (path?query) or full URL")
	bodyFile := fs.String("body-file", "", "request body to sign")
	sign := fs.String("sign", "", "comma-separated sign list (default uri,http-method plus body when there is one)")
	lifetime := fs.Duration("lifetime", config.MaxPoPLifetime, "token lifetime, at most 120s")
	var headers headerList
	fs.Var(&headers, "header", "'Name: value' header; repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for name, v := range map[string]string{"--key": *keyFile, "--method": *method, "--uri": *rawURI} {
		if v == "" {
			return usageError{fmt.Errorf("%s is required", name)}
		}
	}
	u, err := url.Parse(*rawURI)
	if err != nil {
		return usageError{fmt.Errorf("--uri: %w", err)}
	}
	req := pop.Request{Method: strings.ToUpper(*method), URI: pop.URIValue(u), Header: http.Header{}}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return usageError{fmt.Errorf("--header %q: want 'Name: value'", h)}
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if *bodyFile != "" {
		if req.Body, err = os.ReadFile(*bodyFile); err != nil {
			return fmt.Errorf("--body-file: %w", err)
		}
	}
	signList := []string{"uri", "http-method"}
	if len(req.Body) > 0 {
		signList = append(signList, "body")
	}
	if *sign != "" {
		signList = strings.Split(*sign, ",")
		for _, s := range signList {
			if s != "uri" && s != "http-method" && s != "body" && req.Header.Get(s) == "" {
				return usageError{fmt.Errorf("--sign names header %q but no --header gives it a value", s)}
			}
		}
	}
	key, err := pop.LoadPrivateKey(*keyFile, *passFile)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return fmt.Errorf("--key: TAAP PoP tokens are RS256 and need an RSA key, got %T", key)
	}
	b, err := pop.NewBuilder(rk, signList, *lifetime)
	if err != nil {
		return err
	}
	tok, err := b.Mint(req)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
