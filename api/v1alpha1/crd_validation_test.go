package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

const crdPath = "../../config/crd/oauth.injector.dev_oauthclientbindings.yaml"

// crdValidator reproduces, in-process, what kube-apiserver does with the
// generated CRD: it validates the CRD itself (which compiles every CEL rule
// and checks its estimated cost against the limits), then defaults and
// validates objects with the OpenAPI schema and the CEL rules. It lets the
// CEL rules be tested without an API server binary.
type crdValidator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

func loadCRD(t *testing.T) *crdValidator {
	t.Helper()
	data, err := os.ReadFile(crdPath)
	if err != nil {
		t.Fatalf("read CRD (run controller-gen): %v", err)
	}
	scheme := runtime.NewScheme()
	apiextensionsinstall.Install(scheme)
	var v1crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &v1crd); err != nil {
		t.Fatalf("decode CRD: %v", err)
	}
	scheme.Default(&v1crd)
	var crd apiextensions.CustomResourceDefinition
	if err := scheme.Convert(&v1crd, &crd, nil); err != nil {
		t.Fatalf("convert CRD: %v", err)
	}
	if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), &crd); len(errs) > 0 {
		t.Fatalf("the API server would reject the CRD:\n%v", errs.ToAggregate())
	}
	// The internal CRD form hoists a schema shared by all versions to
	// spec.validation; this CRD has exactly one version.
	if len(crd.Spec.Versions) != 1 || crd.Spec.Validation == nil {
		t.Fatalf("expected exactly one version with a schema")
	}
	props := crd.Spec.Validation.OpenAPIV3Schema
	ss, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatalf("structural schema: %v", err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		t.Fatalf("schema validator: %v", err)
	}
	return &crdValidator{structural: ss, schema: sv, cel: cel.NewValidator(ss, true, celconfig.PerCallLimit)}
}

// validate defaults obj in place and returns every schema, list-type (the
// unique keys of listType=map) and CEL error.
func (v *crdValidator) validate(obj map[string]any) field.ErrorList {
	structuraldefaulting.Default(obj, v.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, v.schema)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

const baseBinding = `
apiVersion: oauth.injector.dev/v1alpha1
kind: OAuthClientBinding
metadata: {name: partner, namespace: shop}
spec:
  listenPort: 15001
  upstream: {url: https://api.partner.example}
  tokenEndpoint: {url: https://auth.partner.example/token}
  grant: {type: ClientCredentials, scopes: [read]}
  clientAuth: {method: ClientSecretBasic, secretRef: {name: partner-client}}
`

func TestCRDValidation(t *testing.T) {
	v := loadCRD(t)
	tests := []struct {
		name string
		// patch is merged over baseBinding's spec (a JSON merge: nil
		// deletes a field).
		patch map[string]any
		// want is a substring of the single expected error; empty means valid.
		want string
	}{
		{name: "base is valid"},
		{name: "listen port below 1024", patch: m("listenPort", 80), want: "should be greater than or equal to 1024"},
		{name: "listen port is the admin port", patch: m("listenPort", 15020), want: "listenPort: 15020 is the sidecar's admin port"},
		{name: "implicit grant explained", patch: m("grant", m("type", "Implicit")), want: "grant.type: the implicit grant is not supported by a backend sidecar"},
		{name: "lowercase implicit explained", patch: m("grant", m("type", "implicit")), want: "use ClientCredentials or RefreshToken"},
		{name: "unknown grant", patch: m("grant", m("type", "Magic")), want: "grant.type: must be one of ClientCredentials"},
		{name: "CIBA without ciba", patch: m("grant", m("type", "CIBA")), want: "grant.ciba: required when grant.type is CIBA"},
		{name: "Password without password", patch: m("grant", m("type", "Password")), want: "grant.password: required when grant.type is Password"},
		{name: "RefreshToken without refreshToken", patch: m("grant", m("type", "RefreshToken")), want: "grant.refreshToken: required when grant.type is RefreshToken"},
		{name: "TokenExchange without tokenExchange", patch: m("grant", m("type", "TokenExchange")), want: "grant.tokenExchange: required when grant.type is TokenExchange"},
		{name: "password with wrong grant", patch: m("grant", m("password", m("secretRef", m("name", "pw")))), want: "grant.password: only allowed when grant.type is Password"},
		{name: "password grant ok", patch: m("grant", map[string]any{"type": "Password", "password": m("secretRef", m("name", "pw"))})},
		{name: "CIBA needs purpose or scopes", patch: m("grant", map[string]any{"type": "CIBA", "scopes": nil, "ciba": m("authorizeURL", "https://auth.partner.example/bc")}), want: "grant.ciba.purpose: a purpose"},
		{name: "CIBA maxWait too long", patch: m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://a.example/bc", "maxWait": "1h"}}), want: "grant.ciba.maxWait: must be between 0s and 10m"},
		{name: "CIBA opaque login hints ok", patch: m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://a.example/bc", "loginHintFormat": "Opaque", "maxPending": int64(50)}})},
		{name: "CIBA unknown login hint format", patch: m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://a.example/bc", "loginHintFormat": "Email"}}), want: "spec.grant.ciba.loginHintFormat"},
		{name: "CIBA maxPending over default cacheSize", patch: m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://a.example/bc", "maxPending": int64(1025)}}), want: "grant.ciba.maxPending: must not exceed grant.ciba.cacheSize"},
		{name: "CIBA maxPending over cacheSize", patch: m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://a.example/bc", "cacheSize": int64(4), "maxPending": int64(5)}}), want: "grant.ciba.maxPending: must not exceed grant.ciba.cacheSize"},
		{name: "CIBA maxPending zero", patch: m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://a.example/bc", "maxPending": int64(0)}}), want: "spec.grant.ciba.maxPending"},
		{name: "subject token needs exactly one source", patch: m("grant", map[string]any{"type": "TokenExchange", "tokenExchange": map[string]any{"subjectTokenType": "urn:ietf:params:oauth:token-type:jwt", "subjectToken": map[string]any{}}}), want: "grant.tokenExchange.subjectToken: set exactly one of serviceAccountToken or mint"},
		{name: "subject token both sources", patch: map[string]any{"privateKey": m("secretRef", m("name", "k")), "grant": map[string]any{"type": "TokenExchange", "tokenExchange": map[string]any{"subjectTokenType": "jwt", "subjectToken": map[string]any{"serviceAccountToken": m("audience", "a"), "mint": map[string]any{"issuer": "i", "audience": "a"}}}}}, want: "set exactly one of serviceAccountToken or mint"},
		{name: "tapkey needs provider", patch: m("grant", map[string]any{"type": "TokenExchange", "tokenExchange": map[string]any{"grantType": "http://tapkey.net/oauth/token_exchange", "subjectToken": m("serviceAccountToken", m("audience", "a"))}}), want: "grant.tokenExchange.provider: required for the Tapkey grant"},
		{name: "rfc8693 needs subjectTokenType", patch: m("grant", map[string]any{"type": "TokenExchange", "tokenExchange": map[string]any{"subjectToken": m("serviceAccountToken", m("audience", "a"))}}), want: "grant.tokenExchange.subjectTokenType: required for RFC 8693"},
		{name: "mint needs privateKey", patch: m("grant", map[string]any{"type": "TokenExchange", "tokenExchange": map[string]any{"subjectTokenType": "jwt", "subjectToken": m("mint", map[string]any{"issuer": "i", "audience": "a"})}}), want: "privateKey: required when grant.tokenExchange.subjectToken.mint is set"},
		{name: "JWTBearer fixed subject ok", patch: jwtBearer(map[string]any{"subject": "svc-batch", "lifetime": "300s", "algorithm": "PS256", "keyID": "k1"})},
		{name: "JWTBearer per-request subject ok", patch: jwtBearer(map[string]any{"subjectFrom": m("header", "X-Subscriber"), "cacheSize": int64(10), "audience": "https://auth.partner.example"})},
		{name: "JWTBearer without jwtBearer", patch: map[string]any{"privateKey": m("secretRef", m("name", "k")), "grant": m("type", "JWTBearer")}, want: "grant.jwtBearer: required when grant.type is JWTBearer"},
		{name: "jwtBearer with wrong grant", patch: m("grant", m("jwtBearer", m("subject", "s"))), want: "grant.jwtBearer: only allowed when grant.type is JWTBearer"},
		{name: "JWTBearer both subjects", patch: jwtBearer(map[string]any{"subject": "s", "subjectFrom": m("header", "X-Subscriber")}), want: "grant.jwtBearer: set exactly one of subject (fixed) or subjectFrom (per request)"},
		{name: "JWTBearer no subject", patch: jwtBearer(map[string]any{"audience": "a"}), want: "grant.jwtBearer: set exactly one of subject (fixed) or subjectFrom (per request)"},
		{name: "JWTBearer cacheSize with fixed subject", patch: jwtBearer(map[string]any{"subject": "s", "cacheSize": int64(5)}), want: "grant.jwtBearer.cacheSize: only used with subjectFrom"},
		{name: "JWTBearer lifetime over 300s", patch: jwtBearer(map[string]any{"subject": "s", "lifetime": "301s"}), want: "grant.jwtBearer.lifetime: must be positive and at most 300s"},
		{name: "JWTBearer HS256 refused", patch: jwtBearer(map[string]any{"subject": "s", "algorithm": "HS256"}), want: "spec.grant.jwtBearer.algorithm"},
		{name: "JWTBearer needs privateKey", patch: map[string]any{"privateKey": nil, "grant": map[string]any{"type": "JWTBearer", "jwtBearer": m("subject", "s")}}, want: "privateKey: required when grant.type is JWTBearer"},
		{name: "JWTBearer needs the client ID, also with None", patch: map[string]any{"clientAuth": map[string]any{"method": "None", "secretRef": nil}, "privateKey": m("secretRef", m("name", "k")), "grant": map[string]any{"type": "JWTBearer", "jwtBearer": m("subject", "s")}}, want: "clientAuth.secretRef: required when grant.type is JWTBearer, also with method None"},
		{name: "JWTBearer with None and a client ID ok", patch: map[string]any{"clientAuth": m("method", "None"), "privateKey": m("secretRef", m("name", "k")), "grant": map[string]any{"type": "JWTBearer", "jwtBearer": m("subject", "s")}}},
		{name: "PrivateKeyJWT needs privateKey", patch: m("clientAuth", m("method", "PrivateKeyJWT")), want: "privateKey: required when clientAuth.method is PrivateKeyJWT"},
		{name: "TLSClientAuth needs tlsSecretRef", patch: m("clientAuth", m("method", "TLSClientAuth")), want: "clientAuth.tlsSecretRef: required when clientAuth.method is TLSClientAuth"},
		{name: "ClientSecretJWT needs secretRef", patch: m("clientAuth", map[string]any{"method": "ClientSecretJWT", "secretRef": nil}), want: "clientAuth.secretRef: required for ClientSecretBasic, ClientSecretPost, ClientSecretJWT"},
		{name: "ClientSecretJWT with audience ok", patch: m("clientAuth", map[string]any{"method": "ClientSecretJWT", "audience": "https://auth.partner.example"})},
		{name: "ClientSecretPost needs secretRef", patch: m("clientAuth", map[string]any{"method": "ClientSecretPost", "secretRef": nil}), want: "clientAuth.secretRef: required for ClientSecretBasic"},
		{name: "clientAuth required for token grants", patch: m("clientAuth", nil), want: "clientAuth: required unless grant.type is None"},
		{name: "tokenEndpoint required for token grants", patch: m("tokenEndpoint", nil), want: "tokenEndpoint: required unless grant.type is None"},
		{name: "None grant requires oauth1", patch: m("grant", m("type", "None")), want: "oauth1: required when grant.type is None"},
		{name: "TAAP needs privateKey", patch: m("proofOfPossession", m("type", "TAAP")), want: "privateKey: required when proofOfPossession.type is TAAP"},
		{name: "TAAP lifetime over 120s", patch: map[string]any{"privateKey": m("secretRef", m("name", "k")), "proofOfPossession": map[string]any{"type": "TAAP", "taap": m("lifetime", "121s")}}, want: "proofOfPossession.taap.lifetime: must be positive and at most 120s"},
		{name: "TAAP lifetime garbage", patch: map[string]any{"privateKey": m("secretRef", m("name", "k")), "proofOfPossession": map[string]any{"type": "TAAP", "taap": m("lifetime", "soon")}}, want: "lifetime"},
		{name: "taap block with DPoP", patch: map[string]any{"proofOfPossession": map[string]any{"type": "DPoP", "taap": m("lifetime", "60s")}}, want: "proofOfPossession.taap: only used when proofOfPossession.type is TAAP"},
		{name: "DPoP with form placement", patch: map[string]any{"proofOfPossession": m("type", "DPoP"), "tokenPlacement": m("in", "Form")}, want: "tokenPlacement.in: must be Header when proofOfPossession.type is DPoP"},
		{name: "oauth1 RSA needs privateKey", patch: map[string]any{"oauth1": map[string]any{"signatureMethod": "RSA-SHA256", "consumerSecretRef": m("name", "c")}}, want: "privateKey: required when oauth1.signatureMethod is RSA-SHA1 or RSA-SHA256"},
		{name: "oauth1 only binding ok", patch: map[string]any{"tokenEndpoint": nil, "clientAuth": nil, "grant": map[string]any{"type": "None", "scopes": nil}, "oauth1": m("consumerSecretRef", m("name", "c"))}},
		{name: "upstream scheme", patch: m("upstream", m("url", "ftp://x")), want: "upstream.url: must start with https:// or http://"},
		{name: "http upstream refused", patch: m("upstream", m("url", "http://api.partner.example")), want: "upstream.url: http:// sends credentials in cleartext; use https:// or set allowInsecureHTTP: true"},
		{name: "http token endpoint refused", patch: m("tokenEndpoint", m("url", "http://auth.partner.example/token")), want: "tokenEndpoint.url: http:// sends credentials in cleartext"},
		{name: "http CIBA authorize refused", patch: m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "http://auth.partner.example/bc"}}), want: "grant.ciba.authorizeURL: http:// sends credentials in cleartext"},
		{name: "http look-alike of loopback refused", patch: m("upstream", m("url", "http://127.0.0.1.nip.io")), want: "upstream.url: http:// sends credentials in cleartext"},
		{name: "http allowed by opt-in", patch: map[string]any{"allowInsecureHTTP": true, "upstream": m("url", "http://api.partner.example"), "tokenEndpoint": m("url", "http://auth.partner.example/token")}},
		{name: "http loopback allowed", patch: map[string]any{"upstream": m("url", "http://127.0.0.1:8080/api"), "tokenEndpoint": m("url", "http://[::1]:9000/token")}},
		{name: "http localhost allowed", patch: m("upstream", m("url", "http://LocalHost:8080"))},
		{name: "response header timeout bound", patch: m("upstream", m("responseHeaderTimeout", "0s")), want: "upstream.responseHeaderTimeout: must be positive and at most 10m"},
		{name: "response header timeout and trace ok", patch: m("upstream", map[string]any{"responseHeaderTimeout": "2m", "allowTrace": true})},
		{name: "secret name is a DNS subdomain", patch: m("clientAuth", m("secretRef", m("name", "Bad_Name"))), want: "spec.clientAuth.secretRef.name"},
		{name: "refresh.before negative", patch: m("refresh", m("before", "-1s")), want: "refresh.before: must not be negative"},
		{name: "refresh.expirySkew too long", patch: m("refresh", m("expirySkew", "6m")), want: "refresh.expirySkew: must be between 0s and 5m"},
		{name: "refresh.expirySkew negative", patch: m("refresh", m("expirySkew", "-1s")), want: "refresh.expirySkew: must be between 0s and 5m"},
		{name: "refresh.minInterval too long", patch: m("refresh", m("minInterval", "11m")), want: "refresh.minInterval: must be between 0s and 10m"},
		{name: "refresh.maxCallsPerSecond zero", patch: m("refresh", m("maxCallsPerSecond", 0)), want: "spec.refresh.maxCallsPerSecond"},
		{name: "refresh.maxCallsPerSecond too high", patch: m("refresh", m("maxCallsPerSecond", 1001)), want: "spec.refresh.maxCallsPerSecond"},
		{name: "refresh tuned ok", patch: m("refresh", map[string]any{"before": "1m", "expirySkew": "5s", "minInterval": "2s", "maxCallsPerSecond": 50})},
		{name: "secret key may not start with ..", patch: m("clientAuth", m("secretRef", m("clientIDKey", "..data"))), want: "spec.clientAuth.secretRef.clientIDKey"},
		{name: "shared cache ok", patch: m("sharedCache", map[string]any{"address": "redis.cache.svc:6379", "encryptionKeySecretRef": m("name", "cache-keys"), "authSecretRef": map[string]any{"name": "cache-auth", "usernameKey": "username"}, "tls": map[string]any{"caSecretRef": m("name", "cache-ca"), "serverName": "redis.cache.svc"}, "keyPrefix": "team-a:", "timeout": "150ms"})},
		{name: "shared cache address needs a port", patch: m("sharedCache", map[string]any{"address": "redis.cache.svc", "encryptionKeySecretRef": m("name", "k")}), want: "sharedCache.address: must be host:port"},
		{name: "shared cache address is not a URL", patch: m("sharedCache", map[string]any{"address": "redis://redis:6379", "encryptionKeySecretRef": m("name", "k")}), want: "sharedCache.address: must be host:port"},
		{name: "shared cache needs a key Secret", patch: m("sharedCache", m("address", "redis:6379")), want: "spec.sharedCache.encryptionKeySecretRef"},
		{name: "shared cache keys must differ", patch: m("sharedCache", map[string]any{"address": "redis:6379", "encryptionKeySecretRef": map[string]any{"name": "k", "previousKey": "current"}}), want: "sharedCache.encryptionKeySecretRef.previousKey: must differ from currentKey"},
		{name: "shared cache prefix with a space", patch: m("sharedCache", map[string]any{"address": "redis:6379", "keyPrefix": "team a", "encryptionKeySecretRef": m("name", "k")}), want: "sharedCache.keyPrefix: printable ASCII without spaces"},
		{name: "shared cache timeout too long", patch: m("sharedCache", map[string]any{"address": "redis:6379", "timeout": "10s", "encryptionKeySecretRef": m("name", "k")}), want: "sharedCache.timeout: must be positive and at most 5s"},
		{name: "shared cache server name", patch: m("sharedCache", map[string]any{"address": "redis:6379", "tls": m("serverName", "redis:6379"), "encryptionKeySecretRef": m("name", "k")}), want: "sharedCache.tls.serverName: must be a DNS name"},
		{name: "shared cache with grant None", patch: map[string]any{"tokenEndpoint": nil, "clientAuth": nil, "grant": map[string]any{"type": "None", "scopes": nil}, "oauth1": m("consumerSecretRef", m("name", "c")), "sharedCache": map[string]any{"address": "redis:6379", "encryptionKeySecretRef": m("name", "k")}}, want: "sharedCache: grant.type None has no tokens to share"},
		{name: "operations and a provider ok", patch: operations(map[string]any{"unmatched": "Deny", "providers": []any{provider(nil)}},
			operation("read", "/v1/items/{id}", map[string]any{"methods": []any{"GET", "HEAD"}, "scopes": []any{"items:read"}}),
			operation("reports", "/v1/reports/**", map[string]any{"provider": "analytics"}),
			operation("root", "/", nil))},
		{name: "operation path syntax", patch: operations(nil, operation("a", "/v1/**/x", nil)), want: `operations[].path: must be "/" and segments`},
		{name: "operation path trailing slash", patch: operations(nil, operation("a", "/v1/", nil)), want: `operations[].path: must be "/" and segments`},
		{name: "operation path wildcard literal", patch: operations(nil, operation("a", "/v1/*.json", nil)), want: `operations[].path: must be "/" and segments`},
		{name: "operation path dot segment", patch: operations(nil, operation("a", "/v1/../admin", nil)), want: `operations[].path: "." and ".." segments are not allowed`},
		{name: "operation method case", patch: operations(nil, operation("a", "/a", map[string]any{"methods": []any{"get"}})), want: "spec.operations[0].methods[0]"},
		{name: "operation names unique", patch: operations(nil, operation("a", "/a", nil), operation("a", "/b", nil)), want: "spec.operations[1]: Duplicate value"},
		{name: "operation provider must exist", patch: operations(map[string]any{"providers": []any{provider(nil)}}, operation("a", "/a", map[string]any{"provider": "analytcs"})), want: "operations[].provider: must name an entry of providers"},
		{name: "operation purpose only for CIBA", patch: operations(nil, operation("a", "/a", map[string]any{"purpose": "dpv:X#y"})), want: "operations[].purpose: only for a CIBA binding"},
		{name: "unmatched Deny needs operations", patch: m("unmatched", "Deny"), want: "unmatched: Deny needs operations"},
		{name: "unmatched value", patch: operations(map[string]any{"unmatched": "Reject"}, operation("a", "/a", nil)), want: "spec.unmatched"},
		{name: "operations need a token grant", patch: operations(map[string]any{"tokenEndpoint": nil, "clientAuth": nil, "grant": map[string]any{"type": "None", "scopes": nil}, "oauth1": m("consumerSecretRef", m("name", "c"))}, operation("a", "/a", nil)), want: "operations: grant.type None has no token to choose"},
		{name: "CIBA purposes per operation ok", patch: operations(map[string]any{"unmatched": "Deny", "grant": map[string]any{"type": "CIBA", "scopes": nil, "ciba": m("authorizeURL", "https://auth.partner.example/bc")}},
			operation("sim-swap", "/sim-swap/**", map[string]any{"purpose": "dpv:FraudPreventionAndDetection#sim-swap"}),
			operation("location", "/location/**", map[string]any{"purpose": "dpv:FraudPreventionAndDetection#device-location"}))},
		{name: "CIBA operations leave unmatched without a purpose", patch: operations(map[string]any{"grant": map[string]any{"type": "CIBA", "scopes": nil, "ciba": m("authorizeURL", "https://auth.partner.example/bc")}},
			operation("sim-swap", "/sim-swap/**", map[string]any{"purpose": "dpv:FraudPreventionAndDetection#sim-swap"})), want: "grant.ciba.purpose: a purpose"},
		{name: "providers not on a CIBA binding", patch: map[string]any{"providers": []any{provider(nil)}, "grant": map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://auth.partner.example/bc"}}}, want: "providers: not supported when the binding's grant takes its subject from each request"},
		{name: "provider PrivateKeyJWT needs the binding's key", patch: m("providers", []any{provider(m("clientAuth", map[string]any{"method": "PrivateKeyJWT", "secretRef": m("name", "p")}))}), want: "privateKey: required when a provider uses PrivateKeyJWT or JWTBearer"},
		{name: "provider cleartext token endpoint", patch: m("providers", []any{provider(m("tokenEndpoint", m("url", "http://auth.other.example/token")))}), want: "providers[].tokenEndpoint.url: http:// sends credentials in cleartext"},
		{name: "provider grant must be client-level", patch: m("providers", []any{provider(m("grant", map[string]any{"type": "CIBA", "ciba": map[string]any{"authorizeURL": "https://auth.other.example/bc", "purpose": "p"}}))}), want: "providers[].grant.type: must be ClientCredentials, Password, RefreshToken or JWTBearer"},
		{name: "provider JWTBearer fixed subject", patch: map[string]any{"privateKey": m("secretRef", m("name", "k")), "providers": []any{provider(m("grant", map[string]any{"type": "JWTBearer", "jwtBearer": m("subjectFrom", m("header", "X-User"))}))}}, want: "providers[].grant.jwtBearer.subjectFrom: a provider's JWTBearer grant has a fixed subject"},
		{name: "provider TLSClientAuth", patch: m("providers", []any{provider(m("clientAuth", map[string]any{"method": "TLSClientAuth", "secretRef": m("name", "p"), "tlsSecretRef": m("name", "p-tls")}))}), want: "providers[].clientAuth.method: TLSClientAuth is only supported for the binding's own clientAuth"},
		{name: "provider JWTBearer needs its client ID", patch: map[string]any{"privateKey": m("secretRef", m("name", "k")), "providers": []any{provider(map[string]any{"clientAuth": map[string]any{"method": "None", "secretRef": nil}, "grant": map[string]any{"type": "JWTBearer", "jwtBearer": m("subject", "svc")}})}}, want: "providers[].clientAuth.secretRef: required when the provider's grant.type is JWTBearer"},
		{name: "provider names unique", patch: m("providers", []any{provider(nil), provider(nil)}), want: "spec.providers[1]: Duplicate value"},
		{name: "upstream proxy with credentials ok", patch: m("upstream", m("proxy", map[string]any{"url": "http://proxy.corp.example:3128", "credentialsSecretRef": m("name", "corp-proxy")}))},
		{name: "token endpoint proxy from environment ok", patch: m("tokenEndpoint", m("proxy", m("fromEnvironment", true)))},
		{name: "proxy url with a trailing slash ok", patch: m("tokenEndpoint", m("proxy", m("url", "http://10.0.0.1:8080/")))},
		{name: "proxy needs url or fromEnvironment", patch: m("upstream", m("proxy", map[string]any{})), want: "proxy: set exactly one of url or fromEnvironment: true"},
		{name: "proxy fromEnvironment false alone", patch: m("upstream", m("proxy", m("fromEnvironment", false))), want: "proxy: set exactly one of url or fromEnvironment: true"},
		{name: "proxy url and fromEnvironment", patch: m("tokenEndpoint", m("proxy", map[string]any{"url": "http://p:3128", "fromEnvironment": true})), want: "proxy: set exactly one of url or fromEnvironment: true"},
		{name: "https proxy refused", patch: m("upstream", m("proxy", m("url", "https://proxy.corp.example"))), want: "proxy.url: must start with http://"},
		{name: "proxy url with credentials refused", patch: m("upstream", m("proxy", m("url", "http://user:pw@proxy:3128"))), want: "proxy.url: must not embed credentials; use proxy.credentialsSecretRef"},
		{name: "proxy url with a path refused", patch: m("tokenEndpoint", m("proxy", m("url", "http://proxy:3128/pac"))), want: "proxy.url: must be http://host[:port] without a path, query or fragment"},
		{name: "proxy credentials secret name", patch: m("upstream", m("proxy", map[string]any{"url": "http://p:3128", "credentialsSecretRef": m("name", "Bad_Name")})), want: "spec.upstream.proxy.credentialsSecretRef.name"},
		{name: "provider token endpoint proxy ok", patch: m("providers", []any{provider(m("tokenEndpoint", m("proxy", map[string]any{"url": "http://proxy.corp.example:3128", "credentialsSecretRef": m("name", "corp-proxy")})))})},
		{name: "provider token endpoint proxy checked", patch: m("providers", []any{provider(m("tokenEndpoint", m("proxy", m("url", "https://proxy.corp.example"))))}), want: "spec.providers[0].tokenEndpoint.proxy.url: Invalid value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := decodeObject(t, baseBinding)
			obj["spec"] = merge(obj["spec"].(map[string]any), tc.patch)
			errs := v.validate(obj)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("want valid, got:\n%v", errs.ToAggregate())
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want exactly one error containing %q, got %d:\n%v", tc.want, len(errs), errs.ToAggregate())
			}
			if !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("want error containing %q, got %q", tc.want, errs[0].Error())
			}
		})
	}
}

// TestCRDDefaults pins the defaults the webhook relies on when it renders.
func TestCRDDefaults(t *testing.T) {
	v := loadCRD(t)
	obj := decodeObject(t, baseBinding)
	if errs := v.validate(obj); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	spec := obj["spec"].(map[string]any)
	ref := spec["clientAuth"].(map[string]any)["secretRef"].(map[string]any)
	if ref["clientIDKey"] != "client_id" || ref["clientSecretKey"] != "client_secret" {
		t.Errorf("clientAuth.secretRef defaults = %v", ref)
	}
	if got := spec["tokenEndpoint"].(map[string]any)["method"]; got != "POST" {
		t.Errorf("tokenEndpoint.method default = %v, want POST", got)
	}
	withCache := decodeObject(t, baseBinding)
	withCache["spec"] = merge(withCache["spec"].(map[string]any), m("sharedCache", map[string]any{"address": "redis:6379", "authSecretRef": m("name", "a"), "encryptionKeySecretRef": m("name", "k")}))
	if errs := v.validate(withCache); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	sc := withCache["spec"].(map[string]any)["sharedCache"].(map[string]any)
	if k := sc["encryptionKeySecretRef"].(map[string]any); k["currentKey"] != "current" || k["previousKey"] != "previous" {
		t.Errorf("sharedCache.encryptionKeySecretRef defaults = %v", k)
	}
	if a := sc["authSecretRef"].(map[string]any); a["passwordKey"] != "password" || a["usernameKey"] != nil {
		t.Errorf("sharedCache.authSecretRef defaults = %v", a)
	}

	obj = decodeObject(t, baseBinding)
	obj["spec"] = merge(obj["spec"].(map[string]any), m("upstream", m("proxy", map[string]any{"url": "http://p:3128", "credentialsSecretRef": m("name", "corp-proxy")})))
	if errs := v.validate(obj); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	pref := obj["spec"].(map[string]any)["upstream"].(map[string]any)["proxy"].(map[string]any)["credentialsSecretRef"].(map[string]any)
	if pref["usernameKey"] != "username" || pref["passwordKey"] != "password" {
		t.Errorf("proxy.credentialsSecretRef defaults = %v", pref)
	}
}

// decodeObject decodes YAML the way the API server decodes JSON bodies:
// integers stay int64 (CEL rejects float64 for integer fields).
func decodeObject(t *testing.T, y string) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(j, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func m(k string, v any) map[string]any { return map[string]any{k: v} }

// jwtBearer patches the base binding into a JWTBearer one with a key.
func jwtBearer(block map[string]any) map[string]any {
	return map[string]any{"privateKey": m("secretRef", m("name", "k")), "grant": map[string]any{"type": "JWTBearer", "jwtBearer": block}}
}

// operations patches in the given operations plus the other spec fields.
func operations(spec map[string]any, ops ...any) map[string]any {
	out := map[string]any{"operations": ops}
	for k, v := range spec {
		out[k] = v
	}
	return out
}

func operation(name, path string, fields map[string]any) map[string]any {
	o := map[string]any{"name": name, "path": path}
	for k, v := range fields {
		o[k] = v
	}
	return o
}

// provider is a valid provider "analytics", merged with patch.
func provider(patch map[string]any) map[string]any {
	p := map[string]any{
		"name":          "analytics",
		"tokenEndpoint": m("url", "https://auth.other.example/token"),
		"clientAuth":    map[string]any{"method": "ClientSecretPost", "secretRef": m("name", "analytics-client")},
		"grant":         map[string]any{"type": "ClientCredentials", "scopes": []any{"reports"}},
	}
	return merge(p, patch)
}

// merge applies a JSON merge patch (RFC 7386) of patch onto dst.
func merge(dst, patch map[string]any) map[string]any {
	for k, pv := range patch {
		if pv == nil {
			delete(dst, k)
			continue
		}
		pm, pIsMap := pv.(map[string]any)
		dm, dIsMap := dst[k].(map[string]any)
		if pIsMap && dIsMap {
			dst[k] = merge(dm, pm)
			continue
		}
		if pIsMap {
			dst[k] = merge(map[string]any{}, pm)
			continue
		}
		dst[k] = normalize(pv)
	}
	return dst
}

// normalize turns Go ints into the int64 the JSON decoder would produce.
func normalize(v any) any {
	if i, ok := v.(int); ok {
		return int64(i)
	}
	return v
}
