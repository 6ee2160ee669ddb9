package sidecar

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/oauth-injector/oauth-injector/internal/sharedcache"
)

// sharedVecs are the shared cache's collectors, registered with the others
// whether or not a binding uses a shared cache, so that dashboards find
// the same series names everywhere.
type sharedVecs struct {
	calls      *prometheus.CounterVec
	lookups    *prometheus.CounterVec
	errors     *prometheus.CounterVec
	lockWaits  *prometheus.CounterVec
	staleWrite *prometheus.CounterVec
	fills      *prometheus.CounterVec
	up         *prometheus.GaugeVec
}

func newSharedVecs() *sharedVecs {
	return &sharedVecs{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_shared_cache_calls_total",
			Help: "Round trips to the shared cache by operation. A request served from the local cache makes none.",
		}, []string{"binding", "op"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_shared_cache_lookups_total",
			Help: "Shared cache reads by entry kind and result (hit or miss).",
		}, []string{"binding", "kind", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_shared_cache_errors_total",
			Help: "Failed shared cache calls by operation; open and decode are entries this replica cannot read.",
		}, []string{"binding", "op"}),
		lockWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_shared_cache_lock_waits_total",
			Help: "Fetches that waited for another replica's token call instead of making one.",
		}, []string{"binding"}),
		staleWrite: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_shared_cache_stale_writes_total",
			Help: "Writes refused because a replica with a newer lock had already written.",
		}, []string{"binding", "kind"}),
		fills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_shared_cache_fills_total",
			Help: "Local cache misses and refreshes by outcome: shared (no token call), fetched (this replica called for all), fallback (shared cache unreachable, fetched alone), refused (a rotating refresh token this replica cannot vouch for).",
		}, []string{"binding", "outcome"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "oauth_injector_shared_cache_up",
			Help: "1 while the last shared cache call reached the server, 0 after one failed for lack of it.",
		}, []string{"binding"}),
	}
}

func (v *sharedVecs) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.calls, v.lookups, v.errors, v.lockWaits, v.staleWrite, v.fills, v.up}
}

// Fill outcomes.
const (
	fillShared   = "shared"
	fillFetched  = "fetched"
	fillFallback = "fallback"
	fillRefused  = "refused"
)

// sharedMetrics is one binding's sharedcache.Metrics.
type sharedMetrics struct {
	v    *sharedVecs
	name string
}

func (bm *bindingMetrics) shared() *sharedMetrics {
	return &sharedMetrics{v: bm.m.shared, name: bm.name}
}

func (m *sharedMetrics) Call(op string) { m.v.calls.WithLabelValues(m.name, op).Inc() }

func (m *sharedMetrics) Lookup(kind sharedcache.Kind, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.v.lookups.WithLabelValues(m.name, kind.String(), result).Inc()
}

func (m *sharedMetrics) Error(op string) { m.v.errors.WithLabelValues(m.name, op).Inc() }
func (m *sharedMetrics) LockWait()       { m.v.lockWaits.WithLabelValues(m.name).Inc() }
func (m *sharedMetrics) StaleWrite(kind sharedcache.Kind) {
	m.v.staleWrite.WithLabelValues(m.name, kind.String()).Inc()
}

func (m *sharedMetrics) fill(outcome string) { m.v.fills.WithLabelValues(m.name, outcome).Inc() }

func (m *sharedMetrics) setUp(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.v.up.WithLabelValues(m.name).Set(v)
}
