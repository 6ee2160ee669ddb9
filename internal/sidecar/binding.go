package sidecar

import (
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
	"github.com/oauth-injector/oauth-injector/internal/signing"
)

// binding is the runtime of one config.Binding: its listener's handler, its
// token cache and its signers. Everything that rotates (keys, client
// certificates, OAuth 1.0a secrets) sits behind an atomic pointer so the
// request path never takes a lock for it.
type binding struct {
	cfg      *config.Binding
	log      *zap.Logger
	files    *fileStore
	metrics  *bindingMetrics
	upstream *url.URL

	key        atomic.Pointer[crypto.Signer]
	clientCert atomic.Pointer[tls.Certificate]
	oauth1     atomic.Pointer[signing.OAuth1Signer]

	client *oauth.Client
	tokens *refresher.Cache
	// shared is the second cache level behind every token cache, nil without
	// sharedCache; kept here for key reloads and shutdown.
	shared *sharedLevel
	taap   *pop.Builder
	dpop   *signing.DPoPProver
	mac    signing.MACSigner
	// placed caches the current token's header values (bearer placement).
	placed placedHeaders
	// dpopNonce is the latest DPoP-Nonce the resource server sent (RFC 9449 §9).
	dpopNonce atomic.Pointer[string]
	// refreshToken remembers a rotated refresh token across invalidations;
	// it is memory-only by design (tokens never touch disk).
	refreshToken refreshChain
	// ops picks each request's token by its operation; nil without
	// operations, and then the request path never looks at it.
	ops *opRouter

	base *headerTimeout
	// proxy forwards the requests that ask for a protocol upgrade; every
	// other request takes the direct path (forward.go).
	proxy   *httputil.ReverseProxy
	handler http.Handler
	// subjectHeader carries the CIBA login_hint or the per-user subject.
	subjectHeader string
	now           func() time.Time
	// clientLevel is true when one token serves every request, so the
	// startup probe can wait for it.
	clientLevel bool

	guard  *requestGuard
	bodies *bodyBuffer
}

// bindingEnv is what every binding of one Server shares.
type bindingEnv struct {
	log     *zap.Logger
	metrics *Metrics
	now     func() time.Time
	after   afterFunc
	bodies  *bodyBuffer
}

type rotatedRT struct {
	fileSum string // the file content this token descends from
	token   string
}

func newBinding(cfg *config.Binding, env bindingEnv) (*binding, error) {
	b := &binding{cfg: cfg, log: env.log.With(zap.String("binding", cfg.Name)), files: newFileStore(),
		metrics: env.metrics.forBinding(cfg.Name), now: env.now, bodies: env.bodies}
	var err error
	if b.upstream, err = url.Parse(cfg.Upstream.URL); err != nil {
		return nil, fmt.Errorf("upstream.url: %w", err)
	}
	if err := b.loadFiles(); err != nil {
		return nil, err
	}
	if err := b.loadKey(); err != nil {
		return nil, err
	}
	if err := b.loadClientCert(); err != nil {
		return nil, err
	}
	if err := b.loadOAuth1(); err != nil {
		return nil, err
	}
	tr, err := b.newTransport("upstream", cfg.Upstream.CAFile, cfg.Upstream.Proxy, true)
	if err != nil {
		return nil, err
	}
	b.base = newHeaderTimeout(tr, cfg.Upstream.ResponseHeaderTimeout.Duration, env.after)
	if p := cfg.PoP; p != nil {
		switch p.Type {
		case config.PoPTAAP:
			rk, ok := b.signer().(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("privateKey.file: TAAP PoP needs an RSA key, got %T", b.signer())
			}
			if b.taap, err = pop.NewBuilder(rk, p.Sign, p.Lifetime.Duration); err != nil {
				return nil, fmt.Errorf("pop: %w", err)
			}
			b.taap.Now = b.now // one clock for token expiry and PoP iat/exp
		case config.PoPDPoP:
			if b.dpop, err = signing.NewDPoPProver(); err != nil {
				return nil, fmt.Errorf("pop: %w", err)
			}
		}
	}
	if err := b.newTokenSource(); err != nil {
		return nil, err
	}
	b.guard = newRequestGuard(cfg, b.subjectHeader)
	if cfg.AllowInsecureHTTP {
		b.log.Warn("allowInsecureHTTP is set: credentials to these hosts travel in cleartext", zap.Strings("http_hosts", cleartextHosts(cfg)))
	}
	b.proxy = &httputil.ReverseProxy{
		Rewrite:        b.rewrite,
		ModifyResponse: scrubResponse,
		Transport:      roundTripFunc(b.proxyRoundTrip),
		// 0 = flush when the copy buffer fills. ReverseProxy still flushes
		// every write of a response with no Content-Length (chunked exports,
		// server-sent events), so streaming keeps working without paying a
		// flush syscall on every small JSON response. The direct path
		// follows the same policy.
		FlushInterval: 0,
		BufferPool:    proxyBuffers,
		ErrorHandler:  b.proxyError,
		ErrorLog:      zap.NewStdLog(b.log.Named("proxy")),
	}
	b.handler = http.HandlerFunc(b.serveHTTP)
	return b, nil
}

// loadFiles reads every file the binding names, so a missing Secret key is
// reported at start-up with the config field that referenced it.
func (b *binding) loadFiles() error {
	c := b.cfg
	fs := sourceFiles("", c.ClientAuth, c.Grant)
	if k := c.PrivateKey; k != nil {
		fs = append(fs, fileRef{"privateKey.file", k.File}, fileRef{"privateKey.passphraseFile", k.PassphraseFile})
	}
	if o := c.OAuth1; o != nil {
		fs = append(fs, fileRef{"oauth1.consumerKeyFile", o.ConsumerKeyFile}, fileRef{"oauth1.consumerSecretFile", o.ConsumerSecretFile},
			fileRef{"oauth1.tokenFile", o.TokenFile}, fileRef{"oauth1.tokenSecretFile", o.TokenSecretFile})
	}
	if sc := c.SharedCache; sc != nil {
		// Watched so that a rotated key reloads the keyring; the previous
		// keys are optional Secret keys.
		fs = append(fs, fileRef{"sharedCache.encryption.keyFile", sc.Encryption.KeyFile})
		for _, p := range sc.Encryption.PreviousKeyFiles {
			if err := b.files.addOptional(p); err != nil {
				return fmt.Errorf("sharedCache.encryption.previousKeyFiles: %w", err)
			}
		}
	}
	for i, p := range c.Providers {
		fs = append(fs, sourceFiles(fmt.Sprintf("providers[%d].", i), p.ClientAuth, p.Grant)...)
	}
	for _, px := range c.ProxySections() {
		fs = append(fs, fileRef{px.Dest + ".proxy.usernameFile", px.Proxy.UsernameFile}, fileRef{px.Dest + ".proxy.passwordFile", px.Proxy.PasswordFile})
	}
	for _, x := range fs {
		if err := b.files.add(x.field, x.path); err != nil {
			return err
		}
	}
	return nil
}

// fileRef is a credential file and the config field that names it.
type fileRef struct{ field, path string }

// sourceFiles are the files of a token source, the binding's own (prefix
// "") or a provider's.
func sourceFiles(prefix string, a config.ClientAuth, g config.Grant) []fileRef {
	fs := []fileRef{
		{prefix + "clientAuth.clientIDFile", a.ClientIDFile},
		{prefix + "clientAuth.clientSecretFile", a.ClientSecretFile},
		{prefix + "clientAuth.tlsCertFile", a.TLSCertFile},
		{prefix + "clientAuth.tlsKeyFile", a.TLSKeyFile},
	}
	if p := g.Password; p != nil {
		fs = append(fs, fileRef{prefix + "grant.password.usernameFile", p.UsernameFile}, fileRef{prefix + "grant.password.passwordFile", p.PasswordFile})
	}
	if r := g.RefreshToken; r != nil {
		fs = append(fs, fileRef{prefix + "grant.refreshToken.file", r.File})
	}
	return fs
}

func (b *binding) signer() crypto.Signer {
	if k := b.key.Load(); k != nil {
		return *k
	}
	return nil
}

func (b *binding) loadKey() error {
	k := b.cfg.PrivateKey
	if k == nil {
		return nil
	}
	var pass []byte
	if k.PassphraseFile != "" {
		pass = []byte(b.files.text(k.PassphraseFile))
	}
	s, err := pop.ParsePrivateKey(b.files.bytes(k.File), pass)
	if err != nil {
		return fmt.Errorf("privateKey.file %s: %w", k.File, err)
	}
	b.key.Store(&s)
	if b.taap != nil {
		rk, ok := s.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("privateKey.file %s: TAAP PoP needs an RSA key, got %T", k.File, s)
		}
		b.taap.SetKey(rk)
	}
	return nil
}

func (b *binding) loadClientCert() error {
	a := b.cfg.ClientAuth
	if a.TLSCertFile == "" {
		return nil
	}
	c, err := tls.X509KeyPair(b.files.bytes(a.TLSCertFile), b.files.bytes(a.TLSKeyFile))
	if err != nil {
		return fmt.Errorf("clientAuth.tlsCertFile/tlsKeyFile: not a matching PEM certificate and key: %w", err)
	}
	b.clientCert.Store(&c)
	return nil
}

func (b *binding) loadOAuth1() error {
	o := b.cfg.OAuth1
	if o == nil {
		return nil
	}
	p := signing.OAuth1Params{
		SignatureMethod: o.SignatureMethod,
		ConsumerKey:     b.files.text(o.ConsumerKeyFile),
		ConsumerSecret:  b.files.text(o.ConsumerSecretFile),
		Token:           b.files.text(o.TokenFile),
		TokenSecret:     b.files.text(o.TokenSecretFile),
	}
	if rk, ok := b.signer().(*rsa.PrivateKey); ok {
		p.RSAKey = rk
	}
	s, err := signing.NewOAuth1Signer(p)
	if err != nil {
		return fmt.Errorf("oauth1: %w", err)
	}
	b.oauth1.Store(s)
	return nil
}

// reload re-derives whatever depends on changed files. A failed reload keeps
// the previous material: a half-rotated Secret must not take the binding down.
func (b *binding) reload(changed []string) {
	set := map[string]bool{}
	for _, p := range changed {
		set[p] = true
	}
	c := b.cfg
	if k := c.PrivateKey; k != nil && (set[k.File] || set[k.PassphraseFile]) {
		if err := b.loadKey(); err != nil {
			b.metrics.reload("error")
			b.log.Error("private key reload failed; keeping the previous key", zap.Error(err))
		} else {
			b.metrics.reload("success")
			b.log.Info("private key reloaded")
		}
		if err := b.loadOAuth1(); err != nil {
			b.log.Error("oauth1 reload failed", zap.Error(err))
		}
	}
	if set[c.ClientAuth.TLSCertFile] || set[c.ClientAuth.TLSKeyFile] {
		if err := b.loadClientCert(); err != nil {
			b.metrics.reload("error")
			b.log.Error("client certificate reload failed; keeping the previous one", zap.Error(err))
		} else {
			b.metrics.reload("success")
			b.log.Info("client certificate reloaded")
		}
	}
	if o := c.OAuth1; o != nil && (set[o.ConsumerKeyFile] || set[o.ConsumerSecretFile] || set[o.TokenFile] || set[o.TokenSecretFile]) {
		if err := b.loadOAuth1(); err != nil {
			b.metrics.reload("error")
			b.log.Error("oauth1 reload failed; keeping the previous credentials", zap.Error(err))
		} else {
			b.metrics.reload("success")
			b.log.Info("oauth1 credentials reloaded")
		}
	}
	if b.shared != nil {
		if did, err := b.shared.reload(set); err != nil {
			b.metrics.reload("error")
			b.log.Error("shared cache key reload failed; keeping the previous keys", zap.Error(err))
		} else if did {
			b.metrics.reload("success")
		}
	}
	if set[c.ClientAuth.ClientIDFile] || set[c.ClientAuth.ClientSecretFile] || proxyFilesChanged(c, set) {
		// Read on every token request or proxy tunnel; nothing to rebuild.
		b.metrics.reload("success")
		b.log.Info("client credentials reloaded")
	}
}

// newTransport builds the pooled transport for one destination, named by
// its config path ("upstream", "tokenEndpoint" or
// "providers[i].tokenEndpoint"), through its proxy section px if any.
// mtls presents the binding's client certificate (clientAuth.tlsCertFile).
// The pool is sized for a busy app on one host; compression is left to the
// app so the proxy never re-encodes bodies.
func (b *binding) newTransport(dest, caFile string, px *config.Proxy, mtls bool) (http.RoundTripper, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s.caFile: %w", dest, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.caFile %s: no PEM certificates found", dest, caFile)
		}
		tc.RootCAs = pool
	}
	if mtls && b.cfg.ClientAuth.TLSCertFile != "" {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return b.clientCert.Load(), nil
		}
	}
	tr := &http.Transport{
		Proxy:                 nil, // only the binding's proxy section (below) routes through a proxy
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return b.route(dest, px, tr)
}

// proxyBuffers recycles the 32 KiB copy buffers; without it every proxied
// response allocates one. The pool holds array pointers, so putting one
// back boxes nothing (a []byte would be boxed into a new interface value
// on every Put).
var proxyBuffers = &bufferPool{p: sync.Pool{New: func() any { return new(copyBuffer) }}}

type copyBuffer [32 << 10]byte

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) get() *copyBuffer  { return b.p.Get().(*copyBuffer) }
func (b *bufferPool) put(x *copyBuffer) { b.p.Put(x) }

// Get and Put make it an httputil.BufferPool, for ReverseProxy.
func (b *bufferPool) Get() []byte { return b.get()[:] }
func (b *bufferPool) Put(x []byte) {
	if len(x) == len(copyBuffer{}) {
		b.put((*copyBuffer)(x))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cleartextHosts lists the non-loopback http:// hosts the binding sends
// credentials to, for the allowInsecureHTTP warning.
func cleartextHosts(cfg *config.Binding) []string {
	urls := []string{cfg.Upstream.URL}
	if te := cfg.TokenEndpoint; te != nil {
		urls = append(urls, te.URL)
	}
	for _, p := range cfg.Providers {
		if p.TokenEndpoint != nil {
			urls = append(urls, p.TokenEndpoint.URL)
		}
	}
	if c := cfg.Grant.CIBA; c != nil {
		urls = append(urls, c.AuthorizeURL)
	}
	var hosts []string
	for _, raw := range urls {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "http" && !config.IsLoopbackHost(u.Hostname()) {
			hosts = append(hosts, u.Host)
		}
	}
	return hosts
}
