package sharedcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// storedToken is a token as sealed in a KindToken entry. The refresh token
// is not part of it: it lives in its own KindRefreshToken entry, written
// first, so that there is exactly one copy of it to keep current.
type storedToken struct {
	AccessToken     string    `json:"at"`
	TokenType       string    `json:"tt,omitempty"`
	IDToken         string    `json:"id,omitempty"`
	Scope           string    `json:"sc,omitempty"`
	IssuedTokenType string    `json:"itt,omitempty"`
	Expiry          time.Time `json:"exp,omitzero"`
	IssuedAt        time.Time `json:"iat,omitzero"`
	MACKey          string    `json:"mk,omitempty"`
	MACAlgorithm    string    `json:"ma,omitempty"`
}

// Token returns the subject's shared token (RefreshToken empty) and the
// fence it was written under, or nil when there is none. The token may have
// expired; the caller decides whether it is usable.
func (s *Store) Token(ctx context.Context, subject string) (*oauth.Token, int64, error) {
	f, _, err := s.read(ctx, KindToken, subject, nil)
	if err != nil || f == nil {
		return nil, 0, err
	}
	tok, err := decodeToken(f.plain)
	if err != nil {
		return nil, 0, err
	}
	return tok, f.fence, nil
}

func decodeToken(plain []byte) (*oauth.Token, error) {
	var st storedToken
	if err := json.Unmarshal(plain, &st); err != nil {
		return nil, fmt.Errorf("sharedcache: decoding a token entry: %w", err)
	}
	return &oauth.Token{
		AccessToken: st.AccessToken, TokenType: st.TokenType, IDToken: st.IDToken,
		Scope: st.Scope, IssuedTokenType: st.IssuedTokenType, Expiry: st.Expiry,
		IssuedAt: st.IssuedAt, MACKey: st.MACKey, MACAlgorithm: st.MACAlgorithm,
	}, nil
}

// PutToken writes tok for the lease's subject, without its refresh token
// (see PutRefreshToken), to expire with it. It returns ErrStale when a newer
// lease has written the entry.
func (l *Lease) PutToken(ctx context.Context, tok *oauth.Token) error {
	var ttl time.Duration
	if !tok.Expiry.IsZero() {
		ttl = tok.Expiry.Sub(l.s.o.Now())
		if ttl <= 0 {
			return errors.New("sharedcache: refusing to share a token that has already expired")
		}
	}
	plain, err := json.Marshal(storedToken{
		AccessToken: tok.AccessToken, TokenType: tok.TokenType, IDToken: tok.IDToken,
		Scope: tok.Scope, IssuedTokenType: tok.IssuedTokenType, Expiry: tok.Expiry,
		IssuedAt: tok.IssuedAt, MACKey: tok.MACKey, MACAlgorithm: tok.MACAlgorithm,
	})
	if err != nil {
		return fmt.Errorf("sharedcache: encoding a token: %w", err)
	}
	return l.put(ctx, KindToken, plain, ttl)
}

// RefreshToken returns the subject's current shared refresh token and the
// fence it was written under, or "" when there is none.
func (s *Store) RefreshToken(ctx context.Context, subject string) (string, int64, error) {
	f, _, err := s.read(ctx, KindRefreshToken, subject, nil)
	if err != nil || f == nil {
		return "", 0, err
	}
	return string(f.plain), f.fence, nil
}

// PutRefreshToken makes rt the subject's current refresh token. A holder
// that received a rotated refresh token calls it before the token is used
// or handed to anyone, so that no replica refreshes with the one the server
// has just retired. It returns ErrStale when a newer lease has written one.
//
// When it fails with ErrUnavailable the rotated token exists only in the
// caller's memory: the caller keeps it and calls PutRefreshToken again on
// the same lease once the store is back (the fence, not the lock, decides
// the write, so the lock need not be held any more).
func (l *Lease) PutRefreshToken(ctx context.Context, rt string) error {
	if rt == "" {
		return errors.New("sharedcache: refusing to share an empty refresh token")
	}
	return l.put(ctx, KindRefreshToken, []byte(rt), l.s.o.RefreshTokenTTL)
}

// PendingCIBA is a CIBA authorization in progress: another replica polls
// AuthReqID instead of starting a new authorization (and a second consent
// prompt on the subscriber's phone).
type PendingCIBA struct {
	AuthReqID string        `json:"id"`
	Expiry    time.Time     `json:"exp"`
	Interval  time.Duration `json:"int"`
}

// PendingCIBA returns the subject's pending authorization, or nil.
func (s *Store) PendingCIBA(ctx context.Context, subject string) (*PendingCIBA, error) {
	f, _, err := s.read(ctx, KindPendingCIBA, subject, nil)
	if err != nil || f == nil {
		return nil, err
	}
	var p PendingCIBA
	if err := json.Unmarshal(f.plain, &p); err != nil {
		return nil, fmt.Errorf("sharedcache: decoding a pending CIBA entry: %w", err)
	}
	return &p, nil
}

// PutPendingCIBA records p for the lease's subject until p.Expiry.
func (l *Lease) PutPendingCIBA(ctx context.Context, p PendingCIBA) error {
	if p.AuthReqID == "" {
		return errors.New("sharedcache: PendingCIBA.AuthReqID is required")
	}
	ttl := p.Expiry.Sub(l.s.o.Now())
	if ttl <= 0 {
		return errors.New("sharedcache: refusing to share a CIBA authorization that has already expired")
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("sharedcache: encoding a pending CIBA entry: %w", err)
	}
	return l.put(ctx, KindPendingCIBA, plain, ttl)
}

// ClearPendingCIBA removes the subject's pending authorization once it has
// ended (token issued, denied or expired).
func (l *Lease) ClearPendingCIBA(ctx context.Context) error {
	return l.del(ctx, KindPendingCIBA)
}
