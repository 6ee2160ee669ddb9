package sidecar

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/oauth"
	"github.com/oauth-injector/oauth-injector/internal/sharedcache"
)

// cibaShare runs a CIBA fetch under a subject's cross-replica lock. While
// the holder waits for the subscriber, the other replicas wait on the lock
// and read its result: one consent prompt, whichever replica the requests
// reach. The holder records its authorization in the store, so that a
// replica that takes over after the holder died (or restarted) polls it
// instead of prompting the subscriber a second time.
type cibaShare struct {
	client  *oauth.Client
	request func(subject string) oauth.CIBARequest
	log     *zap.Logger
}

// fetch asks subject (the login hint) for consent; stored is the store
// subject of the cache's source, which keys its pending authorization.
func (c *cibaShare) fetch(ctx context.Context, store *sharedcache.Store, lease *sharedcache.Lease, subject, stored string) (*oauth.Token, error) {
	req := c.request(subject)
	if err := req.LoginHintFormat.Validate(req.LoginHint); err != nil {
		return nil, err
	}
	// A store error here only means nothing to resume.
	if p, err := store.PendingCIBA(ctx, stored); err == nil && p != nil {
		c.log.Info("resuming a CIBA authorization another replica started; polling it instead of prompting the subscriber again")
		tok, err := c.client.CIBAPoll(ctx, &oauth.CIBAAuthorization{AuthReqID: p.AuthReqID, Expiry: p.Expiry, Interval: p.Interval})
		c.ended(ctx, lease, err)
		return tok, err
	}
	a, err := c.client.CIBAAuthorize(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := lease.PutPendingCIBA(ctx, sharedcache.PendingCIBA{AuthReqID: a.AuthReqID, Expiry: a.Expiry, Interval: a.Interval}); err != nil {
		c.log.Warn("could not record the CIBA authorization in the shared cache; another replica taking over would prompt the subscriber again", zap.Error(err))
	}
	tok, err := c.client.CIBAPoll(ctx, a)
	c.ended(ctx, lease, err)
	return tok, err
}

// ended drops the pending entry once the authorization is over: approved,
// refused or expired. A poll that stopped for other reasons (shutdown, its
// fetch timeout, a server that kept failing) leaves it, so that the next
// fetch, here or on another replica, resumes it.
func (c *cibaShare) ended(ctx context.Context, lease *sharedcache.Lease, err error) {
	var oe *oauth.Error
	if err != nil && (!errors.As(err, &oe) || oe.Retryable()) {
		return
	}
	_ = lease.ClearPendingCIBA(context.WithoutCancel(ctx))
}
