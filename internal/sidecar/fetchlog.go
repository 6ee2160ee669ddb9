package sidecar

import (
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/refresher"
)

// fetchLog turns the refresher's reports into log lines: one per change of
// a failure state (the first failure, a different error, the recovery) and
// one per protective limit taking effect, never one per app request or per
// retry. It logs codes and statuses, never a token, a secret or a subject.
type fetchLog struct {
	log      *zap.Logger // carries the binding name
	grant    string
	endpoint string // token endpoint host
	refresh  config.Refresh
	metrics  *bindingMetrics
	now      func() time.Time
}

func newFetchLog(b *binding) *fetchLog {
	f := &fetchLog{log: b.log, grant: b.cfg.Grant.Type, refresh: b.cfg.Refresh, metrics: b.metrics, now: b.now}
	if te := b.cfg.TokenEndpoint; te != nil {
		if u, err := url.Parse(te.URL); err == nil {
			f.endpoint = u.Host
		}
	}
	return f
}

// observe is the refresher's Observe hook: metrics for every fetch, a log
// line for a change of state.
func (f *fetchLog) observe(ev refresher.Event) {
	f.metrics.observe(ev)
	if !ev.Changed {
		return
	}
	fields := []zap.Field{
		zap.String("grant", f.grant),
		zap.String("endpoint_host", f.endpoint),
		zap.String("scope", ev.Scope),
		// A subject may be a person (a phone number): say only that there is one.
		zap.Bool("per_subject", ev.Subject != ""),
	}
	if ev.Result == refresher.ResultSuccess {
		f.log.Info("token fetch recovered", append(fields, zap.Int("failed_attempts", ev.Failures))...)
		return
	}
	code, status := refresher.FailureCode(ev.Err)
	fields = append(fields,
		zap.String("oauth_error", code),
		zap.Int("http_status", status),
		zap.Int("attempt", ev.Failures),
		zap.Time("next_retry", ev.NextRetry),
		zap.Duration("retry_in", ev.NextRetry.Sub(f.now()).Round(time.Millisecond)),
	)
	if ev.Scope == refresher.ScopeBinding {
		// Built by the oauth package from codes, statuses and redacted
		// server text; a subject-level error may quote the subject.
		fields = append(fields, zap.String("detail", ev.Err.Error()))
	}
	f.log.Warn("token fetch failed", fields...)
}

// notice is the refresher's Notice hook.
func (f *fetchLog) notice(n refresher.Notice) {
	switch n.Kind {
	case refresher.NoticeShortLifetime:
		f.log.Warn("token lifetime is shorter than refresh.minInterval: between token calls, requests get 503 token_unavailable",
			zap.String("grant", f.grant), zap.String("endpoint_host", f.endpoint),
			zap.Duration("usable_lifetime", n.Lifetime),
			zap.Duration("min_interval", f.refresh.MinInterval.Duration),
			zap.Duration("expiry_skew", f.refresh.ExpirySkew.Duration))
	case refresher.NoticeRateLimited:
		f.log.Warn("token-call rate limit reached: requests that need a new token get 503 token_unavailable until it recovers",
			zap.String("grant", f.grant), zap.String("endpoint_host", f.endpoint),
			zap.Int("max_calls_per_second", f.refresh.MaxCallsPerSecond))
	}
}
