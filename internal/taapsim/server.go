// Package taapsim is the project's stand-in for T-Mobile's TAAP gateway:
// an OAuth 2.0 token endpoint that demands a PoP token and client
// credentials, and a resource API that demands the issued access and ID
// tokens plus a fresh PoP token on every call. The demo and the end-to-end
// tests point the sidecar at it; it checks PoP with pop.Validator, i.e.
// the way T-Mobile's published validator does.
package taapsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/pop"
)

// TokenPath is where the simulator's token endpoint lives, as on T-Mobile's
// gateway.
const TokenPath = "/oauth2/v6/tokens"

// PoPHeader carries the PoP token on every TAAP call.
const PoPHeader = "X-Authorization"

// IDTokenHeader carries the ID token on resource calls.
const IDTokenHeader = "X-Auth-Originator"

const (
	defaultTokenTTL = time.Hour
	maxBodyBytes    = 1 << 20
	maxReplayJTIs   = 1 << 20
	maxStreamChunks = 1000
	maxStreamDelay  = time.Second
)

// Options configures a Server.
type Options struct {
	// PublicKey verifies the client's PoP tokens.
	PublicKey              *rsa.PublicKey
	ClientID, ClientSecret string
	// TokenTTL is the lifetime of issued tokens; zero means one hour.
	TokenTTL time.Duration
	// Now is the clock for every time check; nil means time.Now.
	Now func() time.Time
	// Log receives one line per rejected request; nil discards.
	Log *zap.Logger
	// SigningKey signs the issued access and ID tokens; nil generates a
	// fresh 2048-bit key.
	SigningKey *rsa.PrivateKey
}

// Server is the simulated TAAP gateway. It is safe for concurrent use.
type Server struct {
	clientID string
	now      func() time.Time
	log      *zap.Logger
	// validators holds one validator per registered client key. T-Mobile
	// lets a client register a new public key before retiring the old
	// one; the rotation tests need the same overlap.
	validators atomic.Pointer[[]*pop.Validator]
	// keyIDs[i] names validators[i]'s key in the echo, so a test can see
	// which key the client signed with (rotation).
	keyIDs atomic.Pointer[[]string]
	// secrets are the accepted client secrets; like keys, a rotation needs
	// the old and the new one to overlap.
	secrets atomic.Pointer[[]string]
	signKey *rsa.PrivateKey
	kid     string
	replay  *replayCache

	ttl           atomic.Int64
	down          atomic.Bool
	tokenRequests atomic.Int64
}

// New checks opts and, unless one is given, creates the simulator's own
// token-signing key.
func New(opts Options) (*Server, error) {
	if opts.PublicKey == nil {
		return nil, errors.New("taapsim: Options.PublicKey is required to verify PoP tokens")
	}
	if opts.ClientID == "" || opts.ClientSecret == "" {
		return nil, errors.New("taapsim: Options.ClientID and Options.ClientSecret are required")
	}
	if opts.TokenTTL < 0 {
		return nil, fmt.Errorf("taapsim: Options.TokenTTL must not be negative, got %s", opts.TokenTTL)
	}
	key := opts.SigningKey
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("taapsim: generate token-signing key: %w", err)
		}
	}
	s := &Server{
		clientID: opts.ClientID,
		now:      opts.Now,
		log:      opts.Log,
		signKey:  key,
		replay:   newReplayCache(maxReplayJTIs),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.SetPublicKeys(opts.PublicKey)
	s.SetClientSecrets(opts.ClientSecret)
	sum := sha256.Sum256(key.N.Bytes())
	s.kid = hex.EncodeToString(sum[:4])
	s.SetTokenTTL(opts.TokenTTL)
	return s, nil
}

// SetPublicKeys replaces the client keys that PoP tokens may be signed
// with. Any one of them is accepted.
func (s *Server) SetPublicKeys(keys ...*rsa.PublicKey) {
	vs := make([]*pop.Validator, 0, len(keys))
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		vs = append(vs, &pop.Validator{Key: k, Now: s.now})
		ids = append(ids, KeyID(k))
	}
	s.keyIDs.Store(&ids)
	s.validators.Store(&vs)
}

// KeyID is the short fingerprint the echo reports for a client key: the
// first 6 bytes of the SHA-256 of its PKIX encoding, in hex.
func KeyID(k *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:6])
}

// SetClientSecrets replaces the client secrets the token endpoint accepts
// for the client id. Any one of them is accepted.
func (s *Server) SetClientSecrets(secrets ...string) {
	cp := append([]string(nil), secrets...)
	s.secrets.Store(&cp)
}

// validateAny accepts tok if any validator does. When all fail it reports
// the failure from a key whose signature matched, if one did: "edts does
// not match" is the useful answer, not "signature invalid" from the key
// that merely comes last.
func validateAny(vs []*pop.Validator, tok string, req pop.Request) (*pop.Claims, int, error) {
	if len(vs) == 0 {
		return nil, -1, errors.New("pop: simulator has no client public key configured")
	}
	var firstErr error
	for i, v := range vs {
		c, err := v.Validate(tok, req)
		if err == nil {
			return c, i, nil
		}
		if firstErr == nil || (errors.Is(firstErr, pop.ErrSignature) && !errors.Is(err, pop.ErrSignature)) {
			firstErr = err
		}
	}
	return nil, -1, firstErr
}

// TokenRequests counts calls to the token endpoint, successful or not.
func (s *Server) TokenRequests() int64 { return s.tokenRequests.Load() }

// SetDown makes the token endpoint answer 503 while down is true, to
// exercise the sidecar's outage handling. Resource calls are unaffected.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetTokenTTL changes the lifetime of tokens issued from now on; zero means
// one hour.
func (s *Server) SetTokenTTL(d time.Duration) {
	if d <= 0 {
		d = defaultTokenTTL
	}
	s.ttl.Store(int64(d))
}

// Handler serves the token endpoint at TokenPath and the resource API on
// every other path.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(TokenPath, s.handleToken)
	mux.HandleFunc("/", s.handleResource)
	return mux
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	s.log.Info("rejected", zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.Int("status", status), zap.String("error", code), zap.String("reason", desc))
	if status == http.StatusUnauthorized && r.URL.Path != TokenPath {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error=%q`, code))
	}
	writeJSON(w, status, oauthError{Error: code, Description: desc})
}

// readBody reads at most maxBodyBytes; a larger body is an error rather
// than silently truncated, because a truncated body would fail edts.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBodyBytes {
		return nil, fmt.Errorf("body exceeds %d bytes", maxBodyBytes)
	}
	return b, nil
}

// checkPoP validates the PoP token of r against its method, URI, headers
// and body, requires it to cover uri, http-method and (when present) body,
// and records its jti. It returns the claims, an OAuth error code and a
// description.
func (s *Server) checkPoP(r *http.Request, body []byte) (*popResult, string, string) {
	tok := r.Header.Get(PoPHeader)
	if tok == "" {
		return nil, "invalid_request", "pop: missing " + PoPHeader + " header"
	}
	req := pop.Request{
		Method: r.Method,
		URI:    pop.URIValue(r.URL),
		Header: r.Header,
		Body:   body,
	}
	ids := *s.keyIDs.Load()
	c, i, err := validateAny(*s.validators.Load(), tok, req)
	if err != nil {
		return nil, "invalid_request", err.Error()
	}
	covered := make(map[string]bool, len(c.EHTS))
	for _, k := range c.EHTS {
		covered[k] = true
	}
	for _, k := range []string{pop.KeyURI, pop.KeyMethod} {
		if !covered[k] {
			return nil, "invalid_request", fmt.Sprintf("pop: ehts %q does not cover %s", strings.Join(c.EHTS, ";"), k)
		}
	}
	if len(body) > 0 && !covered[pop.KeyBody] {
		return nil, "invalid_request", fmt.Sprintf("pop: request has a body but ehts %q does not cover body", strings.Join(c.EHTS, ";"))
	}
	switch s.replay.check(c.JTI, c.ExpiresAt.Add(pop.DefaultLeeway), s.now()) {
	case verdictReplay:
		return nil, "pop_replay", "pop: jti was already used"
	case verdictFull:
		return nil, "temporarily_unavailable", "pop: replay cache is full"
	}
	res := &popResult{Claims: c}
	if i < len(ids) {
		res.keyID = ids[i]
	}
	return res, "", ""
}

// popResult is a verified PoP token and the client key that signed it.
type popResult struct {
	*pop.Claims
	keyID string
}
