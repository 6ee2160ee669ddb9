package sidecar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
	"github.com/oauth-injector/oauth-injector/internal/sharedcache"
)

// sharedLevel is the binding's refresher.SharedLevel: the Redis/Valkey
// store behind the local cache (docs/scaling.md). The proxy pipeline never
// sees it; the refresher asks it on local misses and refreshes only, so a
// local hit costs no store call.
//
// What it adds to sharedcache.Store.Fill is the binding's knowledge: which
// grants need more than "fetch and publish" (a rotating refresh token goes
// through a sharedcache.Chain, CIBA records and resumes pending
// authorizations), and what to do when the store is unreachable (fetch
// alone, except for a refresh token this replica cannot vouch for).
type sharedLevel struct {
	store *sharedcache.Store
	log   *zap.Logger
	m     *sharedMetrics
	now   func() time.Time

	// chain is set for the refresh_token grant.
	chain   *sharedcache.Chain
	boot    func() sharedcache.Bootstrap
	refresh sharedcache.RefreshFunc
	// ciba is set for the CIBA grant.
	ciba *cibaShare
	// current reads the local cache, for republishing after an outage.
	current func(subject string) *oauth.Token

	// keyFiles are the encryption key files; a change reloads the keyring.
	keyFiles []string
	enc      config.SharedCacheEncryption

	ctx    context.Context // ends on close; republishing runs under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newSharedLevel connects nothing yet: a store that is down at start only
// means the binding runs on its local cache until it is reachable.
func (b *binding) newSharedLevel() (*sharedLevel, error) {
	sc := b.cfg.SharedCache
	o, err := sharedcache.FromConfig(sc, b.cfg.Name, b.files.text(b.cfg.ClientAuth.ClientIDFile))
	if err != nil {
		return nil, fmt.Errorf("sharedCache: %w", err)
	}
	l := &sharedLevel{log: b.log, m: b.metrics.shared(), now: b.now, enc: sc.Encryption,
		keyFiles: append([]string{sc.Encryption.KeyFile}, sc.Encryption.PreviousKeyFiles...)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	o.Logger, o.Metrics, o.Now = b.log, l.m, b.now
	o.OnStateChange = l.stateChanged
	if l.store, err = sharedcache.New(o); err != nil {
		return nil, fmt.Errorf("sharedCache: %w", err)
	}
	l.m.setUp(true)
	b.log.Info("shared cache configured", zap.String("address", sc.Address),
		zap.Strings("key_ids", o.Keyring.KeyIDs()), zap.Duration("timeout", sc.Timeout.Duration))
	return l, nil
}

// Get implements refresher.SharedLevel.
func (l *sharedLevel) Get(ctx context.Context, subject string, prev *oauth.Token, fresh func(*oauth.Token) bool, fetch refresher.FetchFunc) (*oauth.Token, refresher.Source, error) {
	f, err := l.store.Fill(ctx, subject, fresh, func(ctx context.Context, lease *sharedcache.Lease, _ *oauth.Token) (*oauth.Token, error) {
		switch {
		case l.chain != nil:
			return l.chain.Refresh(ctx, lease, l.boot(), l.refresh)
		case l.ciba != nil:
			return l.ciba.fetch(ctx, l.store, lease, subject)
		}
		return fetch(ctx, subject, prev)
	})
	switch {
	case err == nil && f.Lease == nil:
		if l.chain != nil {
			l.chain.Observe(f.Fence)
		}
		l.m.fill(fillShared)
		return f.Token, refresher.SourceShared, nil
	case err == nil:
		l.m.fill(fillFetched)
		return f.Token, refresher.SourceFetch, nil
	case !errors.Is(err, sharedcache.ErrUnavailable):
		return nil, l.source(err), err
	}
	// The store is unreachable or slow: this replica is on its own.
	if l.chain != nil {
		tok, err := l.chain.RefreshLocal(ctx, l.refresh)
		if src := l.source(err); src == refresher.SourceShared {
			return nil, src, err
		}
		l.m.fill(fillFallback)
		return tok, refresher.SourceFetch, err
	}
	l.m.fill(fillFallback)
	tok, err := fetch(ctx, subject, prev)
	return tok, refresher.SourceFetch, err
}

// source says whether err came from a token call; a Chain's refusal did not
// make one.
func (l *sharedLevel) source(err error) refresher.Source {
	var we *sharedcache.WaitError
	if errors.As(err, &we) {
		l.m.fill(fillRefused)
		return refresher.SourceShared
	}
	return refresher.SourceFetch
}

// stateChanged is the store's OnStateChange: called on whichever goroutine
// made the call that noticed, so the work it starts runs on its own.
func (l *sharedLevel) stateChanged(up bool) {
	l.m.setUp(up)
	if !up {
		return
	}
	if l.chain != nil {
		l.chain.Recovered()
	}
	if l.current == nil || l.ctx.Err() != nil {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.republish(l.ctx)
	}()
}

// republish puts the client-level token this replica used while the store
// was away back into it, unless the store already has a usable one, so
// that the other replicas need not each fetch their own. Per-subject tokens
// are left to their next refresh. It never writes a refresh token: those go
// only through the Chain.
func (l *sharedLevel) republish(ctx context.Context) {
	tok := l.current("")
	if tok == nil {
		return
	}
	cp := *tok
	cp.RefreshToken = ""
	now := l.now()
	f, err := l.store.Fill(ctx, "", func(t *oauth.Token) bool { return t.Valid(now) }, func(context.Context, *sharedcache.Lease, *oauth.Token) (*oauth.Token, error) {
		return &cp, nil
	})
	if err == nil && f.Lease != nil && f.PublishErr == nil {
		l.log.Info("republished the client-level token to the shared cache after its outage")
	}
}

// reload swaps the keyring when a key file changed. It reports whether it
// had anything to do and an error when the new keys do not load, in which
// case the store keeps the previous ones.
func (l *sharedLevel) reload(changed map[string]bool) (bool, error) {
	touched := false
	for _, f := range l.keyFiles {
		touched = touched || changed[f]
	}
	if !touched {
		return false, nil
	}
	kr, err := sharedcache.LoadKeyring(l.enc.KeyFile, l.enc.PreviousKeyFiles...)
	if err == nil {
		err = l.store.SetKeyring(kr)
	}
	if err != nil {
		return true, fmt.Errorf("sharedCache.encryption: %w", err)
	}
	l.log.Info("shared cache keys reloaded", zap.Strings("key_ids", kr.KeyIDs()))
	return true, nil
}

// close stops republishing and the chain's write-back, then disconnects.
func (l *sharedLevel) close() {
	l.cancel()
	l.wg.Wait()
	if l.chain != nil {
		l.chain.Close()
	}
	_ = l.store.Close()
}

// origin names the consent a refresh token in the Secret stands for,
// without revealing it: a hash of the token.
func origin(rt string) string {
	sum := sha256.Sum256([]byte(rt))
	return hex.EncodeToString(sum[:16])
}
