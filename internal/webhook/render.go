// Package webhook turns a pod that asks for OAuthClientBindings into a pod
// with the oauth-injector native sidecar: Mutate is a pure function over the
// pod and the bindings, RenderConfig maps binding specs onto the sidecar's
// config schema (internal/config), and NewHandler wraps both as a
// controller-runtime admission handler.
package webhook

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// MountRoot is where the sidecar finds its credential files:
// <MountRoot>/<binding>/<secret-name>/<key>.
const MountRoot = config.MountRoot

// serviceAccountDir is the per-binding directory of a projected service
// account token. The underscore cannot occur in a Secret name, so it never
// collides with a Secret's directory.
const serviceAccountDir = "_serviceaccount"

// fileMode of mounted credentials. 0400 would leave the root-owned files
// unreadable to the sidecar, which runs as 65532 without an fsGroup (setting
// one would change the app's volumes too). The volumes are mounted only into
// the sidecar, so world-readable inside that one container exposes nothing
// to the app containers.
var fileMode = int32(0o444)

// RenderConfig renders the sidecar configuration for bindings (in order) and
// the volumes and sidecar mounts that back its file paths. The config holds
// only file paths, never Secret contents. It fails with a *Denial naming the
// binding when a spec cannot be rendered into a valid config.
func RenderConfig(pod *corev1.Pod, bindings []v1alpha1.OAuthClientBinding) (*config.Config, []corev1.Volume, []corev1.VolumeMount, error) {
	_ = pod // the rendering depends on the bindings alone today; the pod is part of the contract for pod-derived settings
	cfg := &config.Config{Version: config.Version, Admin: config.Admin{Listen: fmt.Sprintf(":%d", v1alpha1.AdminPort)}}
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	for i := range bindings {
		r, err := renderBinding(&bindings[i])
		if err != nil {
			return nil, nil, nil, err
		}
		cfg.Bindings = append(cfg.Bindings, r.binding)
		vols = append(vols, r.volumes...)
		mounts = append(mounts, r.mounts...)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		// Each binding was validated alone, so what is left is an
		// interaction between bindings, such as a shared listenPort.
		return nil, nil, nil, &Denial{Reason: ReasonInvalidBinding, Message: fmt.Sprintf("the bindings %s do not combine into a valid sidecar configuration: %v", quotedNames(bindings), err)}
	}
	return cfg, vols, mounts, nil
}

// ValidateBinding reports whether one binding renders into a valid sidecar
// configuration; the controller uses it for the InvalidSpec condition. The
// error is a *Denial whose message names the binding and the field.
func ValidateBinding(b *v1alpha1.OAuthClientBinding) error {
	_, err := renderBinding(b)
	return err
}

type rendered struct {
	binding config.Binding
	volumes []corev1.Volume
	mounts  []corev1.VolumeMount
}

func renderBinding(b *v1alpha1.OAuthClientBinding) (*rendered, error) {
	r := &renderer{name: b.Name, namespace: b.Namespace, secrets: map[string]map[string]bool{}}
	cb := r.binding(&b.Spec)
	if r.err != nil {
		return nil, invalidBinding(b.Name, r.err)
	}
	// Validate alone first so a problem is attributed to this binding.
	one := &config.Config{Version: config.Version, Admin: config.Admin{Listen: fmt.Sprintf(":%d", v1alpha1.AdminPort)}, Bindings: []config.Binding{cb}}
	one.SetDefaults()
	if err := one.Validate(); err != nil {
		return nil, invalidBinding(b.Name, err)
	}
	out := &rendered{binding: one.Bindings[0]}
	out.volumes, out.mounts = r.volumes()
	return out, nil
}

func invalidBinding(name string, err error) *Denial {
	return &Denial{Reason: ReasonInvalidBinding, Message: fmt.Sprintf("binding %q does not render into a valid sidecar configuration (fix the OAuthClientBinding spec): %v", name, err)}
}

// renderer maps one binding and records which Secret keys its file paths
// need, so each Secret becomes one volume projecting only those keys.
type renderer struct {
	name      string                     // the binding's name
	namespace string                     // the binding's namespace
	secrets   map[string]map[string]bool // secret name -> key -> optional
	order     []string                   // secret names in first-use order
	saToken   *v1alpha1.ServiceAccountTokenSubject
	err       error
}

func (r *renderer) binding(s *v1alpha1.OAuthClientBindingSpec) config.Binding {
	cb := config.Binding{
		Name:       r.name,
		ListenPort: int(s.ListenPort),
		Upstream: config.Upstream{URL: s.Upstream.URL, AllowTrace: s.Upstream.AllowTrace,
			ResponseHeaderTimeout: dur(s.Upstream.ResponseHeaderTimeout)},
		AllowInsecureHTTP: s.AllowInsecureHTTP,
	}
	if ca := s.Upstream.CASecretRef; ca != nil {
		cb.Upstream.CAFile = r.file(ca.Name, keyOr(ca.Key, "ca.crt"))
	}
	cb.Upstream.Proxy = r.proxy(s.Upstream.Proxy)
	if te := s.TokenEndpoint; te != nil {
		cb.TokenEndpoint = r.tokenEndpoint(te)
	}
	cb.Grant = r.grant(&s.Grant)
	if ca := s.ClientAuth; ca != nil {
		cb.ClientAuth = r.clientAuth(ca)
	} else {
		cb.ClientAuth.Method = config.AuthNone
	}
	if pk := s.PrivateKey; pk != nil {
		cb.PrivateKey = &config.PrivateKey{File: r.file(pk.SecretRef.Name, keyOr(pk.SecretRef.Key, "private.pem"))}
		if pk.SecretRef.PassphraseKey != "" {
			cb.PrivateKey.PassphraseFile = r.file(pk.SecretRef.Name, pk.SecretRef.PassphraseKey)
		}
	}
	cb.PoP = r.pop(s.ProofOfPossession)
	if tp := s.TokenPlacement; tp != nil {
		cb.TokenPlacement = config.TokenPlacement{In: strings.ToLower(string(tp.In)), IDTokenHeader: string(tp.IDTokenHeader)}
	}
	if o := s.OAuth1; o != nil {
		cb.OAuth1 = r.oauth1(o)
	}
	if rf := s.Refresh; rf != nil {
		cb.Refresh = config.Refresh{
			Before:            dur(rf.Before),
			ExpirySkew:        dur(rf.ExpirySkew),
			MinInterval:       dur(rf.MinInterval),
			MaxCallsPerSecond: int(deref(rf.MaxCallsPerSecond)),
		}
	}
	if sc := s.SharedCache; sc != nil {
		cb.SharedCache = r.sharedCache(sc)
	}
	r.operations(s, &cb)
	return cb
}

func (r *renderer) sharedCache(sc *v1alpha1.SharedCache) *config.SharedCache {
	enc := sc.EncryptionKeySecretRef
	out := &config.SharedCache{
		Address:   sc.Address,
		KeyPrefix: sc.KeyPrefix,
		Namespace: r.namespace,
		Timeout:   dur(sc.Timeout),
		Encryption: config.SharedCacheEncryption{
			KeyFile:          r.file(enc.Name, keyOr(enc.CurrentKey, "current")),
			PreviousKeyFiles: []string{r.optionalFile(enc.Name, keyOr(enc.PreviousKey, "previous"))},
		},
	}
	if a := sc.AuthSecretRef; a != nil {
		out.PasswordFile = r.file(a.Name, keyOr(a.PasswordKey, "password"))
		if a.UsernameKey != "" {
			out.UsernameFile = r.file(a.Name, a.UsernameKey)
		}
	}
	if t := sc.TLS; t != nil {
		out.TLS = &config.SharedCacheTLS{ServerName: t.ServerName}
		if ca := t.CASecretRef; ca != nil {
			out.TLS.CAFile = r.file(ca.Name, keyOr(ca.Key, "ca.crt"))
		}
	}
	return out
}

func (r *renderer) tokenEndpoint(te *v1alpha1.TokenEndpoint) *config.TokenEndpoint {
	out := &config.TokenEndpoint{URL: te.URL, Method: te.Method, ExtraParams: copyMap(te.ExtraParams)}
	if ca := te.CASecretRef; ca != nil {
		out.CAFile = r.file(ca.Name, keyOr(ca.Key, "ca.crt"))
	}
	out.Proxy = r.proxy(te.Proxy)
	return out
}

var grantTypes = map[v1alpha1.GrantType]string{
	v1alpha1.GrantClientCredentials: config.GrantClientCredentials,
	v1alpha1.GrantPassword:          config.GrantPassword,
	v1alpha1.GrantRefreshToken:      config.GrantRefreshToken,
	v1alpha1.GrantCIBA:              config.GrantCIBA,
	v1alpha1.GrantTokenExchange:     config.GrantTokenExchange,
	v1alpha1.GrantJWTBearer:         config.GrantJWTBearer,
	v1alpha1.GrantNone:              config.GrantNone,
}

// loginHintFormats maps the CRD's spelling; "" stays "" for the config
// default.
var loginHintFormats = map[v1alpha1.LoginHintFormat]string{
	"":                            "",
	v1alpha1.LoginHintOpenGateway: config.LoginHintOpenGateway,
	v1alpha1.LoginHintOpaque:      config.LoginHintOpaque,
}

func (r *renderer) grant(g *v1alpha1.Grant) config.Grant {
	t, ok := grantTypes[g.Type]
	if !ok {
		// Passed through so config.Validate explains it (including the
		// implicit grant) with the field path.
		t = strings.ToLower(string(g.Type))
	}
	out := config.Grant{Type: t, Scopes: append([]string(nil), g.Scopes...)}
	if p := g.Password; p != nil {
		out.Password = &config.PasswordGrant{
			UsernameFile: r.file(p.SecretRef.Name, keyOr(p.SecretRef.UsernameKey, "username")),
			PasswordFile: r.file(p.SecretRef.Name, keyOr(p.SecretRef.PasswordKey, "password")),
		}
	}
	if rt := g.RefreshToken; rt != nil {
		out.RefreshToken = &config.RefreshGrant{File: r.file(rt.SecretRef.Name, keyOr(rt.SecretRef.Key, "refresh_token"))}
	}
	if c := g.CIBA; c != nil {
		out.CIBA = &config.CIBAGrant{
			AuthorizeURL: c.AuthorizeURL,
			Purpose:      c.Purpose,
			MaxWait:      dur(c.MaxWait),
			ExtraParams:  copyMap(c.ExtraParams),
			CacheSize:    int(deref(c.CacheSize)),
			MaxPending:   int(deref(c.MaxPending)),
		}
		if f, ok := loginHintFormats[c.LoginHintFormat]; ok {
			out.CIBA.LoginHintFormat = f
		} else {
			out.CIBA.LoginHintFormat = string(c.LoginHintFormat) // config.Validate names it
		}
		if c.LoginHintFrom != nil {
			out.CIBA.LoginHintHeader = string(c.LoginHintFrom.Header)
		}
	}
	if te := g.TokenExchange; te != nil {
		out.TokenExchange = r.tokenExchange(te)
	}
	if j := g.JWTBearer; j != nil {
		out.JWTBearer = &config.JWTBearer{
			Subject:   j.Subject,
			Audience:  j.Audience,
			Algorithm: string(j.Algorithm),
			KeyID:     j.KeyID,
			Lifetime:  dur(j.Lifetime),
			CacheSize: int(deref(j.CacheSize)),
		}
		if j.SubjectFrom != nil {
			out.JWTBearer.SubjectHeader = string(j.SubjectFrom.Header)
		}
	}
	return out
}

func (r *renderer) tokenExchange(te *v1alpha1.TokenExchangeGrant) *config.TokenExchange {
	out := &config.TokenExchange{
		GrantType:          te.GrantType,
		Provider:           te.Provider,
		Audience:           te.Audience,
		RequestedTokenType: te.RequestedTokenType,
		SubjectTokenType:   te.SubjectTokenType,
	}
	if out.GrantType == "" {
		out.GrantType = config.TokenExchangeRFC8693
	}
	if sa := te.SubjectToken.ServiceAccountToken; sa != nil {
		r.saToken = sa
		out.SubjectToken.File = path.Join(MountRoot, r.name, serviceAccountDir, "token")
	}
	if m := te.SubjectToken.Mint; m != nil {
		out.SubjectToken.Mint = &config.MintSubject{
			Issuer:    m.Issuer,
			Audience:  m.Audience,
			Lifetime:  dur(m.Lifetime),
			CacheSize: int(deref(m.CacheSize)),
		}
		if m.SubjectFrom != nil {
			out.SubjectToken.Mint.SubjectHeader = string(m.SubjectFrom.Header)
		}
	}
	return out
}

var authMethods = map[v1alpha1.ClientAuthMethod]string{
	v1alpha1.ClientSecretBasic: config.AuthClientSecretBasic,
	v1alpha1.ClientSecretPost:  config.AuthClientSecretPost,
	v1alpha1.ClientSecretJWT:   config.AuthClientSecretJWT,
	v1alpha1.PrivateKeyJWT:     config.AuthPrivateKeyJWT,
	v1alpha1.TLSClientAuth:     config.AuthTLSClientAuth,
	v1alpha1.ClientAuthNone:    config.AuthNone,
	// The CRD defaults an omitted method to ClientSecretBasic; a binding
	// built in Go without defaulting means the same.
	"": config.AuthClientSecretBasic,
}

func (r *renderer) clientAuth(ca *v1alpha1.ClientAuth) config.ClientAuth {
	m, ok := authMethods[ca.Method]
	if !ok {
		m = string(ca.Method)
	}
	out := config.ClientAuth{Method: m, Audience: ca.Audience}
	// A public client's ID is mounted too when a secretRef names it (the
	// controller already requires the key): it identifies the client, and
	// the JWTBearer grant signs it as iss.
	if ref := ca.SecretRef; ref != nil {
		out.ClientIDFile = r.file(ref.Name, keyOr(ref.ClientIDKey, "client_id"))
		if m == config.AuthClientSecretBasic || m == config.AuthClientSecretPost || m == config.AuthClientSecretJWT {
			out.ClientSecretFile = r.file(ref.Name, keyOr(ref.ClientSecretKey, "client_secret"))
		}
	}
	if t := ca.TLSSecretRef; t != nil {
		out.TLSCertFile = r.file(t.Name, corev1.TLSCertKey)
		out.TLSKeyFile = r.file(t.Name, corev1.TLSPrivateKeyKey)
	}
	return out
}

func (r *renderer) pop(p *v1alpha1.ProofOfPossession) *config.PoP {
	if p == nil {
		return nil
	}
	switch p.Type {
	case v1alpha1.PoPNone, "":
		return nil
	case v1alpha1.PoPDPoP:
		return &config.PoP{Type: config.PoPDPoP}
	case v1alpha1.PoPTAAP:
		out := &config.PoP{Type: config.PoPTAAP}
		if t := p.TAAP; t != nil {
			out.Header = string(t.Header)
			for _, s := range t.Sign {
				out.Sign = append(out.Sign, string(s))
			}
			if t.OnTokenEndpoint != nil {
				v := *t.OnTokenEndpoint
				out.OnTokenEndpoint = &v
			}
			out.Lifetime = dur(t.Lifetime)
			if q := t.MaxBodyBytes; q != nil {
				n, ok := q.AsInt64()
				if !ok || n <= 0 {
					r.fail(fmt.Errorf("proofOfPossession.taap.maxBodyBytes: must be a positive whole number of bytes such as 1Mi, got %s", q.String()))
				}
				out.MaxBodyBytes = n
			}
		}
		return out
	default:
		return &config.PoP{Type: strings.ToLower(string(p.Type))}
	}
}

func (r *renderer) oauth1(o *v1alpha1.OAuth1) *config.OAuth1 {
	method := string(o.SignatureMethod)
	if method == "" {
		method = config.OAuth1HMACSHA1
	}
	rsa := strings.HasPrefix(method, "RSA-")
	c := o.ConsumerSecretRef
	out := &config.OAuth1{SignatureMethod: method, ConsumerKeyFile: r.file(c.Name, keyOr(c.KeyKey, "consumer_key"))}
	if !rsa {
		out.ConsumerSecretFile = r.file(c.Name, keyOr(c.SecretKey, "consumer_secret"))
	}
	if t := o.TokenSecretRef; t != nil {
		out.TokenFile = r.file(t.Name, keyOr(t.TokenKey, "token"))
		if !rsa {
			out.TokenSecretFile = r.file(t.Name, keyOr(t.SecretKey, "token_secret"))
		}
	}
	return out
}

func (r *renderer) proxy(p *v1alpha1.EgressProxy) *config.Proxy {
	if p == nil {
		return nil
	}
	out := &config.Proxy{URL: p.URL, FromEnvironment: p.FromEnvironment}
	if c := p.CredentialsSecretRef; c != nil {
		out.UsernameFile = r.file(c.Name, keyOr(c.UsernameKey, "username"))
		out.PasswordFile = r.file(c.Name, keyOr(c.PasswordKey, "password"))
	}
	return out
}

func (r *renderer) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func keyOr(k v1alpha1.SecretKey, def string) v1alpha1.SecretKey {
	if k == "" {
		return v1alpha1.SecretKey(def)
	}
	return k
}

func dur(d *metav1.Duration) config.Duration {
	if d == nil {
		return config.Duration{}
	}
	return config.Duration{Duration: d.Duration}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func quotedNames(bs []v1alpha1.OAuthClientBinding) string {
	names := make([]string, len(bs))
	for i := range bs {
		names[i] = fmt.Sprintf("%q", bs[i].Name)
	}
	return strings.Join(names, ", ")
}
