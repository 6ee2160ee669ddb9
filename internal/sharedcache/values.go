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

// RefreshState is a subject's entry of KindRefreshToken: the current
// refresh token of a grant, and who is using it right now.
type RefreshState struct {
	// Token is the refresh token the server expects next.
	Token string `json:"t"`
	// Origin names the consent Token descends from: opaque to the store
	// (the sidecar uses a hash of the refresh token in its Secret), so that
	// a new consent put into the Secret can be told from an older chain.
	Origin string `json:"o,omitempty"`
	// Claim is the fence of a holder that has sent Token to the token
	// endpoint and not yet written back what it got; 0 when nobody has.
	// Until ClaimExpiry, nobody else may send Token: the server may already
	// have retired it, and servers with reuse detection revoke the whole
	// grant when a retired refresh token comes back.
	Claim       int64     `json:"c,omitempty"`
	ClaimExpiry time.Time `json:"ce,omitzero"`
}

// claimedBy reports whether another holder than fence has a claim on the
// entry at now.
func (r *RefreshState) claimedBy(fence int64, now time.Time) bool {
	return r.Claim != 0 && r.Claim != fence && now.Before(r.ClaimExpiry)
}

// Refresh returns the subject's refresh-token entry and the fence it was
// written under, or nil when there is none.
func (s *Store) Refresh(ctx context.Context, subject string) (*RefreshState, int64, error) {
	f, _, err := s.read(ctx, KindRefreshToken, subject, nil)
	if err != nil || f == nil {
		return nil, 0, err
	}
	var r RefreshState
	if err := json.Unmarshal(f.plain, &r); err != nil {
		return nil, 0, fmt.Errorf("sharedcache: decoding a refresh-token entry: %w", err)
	}
	return &r, f.fence, nil
}

// PutRefresh writes r as the subject's refresh-token entry. It returns
// ErrStale when a newer lease has written one.
//
// When it fails with ErrUnavailable, what the caller meant to write exists
// only in its memory: it keeps it and writes it again under the same fence
// once the store is back (Chain does). The fence, not the lock, decides the
// write, so the lock need not be held any more.
func (l *Lease) PutRefresh(ctx context.Context, r RefreshState) error {
	if r.Token == "" {
		return errors.New("sharedcache: refusing to share an empty refresh token")
	}
	plain, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sharedcache: encoding a refresh-token entry: %w", err)
	}
	return l.put(ctx, KindRefreshToken, plain, l.s.o.RefreshTokenTTL)
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
