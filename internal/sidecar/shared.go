package sidecar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
	"github.com/oauth-injector/oauth-injector/internal/sharedcache"
)

// sharedLevel is the binding's Redis/Valkey store behind its local token
// caches (docs/scaling.md): the connection, keys and outage handling they
// have in common. Each cache gets its own sourceShare.
type sharedLevel struct {
	store *sharedcache.Store
	log   *zap.Logger
	m     *sharedMetrics
	now   func() time.Time

	mu      sync.Mutex
	sources []*sourceShare
	chains  []*sharedcache.Chain

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

// sourceShare is one token cache's refresher.SharedLevel: the shared
// cache seen from one token source (the binding's own grant, or an
// operation's provider, scope set and CIBA purpose). The proxy pipeline
// never sees it; the refresher asks it on local misses and refreshes only,
// so a local hit costs no store call.
//
// What it adds to sharedcache.Store.Fill is the binding's knowledge: which
// store subject holds the source's entries (sharedcache.Sourced), which
// grants need more than "fetch and publish" (a rotating refresh token goes
// through its provider's sharedcache.Chain, CIBA records and resumes
// pending authorizations), and what to do when the store is unreachable
// (fetch alone, except for a refresh token this replica cannot vouch for).
type sourceShare struct {
	*sharedLevel
	// source tells the source's store entries apart from the other
	// sources' (sharedcache.Sourced); nil for the binding's own grant.
	source []string

	// chain is set for the refresh_token grant; it is the provider's,
	// shared by every scope set.
	chain   *sharedcache.Chain
	boot    func() sharedcache.Bootstrap
	refresh sharedcache.RefreshFunc
	// ciba is set for the CIBA grant.
	ciba *cibaShare
	// current reads the local cache, for republishing after an outage.
	current func(subject string) *oauth.Token
}

// newCache makes the token cache of one token source, behind the shared
// cache when the binding has one.
func (b *binding) newCache(ro refresher.Options, src grantSource, k sourceKey) (*refresher.Cache, error) {
	if b.shared == nil {
		return refresher.New(ro)
	}
	s := b.shareSource(src, k)
	ro.Shared = s
	c, err := refresher.New(ro)
	if err != nil {
		return nil, err
	}
	s.current = c.Current
	b.shared.mu.Lock()
	b.shared.sources = append(b.shared.sources, s)
	b.shared.mu.Unlock()
	return c, nil
}

// shareSource gives the shared level what the source's grant needs beyond
// "fetch and publish", under the source's own store entries.
func (b *binding) shareSource(src grantSource, k sourceKey) *sourceShare {
	l := b.shared
	s := &sourceShare{sharedLevel: l}
	clientID := b.files.text(b.cfg.ClientAuth.ClientIDFile)
	if i := slices.IndexFunc(b.cfg.Providers, func(p config.Provider) bool { return p.Name == k.provider }); i >= 0 {
		clientID = b.files.text(b.cfg.Providers[i].ClientAuth.ClientIDFile)
	}
	if k != keyOf("", b.cfg.Grant) {
		// The provider's client id, as the binding's own is part of every
		// name: another client's tokens are not this one's.
		s.source = []string{"provider", k.provider, clientID, "scopes", k.scopes, "purpose", k.purpose}
	}
	g := src.grant
	switch {
	case g.RefreshToken != nil:
		if src.refresh.shared == nil {
			// One chain per provider: its refresh token serves every
			// scope set, and a rotating one must never be sent twice.
			var chainSource []string
			if k.provider != "" {
				chainSource = []string{"refresh-token-of", k.provider, clientID}
			}
			src.refresh.shared = l.store.NewChain(sharedcache.Sourced("", chainSource...))
			l.mu.Lock()
			l.chains = append(l.chains, src.refresh.shared)
			l.mu.Unlock()
		}
		s.chain = src.refresh.shared
		s.boot = func() sharedcache.Bootstrap {
			rt := b.files.text(g.RefreshToken.File)
			return sharedcache.Bootstrap{Token: rt, Origin: origin(rt)}
		}
		s.refresh = func(ctx context.Context, rt string) (*oauth.Token, error) {
			return src.client.Refresh(ctx, rt, g.Scopes)
		}
	case g.CIBA != nil:
		s.ciba = &cibaShare{client: src.client, request: func(subject string) oauth.CIBARequest { return cibaRequest(g, subject) }, log: b.log}
	}
	return s
}

// Get implements refresher.SharedLevel.
func (s *sourceShare) Get(ctx context.Context, subject string, prev *oauth.Token, fresh func(*oauth.Token) bool, fetch refresher.FetchFunc) (*oauth.Token, refresher.Source, error) {
	stored := sharedcache.Sourced(subject, s.source...)
	f, err := s.store.Fill(ctx, stored, fresh, func(ctx context.Context, lease *sharedcache.Lease, _ *oauth.Token) (*oauth.Token, error) {
		switch {
		case s.chain != nil:
			return s.chain.Refresh(ctx, lease, s.boot(), s.refresh)
		case s.ciba != nil:
			return s.ciba.fetch(ctx, s.store, lease, subject, stored)
		}
		return fetch(ctx, subject, prev)
	})
	switch {
	case err == nil && f.Lease == nil:
		if s.chain != nil {
			// Fences are binding-wide, so any entry's tells the chain
			// how far the store has come.
			s.chain.Observe(f.Fence)
		}
		s.m.fill(fillShared)
		return f.Token, refresher.SourceShared, nil
	case err == nil:
		s.m.fill(fillFetched)
		return f.Token, refresher.SourceFetch, nil
	case !errors.Is(err, sharedcache.ErrUnavailable):
		return nil, s.errSource(err), err
	}
	// The store is unreachable or slow: this replica is on its own.
	if s.chain != nil {
		tok, err := s.chain.RefreshLocal(ctx, s.refresh)
		if src := s.errSource(err); src == refresher.SourceShared {
			return nil, src, err
		}
		s.m.fill(fillFallback)
		return tok, refresher.SourceFetch, err
	}
	s.m.fill(fillFallback)
	tok, err := fetch(ctx, subject, prev)
	return tok, refresher.SourceFetch, err
}

// errSource says whether err came from a token call; a Chain's refusal did
// not make one.
func (l *sharedLevel) errSource(err error) refresher.Source {
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
	l.mu.Lock()
	chains, sources := slices.Clone(l.chains), slices.Clone(l.sources)
	l.mu.Unlock()
	for _, c := range chains {
		c.Recovered()
	}
	if l.ctx.Err() != nil {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for _, s := range sources {
			s.republish(l.ctx)
		}
	}()
}

// republish puts the client-level token this replica used while the store
// was away back into it, unless the store already has a usable one, so
// that the other replicas need not each fetch their own. Per-subject tokens
// are left to their next refresh. It never writes a refresh token: those go
// only through the Chain.
func (s *sourceShare) republish(ctx context.Context) {
	tok := s.current("")
	if tok == nil {
		return
	}
	cp := *tok
	cp.RefreshToken = ""
	now := s.now()
	f, err := s.store.Fill(ctx, sharedcache.Sourced("", s.source...), func(t *oauth.Token) bool { return t.Valid(now) }, func(context.Context, *sharedcache.Lease, *oauth.Token) (*oauth.Token, error) {
		return &cp, nil
	})
	if err == nil && f.Lease != nil && f.PublishErr == nil {
		s.log.Info("republished the client-level token to the shared cache after its outage")
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
	for _, c := range l.chains {
		c.Close()
	}
	_ = l.store.Close()
}

// origin names the consent a refresh token in the Secret stands for,
// without revealing it: a hash of the token.
func origin(rt string) string {
	sum := sha256.Sum256([]byte(rt))
	return hex.EncodeToString(sum[:16])
}
