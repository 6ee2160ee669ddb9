package injectorcli

import (
	"go.uber.org/zap"
)

// sidecarProcs is the most Ps (GOMAXPROCS) the sidecar runs with unless
// GOMAXPROCS is set. Without a CPU limit on its container (the webhook sets
// none by default) the runtime would take one P per node CPU; each P is
// another thread the scheduler wakes to look for work and another
// garbage-collector worker, for a process whose work per request is tens of
// microseconds. Two Ps, the concurrency Istio gives its sidecars, keep a
// second thread for a burst or a descheduled first one: measured at 1000
// req/s on 2 vCPUs, 16 Ps cost 0.31 vCPU and 12 context switches per
// request, 2 Ps 0.28 and 10.5, 1 P 0.22 and 5.8 but with a p99 of 11-30 ms
// instead of 4 ms (bench/README.md). A TAAP sidecar's RSA signatures use
// both.
const sidecarProcs = 2

// limitProcs lowers GOMAXPROCS to sidecarProcs unless the environment sets
// GOMAXPROCS; it never raises it (a CPU limit or affinity mask of one CPU
// stays one P). setProcs is runtime.GOMAXPROCS.
func limitProcs(getenv func(string) string, setProcs func(int) int, log *zap.Logger) {
	if getenv("GOMAXPROCS") != "" {
		return
	}
	if cur := setProcs(0); cur > sidecarProcs {
		setProcs(sidecarProcs)
		log.Info("GOMAXPROCS lowered for a sidecar; set GOMAXPROCS to override", zap.Int("from", cur), zap.Int("to", sidecarProcs))
	}
}
