package controller

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

type reqSummary struct {
	field, secret string
	keys          []string
}

func summarize(reqs []secretRequirement) []reqSummary {
	var out []reqSummary
	for _, r := range reqs {
		out = append(out, reqSummary{r.field, r.secret, r.keys})
	}
	return out
}

func TestRequirements(t *testing.T) {
	pk := &v1alpha1.PrivateKey{SecretRef: v1alpha1.PrivateKeySecretRef{Name: "pk"}}
	tests := []struct {
		name    string
		spec    v1alpha1.OAuthClientBindingSpec
		want    []reqSummary
		wantErr string
	}{
		{name: "nothing referenced", spec: v1alpha1.OAuthClientBindingSpec{}},
		{
			name: "client secret basic with defaults, TAAP key with passphrase",
			spec: v1alpha1.OAuthClientBindingSpec{
				ClientAuth:        &v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretBasic, SecretRef: &v1alpha1.ClientSecretRef{Name: "creds"}},
				PrivateKey:        &v1alpha1.PrivateKey{SecretRef: v1alpha1.PrivateKeySecretRef{Name: "pk", Key: "key.pem", PassphraseKey: "pass"}},
				ProofOfPossession: &v1alpha1.ProofOfPossession{Type: v1alpha1.PoPTAAP},
			},
			want: []reqSummary{
				{"spec.clientAuth.secretRef", "creds", []string{"client_id", "client_secret"}},
				{"spec.privateKey.secretRef", "pk", []string{"key.pem", "pass"}},
			},
		},
		{
			name: "private_key_jwt takes only the client id",
			spec: v1alpha1.OAuthClientBindingSpec{
				ClientAuth: &v1alpha1.ClientAuth{Method: v1alpha1.PrivateKeyJWT, SecretRef: &v1alpha1.ClientSecretRef{Name: "creds", ClientIDKey: "id"}},
				PrivateKey: pk,
			},
			want: []reqSummary{
				{"spec.clientAuth.secretRef", "creds", []string{"id"}},
				{"spec.privateKey.secretRef", "pk", []string{"private.pem"}},
			},
		},
		{
			name: "client_secret_jwt needs the secret, which keys the assertion",
			spec: v1alpha1.OAuthClientBindingSpec{
				ClientAuth: &v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretJWT, SecretRef: &v1alpha1.ClientSecretRef{Name: "creds"}},
			},
			want: []reqSummary{{"spec.clientAuth.secretRef", "creds", []string{"client_id", "client_secret"}}},
		},
		{
			name: "mtls, CAs, password grant",
			spec: v1alpha1.OAuthClientBindingSpec{
				Upstream:      v1alpha1.Upstream{CASecretRef: &v1alpha1.CASecretRef{Name: "up-ca"}},
				TokenEndpoint: &v1alpha1.TokenEndpoint{CASecretRef: &v1alpha1.CASecretRef{Name: "te-ca", Key: "bundle.pem"}},
				ClientAuth:    &v1alpha1.ClientAuth{Method: v1alpha1.TLSClientAuth, TLSSecretRef: &v1alpha1.TLSSecretRef{Name: "tls"}},
				Grant:         v1alpha1.Grant{Type: "Password", Password: &v1alpha1.PasswordGrant{SecretRef: v1alpha1.PasswordSecretRef{Name: "user"}}},
			},
			want: []reqSummary{
				{"spec.upstream.caSecretRef", "up-ca", []string{"ca.crt"}},
				{"spec.tokenEndpoint.caSecretRef", "te-ca", []string{"bundle.pem"}},
				{"spec.clientAuth.tlsSecretRef", "tls", []string{"tls.crt", "tls.key"}},
				{"spec.grant.password.secretRef", "user", []string{"username", "password"}},
			},
		},
		{
			name: "refresh token grant",
			spec: v1alpha1.OAuthClientBindingSpec{
				Grant: v1alpha1.Grant{Type: "RefreshToken", RefreshToken: &v1alpha1.RefreshTokenGrant{SecretRef: v1alpha1.RefreshTokenSecretRef{Name: "rt"}}},
			},
			want: []reqSummary{{"spec.grant.refreshToken.secretRef", "rt", []string{"refresh_token"}}},
		},
		{
			name: "oauth1 HMAC needs consumer and token secrets",
			spec: v1alpha1.OAuthClientBindingSpec{OAuth1: &v1alpha1.OAuth1{
				SignatureMethod:   "HMAC-SHA1",
				ConsumerSecretRef: v1alpha1.OAuth1ConsumerSecretRef{Name: "consumer"},
				TokenSecretRef:    &v1alpha1.OAuth1TokenSecretRef{Name: "token"},
			}},
			want: []reqSummary{
				{"spec.oauth1.consumerSecretRef", "consumer", []string{"consumer_key", "consumer_secret"}},
				{"spec.oauth1.tokenSecretRef", "token", []string{"token", "token_secret"}},
			},
		},
		{
			name: "oauth1 RSA signs with the private key",
			spec: v1alpha1.OAuthClientBindingSpec{
				PrivateKey: pk,
				OAuth1: &v1alpha1.OAuth1{
					SignatureMethod:   "RSA-SHA256",
					ConsumerSecretRef: v1alpha1.OAuth1ConsumerSecretRef{Name: "consumer"},
				},
			},
			want: []reqSummary{
				{"spec.privateKey.secretRef", "pk", []string{"private.pem"}},
				{"spec.oauth1.consumerSecretRef", "consumer", []string{"consumer_key"}},
			},
		},
		{
			name: "shared cache: ACL user, CA, keys (previous is optional)",
			spec: v1alpha1.OAuthClientBindingSpec{SharedCache: &v1alpha1.SharedCache{
				Address:                "redis:6379",
				AuthSecretRef:          &v1alpha1.SharedCacheAuthSecretRef{Name: "cache-auth", UsernameKey: "user"},
				TLS:                    &v1alpha1.SharedCacheTLS{CASecretRef: &v1alpha1.CASecretRef{Name: "cache-ca"}},
				EncryptionKeySecretRef: v1alpha1.EncryptionKeySecretRef{Name: "cache-keys"},
			}},
			want: []reqSummary{
				{"spec.sharedCache.authSecretRef", "cache-auth", []string{"password", "user"}},
				{"spec.sharedCache.tls.caSecretRef", "cache-ca", []string{"ca.crt"}},
				{"spec.sharedCache.encryptionKeySecretRef", "cache-keys", []string{"current"}},
			},
		},
		{
			name: "providers' Secrets, after the binding's own",
			spec: v1alpha1.OAuthClientBindingSpec{
				ClientAuth: &v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretBasic, SecretRef: &v1alpha1.ClientSecretRef{Name: "creds"}},
				Providers: []v1alpha1.TokenProvider{{
					Name:          "reports",
					TokenEndpoint: v1alpha1.TokenEndpoint{CASecretRef: &v1alpha1.CASecretRef{Name: "reports-ca"}},
					ClientAuth:    v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretPost, SecretRef: &v1alpha1.ClientSecretRef{Name: "reports-creds", ClientIDKey: "id"}},
					Grant:         v1alpha1.Grant{Type: "Password", Password: &v1alpha1.PasswordGrant{SecretRef: v1alpha1.PasswordSecretRef{Name: "reports-user"}}},
				}, {
					Name:       "jwt",
					ClientAuth: v1alpha1.ClientAuth{Method: v1alpha1.PrivateKeyJWT, SecretRef: &v1alpha1.ClientSecretRef{Name: "jwt-creds"}},
					Grant:      v1alpha1.Grant{Type: "RefreshToken", RefreshToken: &v1alpha1.RefreshTokenGrant{SecretRef: v1alpha1.RefreshTokenSecretRef{Name: "jwt-rt"}}},
				}},
				PrivateKey: pk,
			},
			want: []reqSummary{
				{"spec.clientAuth.secretRef", "creds", []string{"client_id", "client_secret"}},
				{"spec.providers[0].tokenEndpoint.caSecretRef", "reports-ca", []string{"ca.crt"}},
				{"spec.providers[0].clientAuth.secretRef", "reports-creds", []string{"id", "client_secret"}},
				{"spec.providers[0].grant.password.secretRef", "reports-user", []string{"username", "password"}},
				{"spec.providers[1].clientAuth.secretRef", "jwt-creds", []string{"client_id"}},
				{"spec.providers[1].grant.refreshToken.secretRef", "jwt-rt", []string{"refresh_token"}},
				{"spec.privateKey.secretRef", "pk", []string{"private.pem"}},
			},
		},
		{
			name: "provider without its client secret",
			spec: v1alpha1.OAuthClientBindingSpec{Providers: []v1alpha1.TokenProvider{{
				Name: "reports", ClientAuth: v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretBasic},
			}}},
			wantErr: "spec.providers[0].clientAuth.secretRef: required when clientAuth.method is ClientSecretBasic",
		},
		{
			name: "provider signs with the binding's key",
			spec: v1alpha1.OAuthClientBindingSpec{Providers: []v1alpha1.TokenProvider{{
				Name: "reports", ClientAuth: v1alpha1.ClientAuth{Method: v1alpha1.PrivateKeyJWT, SecretRef: &v1alpha1.ClientSecretRef{Name: "c"}},
			}}},
			wantErr: "spec.privateKey: required when spec.providers[0].clientAuth.method is PrivateKeyJWT",
		},
		{
			name: "proxy credentials for the upstream and the token endpoint",
			spec: v1alpha1.OAuthClientBindingSpec{
				Upstream: v1alpha1.Upstream{Proxy: &v1alpha1.EgressProxy{URL: "http://proxy:3128",
					CredentialsSecretRef: &v1alpha1.ProxyCredentialsSecretRef{Name: "corp-proxy"}}},
				TokenEndpoint: &v1alpha1.TokenEndpoint{Proxy: &v1alpha1.EgressProxy{FromEnvironment: true,
					CredentialsSecretRef: &v1alpha1.ProxyCredentialsSecretRef{Name: "idp-proxy", UsernameKey: "user", PasswordKey: "pass"}}},
			},
			want: []reqSummary{
				{"spec.upstream.proxy.credentialsSecretRef", "corp-proxy", []string{"username", "password"}},
				{"spec.tokenEndpoint.proxy.credentialsSecretRef", "idp-proxy", []string{"user", "pass"}},
			},
		},
		{
			name: "proxy without credentials needs no Secret",
			spec: v1alpha1.OAuthClientBindingSpec{Upstream: v1alpha1.Upstream{Proxy: &v1alpha1.EgressProxy{URL: "http://proxy:3128"}}},
		},
		{
			name: "a provider's proxy credentials, after the binding's",
			spec: v1alpha1.OAuthClientBindingSpec{
				Upstream: v1alpha1.Upstream{Proxy: &v1alpha1.EgressProxy{URL: "http://proxy:3128",
					CredentialsSecretRef: &v1alpha1.ProxyCredentialsSecretRef{Name: "corp-proxy"}}},
				Providers: []v1alpha1.TokenProvider{{
					Name:          "reports",
					TokenEndpoint: v1alpha1.TokenEndpoint{Proxy: &v1alpha1.EgressProxy{URL: "http://proxy:3128"}},
					ClientAuth:    v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretPost, SecretRef: &v1alpha1.ClientSecretRef{Name: "reports-creds"}},
				}, {
					Name: "billing",
					TokenEndpoint: v1alpha1.TokenEndpoint{Proxy: &v1alpha1.EgressProxy{FromEnvironment: true,
						CredentialsSecretRef: &v1alpha1.ProxyCredentialsSecretRef{Name: "billing-proxy", UsernameKey: "user"}}},
					ClientAuth: v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretPost, SecretRef: &v1alpha1.ClientSecretRef{Name: "billing-creds"}},
				}},
			},
			want: []reqSummary{
				{"spec.providers[0].clientAuth.secretRef", "reports-creds", []string{"client_id", "client_secret"}},
				{"spec.providers[1].clientAuth.secretRef", "billing-creds", []string{"client_id", "client_secret"}},
				{"spec.upstream.proxy.credentialsSecretRef", "corp-proxy", []string{"username", "password"}},
				{"spec.providers[1].tokenEndpoint.proxy.credentialsSecretRef", "billing-proxy", []string{"user", "password"}},
			},
		},
		{
			name:    "basic without secretRef",
			spec:    v1alpha1.OAuthClientBindingSpec{ClientAuth: &v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretPost}},
			wantErr: "spec.clientAuth.secretRef: required when clientAuth.method is ClientSecretPost",
		},
		{
			name:    "client_secret_jwt without secretRef",
			spec:    v1alpha1.OAuthClientBindingSpec{ClientAuth: &v1alpha1.ClientAuth{Method: v1alpha1.ClientSecretJWT}},
			wantErr: "spec.clientAuth.secretRef: required when clientAuth.method is ClientSecretJWT",
		},
		{
			name:    "TLSClientAuth without tlsSecretRef",
			spec:    v1alpha1.OAuthClientBindingSpec{ClientAuth: &v1alpha1.ClientAuth{Method: v1alpha1.TLSClientAuth}},
			wantErr: "spec.clientAuth.tlsSecretRef: required",
		},
		{
			name:    "private_key_jwt without privateKey",
			spec:    v1alpha1.OAuthClientBindingSpec{ClientAuth: &v1alpha1.ClientAuth{Method: v1alpha1.PrivateKeyJWT}},
			wantErr: "spec.privateKey: required when clientAuth.method is PrivateKeyJWT",
		},
		{
			name:    "JWTBearer without privateKey",
			spec:    v1alpha1.OAuthClientBindingSpec{Grant: v1alpha1.Grant{Type: v1alpha1.GrantJWTBearer, JWTBearer: &v1alpha1.JWTBearerGrant{Subject: "s"}}},
			wantErr: "spec.privateKey: required when grant.type is JWTBearer",
		},
		{
			name:    "TAAP without privateKey",
			spec:    v1alpha1.OAuthClientBindingSpec{ProofOfPossession: &v1alpha1.ProofOfPossession{Type: v1alpha1.PoPTAAP}},
			wantErr: "spec.privateKey: required when proofOfPossession.type is TAAP",
		},
		{
			name: "oauth1 RSA without privateKey",
			spec: v1alpha1.OAuthClientBindingSpec{OAuth1: &v1alpha1.OAuth1{
				SignatureMethod: "RSA-SHA1", ConsumerSecretRef: v1alpha1.OAuth1ConsumerSecretRef{Name: "c"},
			}},
			wantErr: "spec.privateKey: required when oauth1.signatureMethod is RSA-SHA1",
		},
		{
			name:    "empty secret name",
			spec:    v1alpha1.OAuthClientBindingSpec{Upstream: v1alpha1.Upstream{CASecretRef: &v1alpha1.CASecretRef{}}},
			wantErr: "spec.upstream.caSecretRef.name: must not be empty",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := requirements(&tt.spec)
			if tt.wantErr != "" {
				var se *specError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a specError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(reqs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("requirements =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	k := newKey(t)
	plain := pkcs8PEM(t, k)
	enc := encryptedPKCS8PEM(t, k, "s3cret")
	crt, key := selfSigned(t)
	_, otherKey := selfSigned(t)

	pkReq := func(pass string) secretRequirement {
		keys := []string{"private.pem"}
		if pass != "" {
			keys = append(keys, pass)
		}
		return secretRequirement{field: "spec.privateKey.secretRef", secret: "pk", keys: keys, parse: parsePrivateKey("private.pem", pass)}
	}
	tlsReq := secretRequirement{field: "spec.clientAuth.tlsSecretRef", secret: "tls", keys: []string{"tls.crt", "tls.key"}, parse: parseTLSPair}
	caReq := secretRequirement{field: "spec.upstream.caSecretRef", secret: "ca", keys: []string{"ca.crt"}, parse: parseCABundle("ca.crt")}
	plainReq := secretRequirement{field: "spec.clientAuth.secretRef", secret: "creds", keys: []string{"client_id", "client_secret"}}
	keysReq := secretRequirement{field: "spec.sharedCache.encryptionKeySecretRef", secret: "keys", keys: []string{"current"}, parse: parseEncryptionKeys("current", "previous")}
	aesKey := []byte("3q2+7w3q2+7w3q2+7w3q2+7w3q2+7w3q2+7w3q2+7w0=\n")
	proxyReq := secretRequirement{field: "spec.upstream.proxy.credentialsSecretRef", secret: "corp-proxy", keys: []string{"username", "password"}, parse: parseProxyCredentials("username")}

	tests := []struct {
		name       string
		req        secretRequirement
		data       map[string][]byte
		notFound   bool
		wantReason string // "" = usable
		wantMsg    []string
	}{
		{name: "not found", req: plainReq, notFound: true, wantReason: v1alpha1.ReasonSecretNotFound,
			wantMsg: []string{`secret "creds"`, "spec.clientAuth.secretRef", `namespace "ns"`}},
		{name: "all keys", req: plainReq, data: map[string][]byte{"client_id": []byte("a"), "client_secret": []byte("b")}},
		{name: "key missing", req: plainReq, data: map[string][]byte{"client_id": []byte("a")}, wantReason: v1alpha1.ReasonKeyMissing,
			wantMsg: []string{`secret "creds"`, `no key "client_secret"`}},
		{name: "key empty", req: plainReq, data: map[string][]byte{"client_id": []byte("a"), "client_secret": nil}, wantReason: v1alpha1.ReasonKeyMissing,
			wantMsg: []string{`empty key "client_secret"`}},
		{name: "encryption key", req: keysReq, data: map[string][]byte{"current": aesKey}},
		{name: "encryption key and previous", req: keysReq, data: map[string][]byte{"current": aesKey, "previous": []byte(strings.Repeat("ab", 32))}},
		{name: "encryption key too short", req: keysReq, data: map[string][]byte{"current": []byte("hunter2")}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{`secret "keys"`, `key "current" must hold a 32-byte key`}},
		{name: "previous encryption key unparseable", req: keysReq, data: map[string][]byte{"current": aesKey, "previous": []byte("nope")}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{`key "previous" must hold a 32-byte key`}},
		{name: "pkcs8 key", req: pkReq(""), data: map[string][]byte{"private.pem": plain}},
		{name: "garbage key", req: pkReq(""), data: map[string][]byte{"private.pem": []byte("not a pem")}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{`secret "pk"`, "no PEM block"}},
		{name: "public key instead of private", req: pkReq(""), data: map[string][]byte{"private.pem": crt}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{`"CERTIFICATE"`}},
		{name: "encrypted without passphraseKey", req: pkReq(""), data: map[string][]byte{"private.pem": enc}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{"ENCRYPTED PRIVATE KEY", "passphraseKey"}},
		{name: "encrypted with passphrase and newline", req: pkReq("pass"), data: map[string][]byte{"private.pem": enc, "pass": []byte("s3cret\n")}},
		{name: "encrypted with wrong passphrase", req: pkReq("pass"), data: map[string][]byte{"private.pem": enc, "pass": []byte("nope")}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{"wrong passphrase"}},
		{name: "passphrase key missing", req: pkReq("pass"), data: map[string][]byte{"private.pem": enc}, wantReason: v1alpha1.ReasonKeyMissing,
			wantMsg: []string{`no key "pass"`}},
		{name: "tls pair", req: tlsReq, data: map[string][]byte{"tls.crt": crt, "tls.key": key}},
		{name: "tls mismatched pair", req: tlsReq, data: map[string][]byte{"tls.crt": crt, "tls.key": otherKey}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{`"tls.crt"/"tls.key"`}},
		{name: "proxy credentials", req: proxyReq, data: map[string][]byte{"username": []byte("svc-proxy\n"), "password": []byte("s3cret")}},
		{name: "proxy credentials missing password", req: proxyReq, data: map[string][]byte{"username": []byte("svc-proxy")}, wantReason: v1alpha1.ReasonKeyMissing,
			wantMsg: []string{`secret "corp-proxy" referenced by spec.upstream.proxy.credentialsSecretRef has no key "password"`}},
		{name: "proxy username with a colon", req: proxyReq, data: map[string][]byte{"username": []byte("corp:svc-proxy"), "password": []byte("s3cret")}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{`key "username"`, "':'", "RFC 7617"}},
		{name: "ca bundle", req: caReq, data: map[string][]byte{"ca.crt": crt}},
		{name: "ca bundle without certificate", req: caReq, data: map[string][]byte{"ca.crt": key}, wantReason: v1alpha1.ReasonKeyUnparseable,
			wantMsg: []string{`"ca.crt" holds no PEM CERTIFICATE`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sec *corev1.Secret
			if !tt.notFound {
				sec = &corev1.Secret{Data: tt.data}
			}
			p := checkSecret(sec, "ns", tt.req)
			if tt.wantReason == "" {
				if p != nil {
					t.Fatalf("problem = %+v, want none", p)
				}
				return
			}
			if p == nil || p.reason != tt.wantReason {
				t.Fatalf("problem = %+v, want reason %s", p, tt.wantReason)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(p.message, w) {
					t.Errorf("message %q does not contain %q", p.message, w)
				}
			}
			// No key material in messages: no line of any secret value
			// longer than a few characters may appear.
			for _, v := range tt.data {
				for _, line := range strings.Split(string(v), "\n") {
					if len(line) > 8 && !strings.HasPrefix(line, "-----") && strings.Contains(p.message, line) {
						t.Errorf("message leaks secret content %q", line)
					}
				}
			}
			if strings.Contains(p.message, "s3cret") {
				t.Error("message leaks the passphrase")
			}
		})
	}
}

// mapReader serves Secrets from a map and counts Gets.
type mapReader struct {
	secrets map[string]*corev1.Secret
	err     error
	gets    int
}

func (m *mapReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	m.gets++
	if m.err != nil {
		return m.err
	}
	s, ok := m.secrets[key.Name]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	*obj.(*corev1.Secret) = *s.DeepCopy()
	return nil
}

func (m *mapReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("list is not allowed: the controller must only get secrets")
}

func TestCheckSecrets(t *testing.T) {
	reqs := []secretRequirement{
		{field: "a", secret: "s1", keys: []string{"x"}},
		{field: "b", secret: "s1", keys: []string{"y"}},
		{field: "c", secret: "s2", keys: []string{"z"}},
	}
	t.Run("one get per secret, first problem wins", func(t *testing.T) {
		r := &mapReader{secrets: map[string]*corev1.Secret{"s1": {Data: map[string][]byte{"x": []byte("1"), "y": []byte("2")}}}}
		p, err := checkSecrets(context.Background(), r, "ns", reqs)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil || p.reason != v1alpha1.ReasonSecretNotFound || !strings.Contains(p.message, `"s2"`) {
			t.Fatalf("problem = %+v, want SecretNotFound for s2", p)
		}
		if r.gets != 2 {
			t.Errorf("gets = %d, want 2", r.gets)
		}
	})
	t.Run("all usable", func(t *testing.T) {
		r := &mapReader{secrets: map[string]*corev1.Secret{
			"s1": {Data: map[string][]byte{"x": []byte("1"), "y": []byte("2")}},
			"s2": {Data: map[string][]byte{"z": []byte("3")}},
		}}
		p, err := checkSecrets(context.Background(), r, "ns", reqs)
		if err != nil || p != nil {
			t.Fatalf("problem = %+v, err = %v; want neither", p, err)
		}
	})
	t.Run("API errors are returned for retry", func(t *testing.T) {
		r := &mapReader{err: apierrors.NewServiceUnavailable("etcd leader changed")}
		_, err := checkSecrets(context.Background(), r, "ns", reqs)
		if !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), `"s1"`) {
			t.Fatalf("err = %v, want a wrapped ServiceUnavailable naming s1", err)
		}
	})
	t.Run("forbidden is a condition, not a retry", func(t *testing.T) {
		r := &mapReader{err: apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "s1", errors.New("rbac"))}
		p, err := checkSecrets(context.Background(), r, "ns", reqs)
		if err != nil {
			t.Fatalf("err = %v; RBAC refusals must not be retried with backoff", err)
		}
		if p == nil || p.reason != v1alpha1.ReasonSecretAccessDenied || p.status() != metav1.ConditionUnknown || !strings.Contains(p.message, `secret "s1" referenced by a`) {
			t.Fatalf("problem = %+v, want SecretAccessDenied (Unknown) naming s1 and its field", p)
		}
	})
}
