package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// ClientAssertionType is the RFC 7523 §2.2 client_assertion_type value.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is exp-iat of a client assertion: long enough for clock
// skew, short enough that a leaked assertion is soon useless.
const AssertionLifetime = 60 * time.Second

// MinHS256SecretBytes is RFC 7518 §3.2's floor for an HS256 key: a key "of
// the same size as the hash output ... MUST be used". client_secret_jwt keys
// HMAC with the secret's octets (OpenID Core §16.19), so a shorter secret is
// refused rather than used as a weak key.
const MinHS256SecretBytes = 32

// Credentials are read afresh for every token request so a rotated Secret
// takes effect without a restart.
type Credentials struct {
	// ClientSecret is sent by the client_secret methods and keys the HS256
	// assertion of client_secret_jwt.
	ClientID, ClientSecret string
	// Key signs private_key_jwt assertions: RS256 for RSA keys, ES256 for
	// P-256, ES384 for P-384 and EdDSA for Ed25519.
	Key crypto.Signer
}

// BasicAuth is the RFC 6749 §2.3.1 Authorization header value. The id and
// secret are form-urlencoded before base64, which is what the RFC requires
// and what plain http.Request.SetBasicAuth gets wrong for secrets that
// contain ':' or non-ASCII characters.
func BasicAuth(clientID, clientSecret string) string {
	raw := url.QueryEscape(clientID) + ":" + url.QueryEscape(clientSecret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// applyClientAuth adds the client authentication for method to form and
// header. It returns the secret values it put on the wire so errors can be
// scrubbed of them.
func applyClientAuth(method, audience string, now time.Time, creds Credentials, form url.Values, header http.Header) ([]string, error) {
	switch method {
	case config.AuthClientSecretBasic, config.AuthClientSecretPost:
		if creds.ClientID == "" {
			return nil, errors.New("credentials: client ID is empty")
		}
		if creds.ClientSecret == "" {
			return nil, fmt.Errorf("credentials: client secret is empty (required for %s)", method)
		}
		secrets := []string{creds.ClientSecret, url.QueryEscape(creds.ClientSecret)}
		if method == config.AuthClientSecretBasic {
			v := BasicAuth(creds.ClientID, creds.ClientSecret)
			header.Set("Authorization", v)
			// The base64 credential is as good as the secret itself.
			secrets = append(secrets, strings.TrimPrefix(v, "Basic "))
		} else {
			form.Set("client_id", creds.ClientID)
			form.Set("client_secret", creds.ClientSecret)
		}
		return secrets, nil
	case config.AuthPrivateKeyJWT, config.AuthClientSecretJWT:
		if creds.ClientID == "" {
			return nil, errors.New("credentials: client ID is empty")
		}
		method, key, err := assertionKey(method, creds)
		if err != nil {
			return nil, err
		}
		assertion, err := clientAssertion(creds.ClientID, audience, method, key, now)
		if err != nil {
			return nil, err
		}
		form.Set("client_id", creds.ClientID)
		form.Set("client_assertion_type", ClientAssertionType)
		form.Set("client_assertion", assertion)
		// The secret is not sent, but a server might quote it back.
		return []string{assertion, creds.ClientSecret, url.QueryEscape(creds.ClientSecret)}, nil
	case config.AuthTLSClientAuth:
		// The certificate is on the caller's transport; RFC 8705 §2 still
		// wants client_id in the body to pick the registered client.
		if creds.ClientID == "" {
			return nil, errors.New("credentials: client ID is empty (required for tls_client_auth)")
		}
		form.Set("client_id", creds.ClientID)
		return nil, nil
	case config.AuthNone:
		if creds.ClientID != "" {
			form.Set("client_id", creds.ClientID)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unsupported client authentication method %q", method)
}

// assertionKey picks the JWS algorithm and key of a client assertion:
// the private key's own algorithm for private_key_jwt, HS256 keyed with the
// secret's octets for client_secret_jwt (OpenID Core §9).
func assertionKey(authMethod string, creds Credentials) (jwt.SigningMethod, any, error) {
	if authMethod == config.AuthClientSecretJWT {
		switch n := len(creds.ClientSecret); {
		case n == 0:
			return nil, nil, errors.New("credentials: client secret is empty (required for client_secret_jwt)")
		case n < MinHS256SecretBytes:
			return nil, nil, fmt.Errorf("credentials: client secret is %d bytes; client_secret_jwt signs with HS256, which needs at least %d (RFC 7518 §3.2); ask for a longer secret or use client_secret_basic", n, MinHS256SecretBytes)
		}
		return jwt.SigningMethodHS256, []byte(creds.ClientSecret), nil
	}
	if creds.Key == nil {
		return nil, nil, errors.New("credentials: private_key_jwt requires a private key")
	}
	alg, err := signingMethod(creds.Key)
	if err != nil {
		return nil, nil, err
	}
	return alg, creds.Key, nil
}

// clientAssertion signs the RFC 7523 §3 JWT used by private_key_jwt and
// client_secret_jwt.
func clientAssertion(clientID, audience string, alg jwt.SigningMethod, key any, now time.Time) (string, error) {
	claims := jwt.MapClaims{
		"iss": clientID,
		"sub": clientID,
		// A plain string, not a one-element array: several servers compare
		// aud with == and jwt's default array form would fail there.
		"aud": audience,
		"jti": uuid.NewString(),
		"iat": now.Unix(),
		"exp": now.Add(AssertionLifetime).Unix(),
	}
	s, err := jwt.NewWithClaims(alg, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("credentials: signing client assertion with %s: %w", alg.Alg(), err)
	}
	return s, nil
}

func signingMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		}
		return nil, fmt.Errorf("credentials: private_key_jwt supports ECDSA keys on P-256 or P-384, got %s", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("credentials: private_key_jwt does not support key type %T (want RSA, ECDSA P-256/P-384 or Ed25519)", key)
}
