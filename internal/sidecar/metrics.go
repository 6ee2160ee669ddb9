package sidecar

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/oauth-injector/oauth-injector/internal/refresher"
)

// Metrics are registered on a private registry so that two Servers in one
// test process never collide, and so /metrics shows only what we own plus
// the Go runtime.
type Metrics struct {
	Registry        *prometheus.Registry
	tokenRequests   *prometheus.CounterVec
	refreshLatency  *prometheus.HistogramVec
	tokenTTL        *prometheus.GaugeVec
	popSignLatency  *prometheus.HistogramVec
	proxiedRequests *prometheus.CounterVec
	proxiedLatency  *prometheus.HistogramVec
	reloads         *prometheus.CounterVec
	shared          *sharedVecs
}

// NewMetrics creates the oauth_injector_* collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		tokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_token_requests_total",
			Help: "Token endpoint requests by binding and result (success or error).",
		}, []string{"binding", "result"}),
		refreshLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oauth_injector_token_refresh_duration_seconds",
			Help:    "Time to obtain a token from the token endpoint, including CIBA polling.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"binding"}),
		tokenTTL: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "oauth_injector_token_ttl_seconds",
			Help: "Lifetime of the most recently obtained token.",
		}, []string{"binding"}),
		popSignLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oauth_injector_pop_sign_duration_seconds",
			Help:    "Time to mint a proof-of-possession token or request signature.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 12),
		}, []string{"binding"}),
		proxiedRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_proxied_requests_total",
			Help: "Requests proxied to the partner API by binding and HTTP status code.",
		}, []string{"binding", "code"}),
		proxiedLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oauth_injector_proxied_request_duration_seconds",
			Help:    "End-to-end latency of proxied requests as seen by the app.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"binding"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_injector_credential_reloads_total",
			Help: "Reloads of rotated credential files by binding and result.",
		}, []string{"binding", "result"}),
		shared: newSharedVecs(),
	}
	m.Registry.MustRegister(m.reloads, m.tokenRequests, m.refreshLatency, m.tokenTTL, m.popSignLatency,
		m.proxiedRequests, m.proxiedLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(m.shared.collectors()...)
	return m
}

// bindingMetrics resolves label values once per binding, so the per-request
// path does no label hashing except for the status code.
type bindingMetrics struct {
	name    string
	m       *Metrics
	popSign prometheus.Observer
	latency prometheus.Observer
	codes   map[int]prometheus.Counter
}

func (m *Metrics) forBinding(name string) *bindingMetrics {
	bm := &bindingMetrics{
		name:    name,
		m:       m,
		popSign: m.popSignLatency.WithLabelValues(name),
		latency: m.proxiedLatency.WithLabelValues(name),
		codes:   map[int]prometheus.Counter{},
	}
	// Pre-resolve the common codes; the map is read-only afterwards.
	for _, c := range []int{200, 201, 202, 204, 400, 401, 403, 404, 413, 429, 500, 502, 503, 504} {
		bm.codes[c] = m.proxiedRequests.WithLabelValues(name, strconv.Itoa(c))
	}
	return bm
}

func (bm *bindingMetrics) request(code int, d time.Duration) {
	c, ok := bm.codes[code]
	if !ok {
		c = bm.m.proxiedRequests.WithLabelValues(bm.name, strconv.Itoa(code))
	}
	c.Inc()
	bm.latency.Observe(d.Seconds())
}

// pendingAuthorizations exports a CIBA binding's pending table size, so an
// operator can see grant.ciba.maxPending being approached.
func (bm *bindingMetrics) pendingAuthorizations(n func() int) {
	bm.m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "oauth_injector_ciba_pending_authorizations",
		Help:        "CIBA authorizations waiting for the subscriber (bounded by grant.ciba.maxPending).",
		ConstLabels: prometheus.Labels{"binding": bm.name},
	}, func() float64 { return float64(n()) }))
}

func (bm *bindingMetrics) reload(result string) {
	bm.m.reloads.WithLabelValues(bm.name, result).Inc()
}

// observe is the refresher's metrics hook. An answer of the shared cache
// is not a token request: the replica that made the call counted it.
func (bm *bindingMetrics) observe(e refresher.Event) {
	if e.Source != refresher.SourceShared {
		bm.m.tokenRequests.WithLabelValues(bm.name, e.Result).Inc()
		bm.m.refreshLatency.WithLabelValues(bm.name).Observe(e.Duration.Seconds())
	}
	if e.Result == "success" && e.TTL > 0 {
		bm.m.tokenTTL.WithLabelValues(bm.name).Set(e.TTL.Seconds())
	}
}
