package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// TestHelmInstallServesCRD checks the release the suite installed with helm
// is deployed and that discovery serves the CRD with its short name.
func TestHelmInstallServesCRD(t *testing.T) {
	s := needSuite(t)
	out, err := s.helm.Run(context.Background(), "status", releaseName, "--namespace", releaseNamespace)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "STATUS: deployed") {
		t.Errorf("helm status:\n%s", out)
	}
	resources, err := s.kube.Discovery().ServerResourcesForGroupVersion(v1alpha1.GroupVersion.String())
	if err != nil {
		t.Fatalf("discovery of %s: %v", v1alpha1.GroupVersion, err)
	}
	found := false
	for _, r := range resources.APIResources {
		if r.Name != "oauthclientbindings" {
			continue
		}
		found = true
		if !r.Namespaced || r.Kind != "OAuthClientBinding" || strings.Join(r.ShortNames, ",") != "ocb" {
			t.Errorf("oauthclientbindings served as namespaced=%v kind=%s shortNames=%v", r.Namespaced, r.Kind, r.ShortNames)
		}
	}
	if !found {
		t.Fatalf("discovery lists no oauthclientbindings in %s", v1alpha1.GroupVersion)
	}
	for _, r := range resources.APIResources {
		if r.Name == "oauthclientbindings/status" {
			return
		}
	}
	t.Error("the status subresource is not served")
}

// TestExamplesApply applies every examples/bindings/*.yaml document (and
// the Secrets they ship with) through the API server, so the schema, the
// defaults and every CEL rule accept the documented examples.
func TestExamplesApply(t *testing.T) {
	s := needSuite(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "bindings", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("examples/bindings has no *.yaml files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ns := s.namespace(t, "ex")
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
			bindings := 0
			for {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					t.Fatalf("decoding: %v", err)
				}
				if len(u.Object) == 0 {
					continue
				}
				u.SetNamespace(ns)
				if u.GetKind() == "OAuthClientBinding" {
					bindings++
				}
				// Server-side apply, as `kubectl apply --server-side` would.
				//nolint:staticcheck // SA1019: Client.Apply needs typed apply configurations; these are arbitrary example YAMLs.
				if err := s.client.Patch(context.Background(), u, client.Apply, client.FieldOwner("e2e"), client.ForceOwnership); err != nil {
					t.Errorf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
				}
			}
			if bindings == 0 {
				t.Error("the example holds no OAuthClientBinding")
			}
		})
	}
}

// celCase mutates the valid TAAP fixture so exactly one CEL rule fails.
type celCase struct {
	name, patch, want string
}

var celCases = []celCase{
	{"expiry skew bound", `{"refresh":{"expirySkew":"6m"}}`, "refresh.expirySkew: must be between 0s and 5m"},
	{"min interval bound", `{"refresh":{"minInterval":"11m"}}`, "refresh.minInterval: must be between 0s and 10m"},
	{"token endpoint required", `{"tokenEndpoint":null}`, "tokenEndpoint: required unless grant.type is None"},
	{"oauth1 required without grant", `{"grant":{"type":"None"},"tokenEndpoint":null,"clientAuth":null,"proofOfPossession":null}`, "oauth1: required when grant.type is None"},
	{"client auth required", `{"clientAuth":null}`, "clientAuth: required unless grant.type is None"},
	{"private key for private_key_jwt", `{"privateKey":null,"proofOfPossession":null,"clientAuth":{"method":"PrivateKeyJWT"}}`, "privateKey: required when clientAuth.method is PrivateKeyJWT"},
	{"private key for TAAP", `{"privateKey":null}`, "privateKey: required when proofOfPossession.type is TAAP"},
	{"private key for RSA OAuth1", `{"privateKey":null,"proofOfPossession":null,"oauth1":{"signatureMethod":"RSA-SHA256","consumerSecretRef":{"name":"consumer"}}}`, "privateKey: required when oauth1.signatureMethod is RSA-SHA1 or RSA-SHA256"},
	{"private key for minted subject", `{"privateKey":null,"proofOfPossession":null,"grant":{"type":"TokenExchange","tokenExchange":{"subjectTokenType":"urn:ietf:params:oauth:token-type:jwt","subjectToken":{"mint":{"issuer":"https://idp.example","audience":"partner"}}}}}`, "privateKey: required when grant.tokenExchange.subjectToken.mint is set"},
	{"DPoP token in header", `{"proofOfPossession":{"type":"DPoP","taap":null},"tokenPlacement":{"in":"Query","idTokenHeader":null}}`, "tokenPlacement.in: must be Header when proofOfPossession.type is DPoP"},
	{"client secretRef required", `{"clientAuth":{"secretRef":null}}`, "clientAuth.secretRef: required for ClientSecretBasic"},
	{"tls secret for tls_client_auth", `{"clientAuth":{"method":"TLSClientAuth"}}`, "clientAuth.tlsSecretRef: required when clientAuth.method is TLSClientAuth"},
	{"tls secret only for tls_client_auth", `{"clientAuth":{"tlsSecretRef":{"name":"client-tls"}}}`, "clientAuth.tlsSecretRef: only used when clientAuth.method is TLSClientAuth"},
	{"implicit grant refused", `{"grant":{"type":"Implicit"}}`, "grant.type: the implicit grant is not supported by a backend sidecar"},
	{"unknown grant", `{"grant":{"type":"Magic"}}`, "grant.type: must be one of ClientCredentials"},
	{"password block required", `{"grant":{"type":"Password"}}`, "grant.password: required when grant.type is Password"},
	{"refresh block required", `{"grant":{"type":"RefreshToken"}}`, "grant.refreshToken: required when grant.type is RefreshToken"},
	{"ciba block required", `{"grant":{"type":"CIBA"}}`, "grant.ciba: required when grant.type is CIBA"},
	{"exchange block required", `{"grant":{"type":"TokenExchange"}}`, "grant.tokenExchange: required when grant.type is TokenExchange"},
	{"password block only for Password", `{"grant":{"password":{"secretRef":{"name":"user"}}}}`, "grant.password: only allowed when grant.type is Password"},
	{"refresh block only for RefreshToken", `{"grant":{"refreshToken":{"secretRef":{"name":"rt"}}}}`, "grant.refreshToken: only allowed when grant.type is RefreshToken"},
	{"ciba block only for CIBA", `{"grant":{"ciba":{"authorizeURL":"https://auth.example/bc-authorize","purpose":"p"}}}`, "grant.ciba: only allowed when grant.type is CIBA"},
	{"exchange block only for TokenExchange", `{"grant":{"tokenExchange":{"subjectTokenType":"urn:ietf:params:oauth:token-type:jwt","subjectToken":{"serviceAccountToken":{"audience":"partner"}}}}}`, "grant.tokenExchange: only allowed when grant.type is TokenExchange"},
	{"ciba purpose or scopes", `{"grant":{"type":"CIBA","ciba":{"authorizeURL":"https://auth.example/bc-authorize"}}}`, "grant.ciba.purpose: a purpose (dpv:<purpose>#<scope>) or grant.scopes is required for CIBA"},
	{"ciba authorize URL scheme", `{"grant":{"type":"CIBA","ciba":{"authorizeURL":"ftp://auth.example/bc","purpose":"p"}}}`, "grant.ciba.authorizeURL: must start with https:// or http://"},
	{"ciba max wait bound", `{"grant":{"type":"CIBA","ciba":{"authorizeURL":"https://auth.example/bc","purpose":"p","maxWait":"11m"}}}`, "grant.ciba.maxWait: must be between 0s and 10m"},
	{"tapkey provider", `{"grant":{"type":"TokenExchange","tokenExchange":{"grantType":"http://tapkey.net/oauth/token_exchange","subjectTokenType":"jwt","subjectToken":{"serviceAccountToken":{"audience":"tapkey"}}}}}`, "grant.tokenExchange.provider: required for the Tapkey grant"},
	{"rfc8693 subject token type", `{"grant":{"type":"TokenExchange","tokenExchange":{"subjectToken":{"serviceAccountToken":{"audience":"partner"}}}}}`, "grant.tokenExchange.subjectTokenType: required for RFC 8693"},
	{"exactly one subject source", `{"grant":{"type":"TokenExchange","tokenExchange":{"subjectTokenType":"urn:ietf:params:oauth:token-type:jwt","subjectToken":{"serviceAccountToken":{"audience":"partner"},"mint":{"issuer":"https://idp.example","audience":"partner"}}}}}`, "grant.tokenExchange.subjectToken: set exactly one of serviceAccountToken or mint"},
	{"mint lifetime bound", `{"grant":{"type":"TokenExchange","tokenExchange":{"subjectTokenType":"urn:ietf:params:oauth:token-type:jwt","subjectToken":{"mint":{"issuer":"https://idp.example","audience":"partner","lifetime":"25h"}}}}}`, "grant.tokenExchange.subjectToken.mint.lifetime: must be positive and at most 24h"},
	{"ciba maxPending within cacheSize", `{"grant":{"type":"CIBA","ciba":{"authorizeURL":"https://auth.example/bc","purpose":"p","cacheSize":4,"maxPending":5}}}`, "grant.ciba.maxPending: must not exceed grant.ciba.cacheSize"},
	{"private key for JWTBearer", `{"privateKey":null,"proofOfPossession":null,"grant":{"type":"JWTBearer","jwtBearer":{"subject":"svc"}}}`, "privateKey: required when grant.type is JWTBearer"},
	{"client ID for JWTBearer", `{"clientAuth":{"method":"None","secretRef":null},"grant":{"type":"JWTBearer","jwtBearer":{"subject":"svc"}}}`, "clientAuth.secretRef: required when grant.type is JWTBearer"},
	{"jwtBearer block required", `{"grant":{"type":"JWTBearer"}}`, "grant.jwtBearer: required when grant.type is JWTBearer"},
	{"jwtBearer block only for JWTBearer", `{"grant":{"jwtBearer":{"subject":"svc"}}}`, "grant.jwtBearer: only allowed when grant.type is JWTBearer"},
	{"jwtBearer exactly one subject", `{"grant":{"type":"JWTBearer","jwtBearer":{"subject":"svc","subjectFrom":{"header":"X-Subscriber"}}}}`, "grant.jwtBearer: set exactly one of subject (fixed) or subjectFrom (per request)"},
	{"jwtBearer cacheSize only per request", `{"grant":{"type":"JWTBearer","jwtBearer":{"subject":"svc","cacheSize":5}}}`, "grant.jwtBearer.cacheSize: only used with subjectFrom"},
	{"jwtBearer lifetime bound", `{"grant":{"type":"JWTBearer","jwtBearer":{"subject":"svc","lifetime":"301s"}}}`, "grant.jwtBearer.lifetime: must be positive and at most 300s"},
	{"admin port reserved", `{"listenPort":15020}`, "listenPort: 15020 is the sidecar's admin port"},
	{"taap block only for TAAP", `{"proofOfPossession":{"type":"None"}}`, "proofOfPossession.taap: only used when proofOfPossession.type is TAAP"},
	{"taap lifetime bound", `{"proofOfPossession":{"taap":{"lifetime":"121s"}}}`, "proofOfPossession.taap.lifetime: must be positive and at most 120s"},
	{"refresh lead not negative", `{"refresh":{"before":"-1s"}}`, "refresh.before: must not be negative"},
	{"token URL scheme", `{"tokenEndpoint":{"url":"ftp://auth.example/token"}}`, "tokenEndpoint.url: must start with https:// or http://"},
	{"upstream URL scheme", `{"upstream":{"url":"ftp://api.example"}}`, "upstream.url: must start with https:// or http://"},
	{"upstream cleartext", `{"upstream":{"url":"http://api.example"}}`, "upstream.url: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true"},
	{"token endpoint cleartext", `{"tokenEndpoint":{"url":"http://auth.example/token"}}`, "tokenEndpoint.url: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true"},
	{"ciba authorize cleartext", `{"grant":{"type":"CIBA","ciba":{"authorizeURL":"http://auth.example/bc","purpose":"p"}}}`, "grant.ciba.authorizeURL: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true"},
	{"response header timeout bound", `{"upstream":{"responseHeaderTimeout":"11m"}}`, "upstream.responseHeaderTimeout: must be positive and at most 10m"},
	{"operation path syntax", `{"operations":[{"name":"a","path":"/v1/**/x"}]}`, `operations[].path: must be "/" and segments`},
	{"operation path dot segments", `{"operations":[{"name":"a","path":"/v1/../admin"}]}`, `operations[].path: "." and ".." segments are not allowed`},
	{"operation provider exists", `{"operations":[{"name":"a","path":"/a","provider":"analytics"}]}`, "operations[].provider: must name an entry of providers"},
	{"operation purpose only for CIBA", `{"operations":[{"name":"a","path":"/a","purpose":"dpv:FraudPreventionAndDetection#sim-swap"}]}`, "operations[].purpose: only for a CIBA binding"},
	{"unmatched deny needs operations", `{"unmatched":"Deny"}`, "unmatched: Deny needs operations"},
	{"operations need a token grant", `{"grant":{"type":"None"},"tokenEndpoint":null,"clientAuth":null,"proofOfPossession":null,"oauth1":{"consumerSecretRef":{"name":"consumer"}},"operations":[{"name":"a","path":"/a"}]}`, "operations: grant.type None has no token to choose"},
	{"providers need a client-level grant", `{"proofOfPossession":null,"grant":{"type":"CIBA","ciba":{"authorizeURL":"https://auth.example/bc","purpose":"p"}},"providers":[{"name":"analytics","tokenEndpoint":{"url":"https://auth.other.example/token"},"clientAuth":{"method":"ClientSecretPost","secretRef":{"name":"analytics-client"}},"grant":{"type":"ClientCredentials"}}]}`, "providers: not supported when the binding's grant takes its subject from each request"},
	{"private key for a provider", `{"privateKey":null,"proofOfPossession":null,"providers":[{"name":"analytics","tokenEndpoint":{"url":"https://auth.other.example/token"},"clientAuth":{"method":"PrivateKeyJWT","secretRef":{"name":"analytics-client"}},"grant":{"type":"ClientCredentials"}}]}`, "privateKey: required when a provider uses PrivateKeyJWT or JWTBearer"},
	{"provider token endpoint cleartext", `{"providers":[{"name":"analytics","tokenEndpoint":{"url":"http://auth.other.example/token"},"clientAuth":{"method":"ClientSecretPost","secretRef":{"name":"analytics-client"}},"grant":{"type":"ClientCredentials"}}]}`, "providers[].tokenEndpoint.url: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true"},
	{"provider grant type", `{"providers":[{"name":"analytics","tokenEndpoint":{"url":"https://auth.other.example/token"},"clientAuth":{"method":"ClientSecretPost","secretRef":{"name":"analytics-client"}},"grant":{"type":"CIBA","ciba":{"authorizeURL":"https://auth.other.example/bc","purpose":"p"}}}]}`, "providers[].grant.type: must be ClientCredentials, Password, RefreshToken or JWTBearer"},
	{"provider JWTBearer fixed subject", `{"providers":[{"name":"analytics","tokenEndpoint":{"url":"https://auth.other.example/token"},"clientAuth":{"method":"ClientSecretPost","secretRef":{"name":"analytics-client"}},"grant":{"type":"JWTBearer","jwtBearer":{"subjectFrom":{"header":"X-User"}}}}]}`, "providers[].grant.jwtBearer.subjectFrom: a provider's JWTBearer grant has a fixed subject"},
	{"provider mutual TLS", `{"providers":[{"name":"analytics","tokenEndpoint":{"url":"https://auth.other.example/token"},"clientAuth":{"method":"TLSClientAuth","secretRef":{"name":"analytics-client"},"tlsSecretRef":{"name":"analytics-tls"}},"grant":{"type":"ClientCredentials"}}]}`, "providers[].clientAuth.method: TLSClientAuth is only supported for the binding's own clientAuth"},
	{"provider JWTBearer client ID", `{"providers":[{"name":"analytics","tokenEndpoint":{"url":"https://auth.other.example/token"},"clientAuth":{"method":"None"},"grant":{"type":"JWTBearer","jwtBearer":{"subject":"svc"}}}]}`, "providers[].clientAuth.secretRef: required when the provider's grant.type is JWTBearer"},
	{"proxy needs url or fromEnvironment", `{"upstream":{"proxy":{"fromEnvironment":false}}}`, "proxy: set exactly one of url or fromEnvironment: true"},
	{"proxy url scheme", `{"tokenEndpoint":{"proxy":{"url":"https://proxy.corp.example"}}}`, "proxy.url: must start with http://"},
	{"proxy url credentials", `{"upstream":{"proxy":{"url":"http://user:pw@proxy.corp.example:3128"}}}`, "proxy.url: must not embed credentials; use proxy.credentialsSecretRef"},
	{"proxy url path", `{"upstream":{"proxy":{"url":"http://proxy.corp.example:3128/pac"}}}`, "proxy.url: must be http://host[:port] without a path, query or fragment"},
	{"shared cache address host:port", `{"sharedCache":{"address":"redis://redis:6379","encryptionKeySecretRef":{"name":"k"}}}`, "sharedCache.address: must be host:port"},
	{"shared cache keys differ", `{"sharedCache":{"address":"redis:6379","encryptionKeySecretRef":{"name":"k","previousKey":"current"}}}`, "sharedCache.encryptionKeySecretRef.previousKey: must differ from currentKey"},
	{"shared cache key prefix", `{"sharedCache":{"address":"redis:6379","keyPrefix":"team a","encryptionKeySecretRef":{"name":"k"}}}`, "sharedCache.keyPrefix: printable ASCII without spaces"},
	{"shared cache timeout bound", `{"sharedCache":{"address":"redis:6379","timeout":"10s","encryptionKeySecretRef":{"name":"k"}}}`, "sharedCache.timeout: must be positive and at most 5s"},
	{"shared cache server name", `{"sharedCache":{"address":"redis:6379","tls":{"serverName":"redis:6379"},"encryptionKeySecretRef":{"name":"k"}}}`, "sharedCache.tls.serverName: must be a DNS name"},
	{"shared cache with grant None", `{"grant":{"type":"None","scopes":null},"tokenEndpoint":null,"clientAuth":null,"proofOfPossession":null,"oauth1":{"consumerSecretRef":{"name":"c"}},"sharedCache":{"address":"redis:6379","encryptionKeySecretRef":{"name":"k"}}}`, "sharedCache: grant.type None has no tokens to share"},
	{"provider proxy url scheme", `{"providers":[{"name":"analytics","tokenEndpoint":{"url":"https://auth.other.example/token","proxy":{"url":"https://proxy.corp.example"}},"clientAuth":{"method":"ClientSecretPost","secretRef":{"name":"analytics-client"}},"grant":{"type":"ClientCredentials"}}]}`, "spec.providers[0].tokenEndpoint.proxy.url: Invalid value"},
}

// TestCELRejections creates (server-side dry run) one bad binding per CEL
// rule and checks the API server answers with the rule's message. The base
// spec must be accepted, so each failure is attributable to its patch.
func TestCELRejections(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "cel")
	ctx := context.Background()
	base := taapSpec(15001, "https://api.partner.example", "https://auth.partner.example/oauth2/v6/tokens")
	if err := s.client.Create(ctx, bindingObject(ns, "base", base), client.DryRunAll); err != nil {
		t.Fatalf("the valid base binding was rejected: %v", err)
	}
	for _, tc := range celCases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.client.Create(ctx, bindingObject(ns, "bad", mergePatched(t, base, tc.patch)), client.DryRunAll)
			if err == nil {
				t.Fatalf("patch %s was accepted; want %q", tc.patch, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("patch %s: error\n  %v\ndoes not contain\n  %q", tc.patch, err, tc.want)
			}
		})
	}
}

// TestCELCasesCoverEveryRule fails when a CEL rule is added to the CRD
// without a case above, so TestCELRejections keeps covering every rule.
func TestCELCasesCoverEveryRule(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "crd", "oauth.injector.dev_oauthclientbindings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var messages []string
	var walk func(p *apiextensionsv1.JSONSchemaProps)
	walk = func(p *apiextensionsv1.JSONSchemaProps) {
		if p == nil {
			return
		}
		for _, v := range p.XValidations {
			messages = append(messages, v.Message)
		}
		for k := range p.Properties {
			prop := p.Properties[k]
			walk(&prop)
		}
		if p.Items != nil {
			walk(p.Items.Schema)
		}
		if p.AdditionalProperties != nil {
			walk(p.AdditionalProperties.Schema)
		}
	}
	for _, v := range crd.Spec.Versions {
		walk(v.Schema.OpenAPIV3Schema)
	}
	if len(messages) == 0 {
		t.Fatal("found no x-kubernetes-validations in the CRD; the walk is broken")
	}
	for _, m := range messages {
		covered := false
		for _, c := range celCases {
			if strings.Contains(m, c.want) {
				covered = true
				break
			}
		}
		if !covered {
			t.Errorf("CEL rule with message %q has no case in celCases", m)
		}
	}
}
