package refresher

import (
	"context"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
)

// SharedLevel is a second cache level behind the Cache, shared by the
// replicas of a workload (the sidecar puts internal/sharedcache behind it).
// The Cache stays the first level: a caller with a usable local token never
// reaches the shared level. On a local miss, a refresh point or after an
// Invalidate, the Cache calls Get instead of Options.Fetch.
//
// Get returns a token that fresh accepts from the shared level when it has
// one, without a token call; otherwise it obtains one with fetch, at most
// once across the replicas, or falls back to fetch when the shared level is
// unreachable. src says whether this replica called the token endpoint
// (SourceFetch) or not (SourceShared: read from the shared level, or
// refused by it without a call). Get must honour ctx like a FetchFunc.
type SharedLevel interface {
	Get(ctx context.Context, subject string, prev *oauth.Token, fresh func(*oauth.Token) bool, fetch FetchFunc) (tok *oauth.Token, src Source, err error)
}

// Source says where a fetch's outcome came from, for metrics: only
// SourceFetch is a call to the token endpoint.
type Source string

// Sources.
const (
	SourceFetch  Source = "fetch"
	SourceShared Source = "shared"
)

// fresh reports whether tok, offered by the shared level, is worth taking
// instead of a token call: usable now, not yet at its refresh point (drawn
// with r, the same draw the Cache then schedules with, so that a taken token
// is never due at once), and not the token the Cache already had (prev): a
// refresh or an Invalidate asked for a newer one, and getting the same back
// would only loop.
func (c *Cache) fresh(tok, prev *oauth.Token, r float64) bool {
	now := c.o.Now()
	if !tok.Valid(now) || (prev != nil && tok.AccessToken == prev.AccessToken) {
		return false
	}
	until := usableUntil(tok, now, c.o.ExpirySkew)
	if until.IsZero() {
		return true
	}
	if !now.Before(until) {
		return false
	}
	at, _ := refreshPoint(scheduled(tok, until), now, c.o.Before, c.o.Jitter, r)
	return now.Before(at)
}

// scheduled is tok with its expiry moved to the end of its usable window:
// the refresh is planned against the moment callers would block, not the
// expiry.
func scheduled(tok *oauth.Token, until time.Time) *oauth.Token {
	if until.IsZero() {
		return tok
	}
	cp := *tok
	cp.Expiry = until
	return &cp
}

// get runs one fetch: through the shared level when there is one.
func (c *Cache) get(ctx context.Context, subject string, prev *oauth.Token, r float64) (*oauth.Token, Source, error) {
	if c.o.Shared == nil {
		tok, err := c.o.Fetch(ctx, subject, prev)
		return tok, SourceFetch, err
	}
	return c.o.Shared.Get(ctx, subject, prev, func(t *oauth.Token) bool { return c.fresh(t, prev, r) }, c.o.Fetch)
}

// Current returns subject's usable cached token, or nil. It neither fetches
// nor touches the subject's recency; the sidecar uses it to republish its
// tokens to a shared level that has come back.
func (c *Cache) Current(subject string) *oauth.Token {
	e, ok := c.peekEntry(subject)
	if !ok {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.usableLocked(c.o.Now()) {
		return nil
	}
	return e.tok
}
