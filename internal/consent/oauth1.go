package consent

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// maxOAuth1Response bounds a credentials response: two tokens and a flag.
const maxOAuth1Response = 64 << 10

// runOAuth1 is the RFC 5849 §2 redirection flow: temporary credentials,
// the person's authorization, then token credentials.
func runOAuth1(ctx context.Context, b *config.Binding, o *Options) (*Result, error) {
	ob := b.OAuth1
	if o.SecretKey != "" {
		return nil, errors.New("--secret-key names the OAuth 2 refresh token's key; the OAuth 1.0a keys are the file names of oauth1.tokenFile and oauth1.tokenSecretFile")
	}
	if o.Scopes != nil || o.Prompt != "" || o.OfflineAccess {
		return nil, fmt.Errorf("--scope, --prompt and --offline-access are for OAuth 2; binding %q uses OAuth 1.0a", b.Name)
	}
	// Each file the binding reads, and the §2.3 response parameter for it.
	var refs []SecretRef
	var wanted []string
	for _, f := range []struct{ field, file, param string }{
		{"oauth1.tokenFile", ob.TokenFile, "oauth_token"},
		{"oauth1.tokenSecretFile", ob.TokenSecretFile, "oauth_token_secret"},
	} {
		if f.file == "" {
			continue // RSA methods sign without the token secret
		}
		r, err := refForFile(b.Name, f.field, f.file, o.SecretName, "")
		if err != nil {
			return nil, err
		}
		refs, wanted = append(refs, r), append(wanted, f.param)
	}
	if len(refs) == 2 && refs[0] == refs[1] {
		return nil, fmt.Errorf("oauth1.tokenFile and oauth1.tokenSecretFile map to the same Secret key %s/%s", refs[0].Name, refs[0].Key)
	}
	var endpoints [3]*url.URL
	for i, f := range []struct{ flag, raw string }{{"--request-token-url", o.RequestTokenURL}, {"--authorize-url", o.AuthorizeURL}, {"--access-token-url", o.AccessTokenURL}} {
		var err error
		if endpoints[i], err = endpointURL(b, f.flag, f.raw, "oauth_token"); err != nil {
			return nil, err
		}
	}
	params, err := consumerParams(b)
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(b, "upstream", b.Upstream.CAFile, b.Upstream.Proxy)
	if err != nil {
		return nil, err
	}

	callback := "oob"
	var rcv *receiver
	// The temporary token, which the callback check needs, exists only
	// after the listener does: the callback URL is part of its request.
	var tempToken atomic.Pointer[string]
	if !o.OOB {
		check := func(q url.Values) (url.Values, error) {
			want := ""
			if t := tempToken.Load(); t != nil {
				want = *t
			}
			return checkVerifierResponse(q, want)
		}
		if rcv, err = listen(o.RedirectPort, check); err != nil {
			return nil, err
		}
		defer rcv.close()
		callback = rcv.URL
	}
	fmt.Fprintf(o.Out, "Binding %q: OAuth 1.0a three-legged (RFC 5849 §2), callback %s\n", b.Name, callback)
	temp, err := credentialsCall(ctx, hc, params, endpoints[0], "temporary credentials request", map[string]string{"oauth_callback": callback})
	if err != nil {
		return nil, err
	}
	if temp.Get("oauth_callback_confirmed") != "true" {
		// §2.1: MUST be present and "true"; without it the provider may
		// ignore our callback (the OAuth 1.0 session fixation flaw).
		return nil, fmt.Errorf("temporary credentials request: %s answered without oauth_callback_confirmed=true (RFC 5849 §2.1); it does not speak OAuth 1.0a", redacted(endpoints[0]))
	}
	tempToken.Store(new(temp.Get("oauth_token")))

	o.present(withQuery(endpoints[1], url.Values{"oauth_token": {temp.Get("oauth_token")}}))
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	var verifier string
	if rcv != nil {
		fmt.Fprintf(o.Out, "Waiting up to %s for the provider to redirect to %s...\n", o.Timeout, rcv.URL)
		var q url.Values
		if q, err = rcv.wait(wctx, o.Timeout); err == nil {
			verifier = q.Get("oauth_verifier")
		}
	} else {
		verifier, err = readVerifier(wctx, o)
	}
	cancel()
	if err != nil {
		return nil, err
	}

	params.Token, params.TokenSecret = temp.Get("oauth_token"), temp.Get("oauth_token_secret")
	tok, err := credentialsCall(ctx, hc, params, endpoints[2], "token credentials request", map[string]string{"oauth_verifier": verifier})
	if err != nil {
		return nil, err
	}
	values := make([]string, len(wanted))
	for i, p := range wanted {
		values[i] = tok.Get(p)
	}
	return &Result{Flow: FlowOAuth1, Secrets: secretsFor(o.Namespace, refs, values)}, nil
}

// consumerParams are the binding's client credentials (RFC 5849 §1.1).
func consumerParams(b *config.Binding) (signing.OAuth1Params, error) {
	ob := b.OAuth1
	p := signing.OAuth1Params{SignatureMethod: ob.SignatureMethod}
	var err error
	if p.ConsumerKey, err = readText("oauth1.consumerKeyFile", ob.ConsumerKeyFile); err != nil {
		return p, err
	}
	if p.ConsumerSecret, err = readText("oauth1.consumerSecretFile", ob.ConsumerSecretFile); err != nil {
		return p, err
	}
	key, err := loadKey(b)
	if err != nil {
		return p, err
	}
	if rk, ok := key.(*rsa.PrivateKey); ok {
		p.RSAKey = rk
	}
	if _, err := signing.NewOAuth1Signer(p); err != nil { // fail before the browser opens
		return p, err
	}
	return p, nil
}

// checkVerifierResponse reads the §2.2 redirect. oauth_token plays the part
// of OAuth 2's state: it must be the temporary credential this run asked
// the person to authorize.
func checkVerifierResponse(q url.Values, tempToken string) (url.Values, error) {
	// OAuth 1.0a has no standard refusal; providers redirect with
	// denied=<token> (Twitter, Flickr) or an oauth_problem (the OAuth
	// Problem Reporting extension), such as user_refused.
	if p := q.Get("oauth_problem"); p != "" {
		return nil, fmt.Errorf("%w: the provider redirected with oauth_problem=%s", ErrDenied, serverText(p, tempToken))
	}
	got := q.Get("oauth_token")
	if d := q.Get("denied"); d != "" {
		got = d
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(tempToken)) != 1 {
		return nil, fmt.Errorf("%w: the callback's oauth_token is not the temporary credential this run asked the person to authorize (a stale browser tab, or a redirect this run did not start); run injector consent again", ErrStateMismatch)
	}
	if q.Has("denied") {
		return nil, fmt.Errorf("%w: the provider redirected with denied=<this run's token>", ErrDenied)
	}
	if q.Get("oauth_verifier") == "" {
		return nil, errors.New("the callback carries no oauth_verifier")
	}
	return q, nil
}

// readVerifier takes the out-of-band verifier the provider showed the person.
func readVerifier(ctx context.Context, o *Options) (string, error) {
	fmt.Fprint(o.Out, "Type the verification code the provider shows, then press Enter: ")
	if o.Stdin == nil {
		return "", errors.New("--oob needs a terminal to type the verification code into")
	}
	line := make(chan string, 1)
	go func() {
		// A read blocked on the terminal cannot be cancelled; the process
		// ends soon after a timeout anyway.
		s, _ := bufio.NewReader(o.Stdin).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case v := <-line:
		if v == "" {
			return "", errors.New("no verification code was typed")
		}
		return v, nil
	case <-ctx.Done():
		return "", waitError(ctx, "no verification code was typed", o.Timeout)
	}
}

// credentialsCall sends one signed §2.1 or §2.3 request and returns the
// form-encoded credentials; what names the step in errors.
func credentialsCall(ctx context.Context, hc *http.Client, p signing.OAuth1Params, endpoint *url.URL, what string, extra map[string]string) (url.Values, error) {
	secrets := []string{p.ConsumerSecret, p.Token, p.TokenSecret, extra["oauth_verifier"]}
	s, err := signing.NewOAuth1Signer(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "oauth-injector")
	if err := s.SignWith(req, nil, extra); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: POST %s: %w", what, redacted(endpoint), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOAuth1Response+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer of %s: %w", what, redacted(endpoint), err)
	}
	if len(body) > maxOAuth1Response {
		return nil, fmt.Errorf("%s: the answer of %s exceeds %d bytes", what, redacted(endpoint), maxOAuth1Response)
	}
	form, formErr := url.ParseQuery(strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		detail := serverText(string(body), secrets...)
		if formErr == nil && form.Get("oauth_problem") != "" {
			detail = "oauth_problem=" + serverText(form.Get("oauth_problem"), secrets...)
		}
		if detail != "" {
			detail = ": " + detail
		}
		return nil, fmt.Errorf("%s: %s answered %d%s", what, redacted(endpoint), resp.StatusCode, detail)
	}
	// §2.1 and §2.3 require both; only the RSA methods can do without the
	// secret's value, as they never sign with it.
	if formErr != nil || form.Get("oauth_token") == "" || !form.Has("oauth_token_secret") || form.Get("oauth_token_secret") == "" && p.RSAKey == nil {
		return nil, fmt.Errorf("%s: %s answered 200 without oauth_token and oauth_token_secret in a form-encoded body (RFC 5849 §2.1, §2.3)", what, redacted(endpoint))
	}
	return form, nil
}

// redacted is endpoint without its query, which may carry a session id.
func redacted(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}
