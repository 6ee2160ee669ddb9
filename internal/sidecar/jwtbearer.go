package sidecar

import (
	"context"
	"fmt"
	"net/http"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
)

// The RFC 7523 §2.1 JWT bearer grant: the sidecar vouches for a subject by
// signing an assertion with the binding's key. A fixed subject has the
// client-level token; a subject from a request header gets its own entry in
// the refresher's LRU, with the single-flight and refresh-ahead every
// per-subject grant has.

// setupJWTBearer wires a jwt_bearer binding's subject source into the token
// cache options, and checks at start-up that the key can make the algorithm,
// so a wrong key is a start-up error and not a 503 on every request.
func (b *binding) setupJWTBearer(ro *refresher.Options) error {
	j := b.cfg.Grant.JWTBearer
	if err := b.checkAssertionKey("grant", j); err != nil {
		return err
	}
	if j.SubjectHeader != "" {
		b.subjectHeader = j.SubjectHeader
		ro.MaxSubjects = j.CacheSize
	}
	return nil
}

// checkAssertionKey fails when the binding's key cannot sign the grant's
// assertions; field is the grant's config path.
func (b *binding) checkAssertionKey(field string, j *config.JWTBearer) error {
	if _, err := oauth.AssertionAlgorithm(b.signer(), j.Algorithm); err != nil {
		return fmt.Errorf("%s.jwtBearer.algorithm: privateKey.file %s: %w", field, b.cfg.PrivateKey.File, err)
	}
	return nil
}

// fetchJWTBearer signs a new assertion for subject (the fixed one when the
// grant has one) and trades it; the key and client ID are read per call.
func (b *binding) fetchJWTBearer(ctx context.Context, src grantSource, subject string) (*oauth.Token, error) {
	g := src.grant
	j := g.JWTBearer
	if j.SubjectHeader == "" {
		subject = j.Subject
	}
	return src.client.JWTBearer(ctx, oauth.JWTBearerRequest{
		Subject:   subject,
		Audience:  j.Audience,
		Algorithm: j.Algorithm,
		KeyID:     j.KeyID,
		Lifetime:  j.Lifetime.Duration,
		Scopes:    g.Scopes,
	})
}

// checkJWTBearerSubject refuses a request whose subject header is missing
// or unusable before anything is signed or cached under it.
func checkJWTBearerSubject(header, s string) *proxyError {
	if s == "" {
		return newProxyError(http.StatusBadRequest, "missing_subject", fmt.Sprintf("header %s is required: it names the subject (sub) of the JWT bearer assertion", header))
	}
	if err := config.ValidateJWTBearerSubject(s); err != nil {
		return newProxyError(http.StatusBadRequest, "invalid_subject", fmt.Sprintf("header %s: %v", header, err))
	}
	return nil
}
