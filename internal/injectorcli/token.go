package injectorcli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/sidecar"
)

// tokenCmd runs a binding's grant once. Tokens are printed as fingerprints:
// the output is meant for tickets and chat, where a live token must not go.
func tokenCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := newFlagSet("token")
	cfgPath := fs.String("config", "", "config file (default: $"+ConfigEnv+")")
	name := fs.String("binding", "", "binding name")
	subject := fs.String("subject", "", "CIBA login_hint or token-exchange user, for per-subject grants")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError{fmt.Errorf("--binding is required")}
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	tok, err := sidecar.FetchOnce(ctx, cfg, *name, *subject, zap.NewNop())
	if err != nil {
		return err
	}
	out := struct {
		Binding         string `json:"binding"`
		TokenType       string `json:"token_type"`
		AccessToken     string `json:"access_token"`
		IDToken         string `json:"id_token,omitempty"`
		RefreshToken    string `json:"refresh_token,omitempty"`
		Scope           string `json:"scope,omitempty"`
		IssuedTokenType string `json:"issued_token_type,omitempty"`
		ExpiresIn       int64  `json:"expires_in,omitempty"`
		Expiry          string `json:"expiry,omitempty"`
	}{
		Binding: *name, TokenType: tok.TokenType, AccessToken: Fingerprint(tok.AccessToken),
		IDToken: Fingerprint(tok.IDToken), RefreshToken: Fingerprint(tok.RefreshToken),
		Scope: tok.Scope, IssuedTokenType: tok.IssuedTokenType,
	}
	if !tok.Expiry.IsZero() {
		out.ExpiresIn = int64(time.Until(tok.Expiry).Round(time.Second) / time.Second)
		out.Expiry = tok.Expiry.UTC().Format(time.RFC3339)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// Fingerprint identifies a token without revealing it: enough to match two
// log lines, useless to an attacker.
func Fingerprint(tok string) string {
	if tok == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tok))
	return fmt.Sprintf("sha256:%s (%d chars)", hex.EncodeToString(sum[:6]), len(tok))
}
