package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/pop"
)

// secretRequirement is one Secret a binding needs, the keys that must be in
// it, and an optional check of their content.
type secretRequirement struct {
	// field is the spec path of the reference, used in messages.
	field  string
	secret string
	keys   []string
	// parse validates the content. Its error must never contain key
	// material: it becomes a condition message and an Event.
	parse func(data map[string][]byte) error
}

// specError is a spec that the CRD schema let through but the controller
// cannot use (the CEL rules cover most of these; this is the defensive net
// for objects written before a rule existed).
type specError struct{ msg string }

func (e *specError) Error() string { return e.msg }

func invalidSpec(format string, args ...any) error {
	return &specError{msg: fmt.Sprintf(format, args...)}
}

// Key names the CRD defaults to; repeated here because objects read from
// older API servers or written before a default existed may lack them.
const (
	defClientIDKey       = "client_id"
	defClientSecretKey   = "client_secret"
	defPrivateKeyKey     = "private.pem"
	defUsernameKey       = "username"
	defPasswordKey       = "password"
	defRefreshTokenKey   = "refresh_token"
	defCAKey             = "ca.crt"
	defConsumerKeyKey    = "consumer_key"
	defConsumerSecret    = "consumer_secret"
	defOAuth1TokenKey    = "token"
	defOAuth1TokenSecret = "token_secret"
	defCurrentKey        = "current"
	defPreviousKey       = "previous"
)

func or(k v1alpha1.SecretKey, def string) string {
	if k == "" {
		return def
	}
	return string(k)
}

// requirements lists the Secrets the binding references, in spec order, or
// a *specError when a reference the spec needs is absent.
func requirements(spec *v1alpha1.OAuthClientBindingSpec) ([]secretRequirement, error) {
	var reqs []secretRequirement
	add := func(field string, name v1alpha1.SecretName, parse func(map[string][]byte) error, keys ...string) error {
		if name == "" {
			return invalidSpec("%s.name: must not be empty", field)
		}
		reqs = append(reqs, secretRequirement{field: field, secret: string(name), keys: keys, parse: parse})
		return nil
	}

	if ref := spec.Upstream.CASecretRef; ref != nil {
		k := or(ref.Key, defCAKey)
		if err := add("spec.upstream.caSecretRef", ref.Name, parseCABundle(k), k); err != nil {
			return nil, err
		}
	}
	if err := sourceRequirements("spec.", spec.TokenEndpoint, spec.ClientAuth, &spec.Grant, add); err != nil {
		return nil, err
	}
	if ca := spec.ClientAuth; ca != nil && ca.Method == v1alpha1.PrivateKeyJWT && spec.PrivateKey == nil {
		return nil, invalidSpec("spec.privateKey: required when clientAuth.method is PrivateKeyJWT")
	}
	for i := range spec.Providers {
		p := &spec.Providers[i]
		prefix := fmt.Sprintf("spec.providers[%d].", i)
		if err := sourceRequirements(prefix, &p.TokenEndpoint, &p.ClientAuth, &p.Grant, add); err != nil {
			return nil, err
		}
		if (p.ClientAuth.Method == v1alpha1.PrivateKeyJWT || p.Grant.Type == v1alpha1.GrantJWTBearer) && spec.PrivateKey == nil {
			return nil, invalidSpec("spec.privateKey: required when %sclientAuth.method is PrivateKeyJWT or %sgrant.type is JWTBearer (providers sign with the binding's key)", prefix, prefix)
		}
	}
	for _, px := range proxies(spec) {
		ref := px.proxy.CredentialsSecretRef
		if ref == nil {
			continue
		}
		user := or(ref.UsernameKey, defUsernameKey)
		if err := add(px.field+".credentialsSecretRef", ref.Name, parseProxyCredentials(user), user, or(ref.PasswordKey, defPasswordKey)); err != nil {
			return nil, err
		}
	}

	if pk := spec.PrivateKey; pk != nil {
		ref := pk.SecretRef
		k := or(ref.Key, defPrivateKeyKey)
		keys := []string{k}
		if ref.PassphraseKey != "" {
			keys = append(keys, string(ref.PassphraseKey))
		}
		if err := add("spec.privateKey.secretRef", ref.Name, parsePrivateKey(k, string(ref.PassphraseKey)), keys...); err != nil {
			return nil, err
		}
	}
	if spec.Grant.Type == v1alpha1.GrantJWTBearer && spec.PrivateKey == nil {
		return nil, invalidSpec("spec.privateKey: required when grant.type is JWTBearer")
	}
	if p := spec.ProofOfPossession; p != nil && p.Type == v1alpha1.PoPTAAP && spec.PrivateKey == nil {
		return nil, invalidSpec("spec.privateKey: required when proofOfPossession.type is TAAP")
	}

	if o := spec.OAuth1; o != nil {
		rsa := strings.HasPrefix(string(o.SignatureMethod), "RSA-")
		keys := []string{or(o.ConsumerSecretRef.KeyKey, defConsumerKeyKey)}
		if !rsa {
			// RSA-* signs with the private key; the consumer secret is
			// only part of the HMAC and PLAINTEXT signing keys.
			keys = append(keys, or(o.ConsumerSecretRef.SecretKey, defConsumerSecret))
		}
		if err := add("spec.oauth1.consumerSecretRef", o.ConsumerSecretRef.Name, nil, keys...); err != nil {
			return nil, err
		}
		if t := o.TokenSecretRef; t != nil {
			keys := []string{or(t.TokenKey, defOAuth1TokenKey)}
			if !rsa {
				keys = append(keys, or(t.SecretKey, defOAuth1TokenSecret))
			}
			if err := add("spec.oauth1.tokenSecretRef", t.Name, nil, keys...); err != nil {
				return nil, err
			}
		}
		if rsa && spec.PrivateKey == nil {
			return nil, invalidSpec("spec.privateKey: required when oauth1.signatureMethod is %s", o.SignatureMethod)
		}
	}

	if sc := spec.SharedCache; sc != nil {
		if a := sc.AuthSecretRef; a != nil {
			keys := []string{or(a.PasswordKey, defPasswordKey)}
			if a.UsernameKey != "" {
				keys = append(keys, string(a.UsernameKey))
			}
			if err := add("spec.sharedCache.authSecretRef", a.Name, nil, keys...); err != nil {
				return nil, err
			}
		}
		if t := sc.TLS; t != nil && t.CASecretRef != nil {
			k := or(t.CASecretRef.Key, defCAKey)
			if err := add("spec.sharedCache.tls.caSecretRef", t.CASecretRef.Name, parseCABundle(k), k); err != nil {
				return nil, err
			}
		}
		enc := sc.EncryptionKeySecretRef
		cur, prev := or(enc.CurrentKey, defCurrentKey), or(enc.PreviousKey, defPreviousKey)
		// The previous key is optional (only present during a rotation),
		// so it is not a required key; parse checks it when it is there.
		if err := add("spec.sharedCache.encryptionKeySecretRef", enc.Name, parseEncryptionKeys(cur, prev), cur); err != nil {
			return nil, err
		}
	}
	return reqs, nil
}

// addFunc records one Secret a binding needs.
type addFunc func(field string, name v1alpha1.SecretName, parse func(map[string][]byte) error, keys ...string) error

// sourceRequirements lists the Secrets of one token source: the binding's
// own (prefix "spec.") or a provider's ("spec.providers[i]."): the token
// endpoint's CA, the client credentials and the grant's Secret.
func sourceRequirements(prefix string, te *v1alpha1.TokenEndpoint, ca *v1alpha1.ClientAuth, g *v1alpha1.Grant, add addFunc) error {
	if te != nil && te.CASecretRef != nil {
		k := or(te.CASecretRef.Key, defCAKey)
		if err := add(prefix+"tokenEndpoint.caSecretRef", te.CASecretRef.Name, parseCABundle(k), k); err != nil {
			return err
		}
	}
	if ca != nil {
		switch ca.Method {
		case v1alpha1.ClientSecretBasic, v1alpha1.ClientSecretPost, v1alpha1.ClientSecretJWT:
			if ca.SecretRef == nil {
				return invalidSpec("%sclientAuth.secretRef: required when clientAuth.method is %s", prefix, ca.Method)
			}
			if err := add(prefix+"clientAuth.secretRef", ca.SecretRef.Name, nil,
				or(ca.SecretRef.ClientIDKey, defClientIDKey), or(ca.SecretRef.ClientSecretKey, defClientSecretKey)); err != nil {
				return err
			}
		default:
			// Other methods only take the client ID from the Secret.
			if ca.SecretRef != nil {
				if err := add(prefix+"clientAuth.secretRef", ca.SecretRef.Name, nil, or(ca.SecretRef.ClientIDKey, defClientIDKey)); err != nil {
					return err
				}
			}
		}
		if ca.Method == v1alpha1.TLSClientAuth && ca.TLSSecretRef == nil {
			return invalidSpec("%sclientAuth.tlsSecretRef: required when clientAuth.method is TLSClientAuth", prefix)
		}
		if ref := ca.TLSSecretRef; ref != nil {
			if err := add(prefix+"clientAuth.tlsSecretRef", ref.Name, parseTLSPair, corev1.TLSCertKey, corev1.TLSPrivateKeyKey); err != nil {
				return err
			}
		}
	}
	switch {
	case g.Password != nil:
		ref := g.Password.SecretRef
		return add(prefix+"grant.password.secretRef", ref.Name, nil, or(ref.UsernameKey, defUsernameKey), or(ref.PasswordKey, defPasswordKey))
	case g.RefreshToken != nil:
		ref := g.RefreshToken.SecretRef
		return add(prefix+"grant.refreshToken.secretRef", ref.Name, nil, or(ref.Key, defRefreshTokenKey))
	}
	return nil
}

// secretProblem is why a binding is not Ready because of its Secrets.
type secretProblem struct {
	reason  string
	message string
	// unchecked: the Secret could not be read, so whether it is usable is
	// unknown (status Unknown rather than False).
	unchecked bool
}

func (p *secretProblem) status() metav1.ConditionStatus {
	if p.unchecked {
		return metav1.ConditionUnknown
	}
	return metav1.ConditionFalse
}

// checkSecrets reads every referenced Secret once (uncached: the reader is
// the manager's API reader, so no cluster-wide Secret informer exists) and
// returns the first problem, or nil when all are usable. An error is
// returned only for failures worth retrying: not 404, and not 403, which
// only an RBAC change fixes and which the resync then picks up.
func checkSecrets(ctx context.Context, r client.Reader, namespace string, reqs []secretRequirement) (*secretProblem, error) {
	got := map[string]*corev1.Secret{}
	for _, req := range reqs {
		sec, seen := got[req.secret]
		if !seen {
			var s corev1.Secret
			err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: req.secret}, &s)
			switch {
			case apierrors.IsNotFound(err):
				sec = nil
			case apierrors.IsForbidden(err):
				return &secretProblem{reason: v1alpha1.ReasonSecretAccessDenied, unchecked: true, message: fmt.Sprintf(
					"the controller may not read secret %q referenced by %s in namespace %q (RBAC forbids get), so it is not checked; with chart value secretAccess.mode=%s add the namespace to secretAccess.namespaces, otherwise restore the chart's RBAC",
					req.secret, req.field, namespace, SecretAccessNamespaces)}, nil
			case err != nil:
				return nil, fmt.Errorf("reading secret %q (%s): %w", req.secret, req.field, err)
			default:
				sec = &s
			}
			got[req.secret] = sec
		}
		if p := checkSecret(sec, namespace, req); p != nil {
			return p, nil
		}
	}
	return nil, nil
}

// checkSecret checks one requirement against a Secret (nil: not found).
func checkSecret(sec *corev1.Secret, namespace string, req secretRequirement) *secretProblem {
	if sec == nil {
		return &secretProblem{reason: v1alpha1.ReasonSecretNotFound,
			message: fmt.Sprintf("secret %q referenced by %s not found in namespace %q", req.secret, req.field, namespace)}
	}
	for _, k := range req.keys {
		v, ok := sec.Data[k]
		if !ok {
			return &secretProblem{reason: v1alpha1.ReasonKeyMissing,
				message: fmt.Sprintf("secret %q referenced by %s has no key %q", req.secret, req.field, k)}
		}
		if len(v) == 0 {
			return &secretProblem{reason: v1alpha1.ReasonKeyMissing,
				message: fmt.Sprintf("secret %q referenced by %s has an empty key %q", req.secret, req.field, k)}
		}
	}
	if req.parse != nil {
		if err := req.parse(sec.Data); err != nil {
			return &secretProblem{reason: v1alpha1.ReasonKeyUnparseable,
				message: fmt.Sprintf("secret %q referenced by %s: %v", req.secret, req.field, err)}
		}
	}
	return nil
}

// parsePrivateKey parses with the sidecar's own parser so the controller
// and the sidecar agree on what is usable. pop's errors name the PEM block
// type found and never include key material.
func parsePrivateKey(key, passphraseKey string) func(map[string][]byte) error {
	return func(data map[string][]byte) error {
		var pass []byte
		if passphraseKey != "" {
			// The sidecar drops one trailing newline from the passphrase
			// file (editors and echo add one); do the same.
			pass = bytes.TrimSuffix(bytes.TrimSuffix(data[passphraseKey], []byte("\n")), []byte("\r"))
		}
		if _, err := pop.ParsePrivateKey(data[key], pass); err != nil {
			if errors.Is(err, pop.ErrPassphraseRequired) {
				return fmt.Errorf("key %q: %w; set privateKey.secretRef.passphraseKey", key, err)
			}
			return fmt.Errorf("key %q: %w", key, err)
		}
		return nil
	}
}

func parseTLSPair(data map[string][]byte) error {
	if _, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey]); err != nil {
		// crypto/tls errors describe structure ("failed to find any PEM
		// data", "private key does not match public key"), never content.
		return fmt.Errorf("keys %q/%q are not a usable certificate and key: %w", corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	return nil
}

func parseEncryptionKeys(current, previous string) func(map[string][]byte) error {
	return func(data map[string][]byte) error {
		for _, k := range []string{current, previous} {
			v, ok := data[k]
			if k == previous && (!ok || len(v) == 0) {
				continue
			}
			if _, err := config.ParseEncryptionKey(v); err != nil {
				return fmt.Errorf("key %q %w", k, err)
			}
		}
		return nil
	}
}

func parseCABundle(key string) func(map[string][]byte) error {
	return func(data map[string][]byte) error {
		if !x509.NewCertPool().AppendCertsFromPEM(data[key]) {
			return fmt.Errorf("key %q holds no PEM CERTIFICATE", key)
		}
		return nil
	}
}

// specProxy is a proxy section and its spec path.
type specProxy struct {
	field string
	proxy *v1alpha1.EgressProxy
}

// proxies lists the binding's proxy sections, its providers' included.
func proxies(spec *v1alpha1.OAuthClientBindingSpec) []specProxy {
	var out []specProxy
	if p := spec.Upstream.Proxy; p != nil {
		out = append(out, specProxy{"spec.upstream.proxy", p})
	}
	if te := spec.TokenEndpoint; te != nil && te.Proxy != nil {
		out = append(out, specProxy{"spec.tokenEndpoint.proxy", te.Proxy})
	}
	for i := range spec.Providers {
		if px := spec.Providers[i].TokenEndpoint.Proxy; px != nil {
			out = append(out, specProxy{fmt.Sprintf("spec.providers[%d].tokenEndpoint.proxy", i), px})
		}
	}
	return out
}

// parseProxyCredentials refuses a username the sidecar could not send: the
// Basic scheme (RFC 7617 §2) splits user-id and password at the first ':'.
func parseProxyCredentials(userKey string) func(map[string][]byte) error {
	return func(data map[string][]byte) error {
		if bytes.Contains(bytes.TrimSpace(data[userKey]), []byte(":")) {
			return fmt.Errorf("key %q: the proxy username contains ':', which Basic authentication (RFC 7617) cannot carry", userKey)
		}
		return nil
	}
}
