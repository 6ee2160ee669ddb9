package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"
)

// latencyPods is how many annotated pods TestAdmissionLatency creates.
const latencyPods = 200

// TestAdmissionLatency creates 200 annotated pods one after another through
// the API server and reports the webhook's own admission time (from its
// Prometheus histogram) and the client-observed create time. It asserts
// only correctness (every pod patched); the figures are logged, never
// compared with a threshold, because the machine's load decides them.
func TestAdmissionLatency(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "latency")
	s.createFixtureSecrets(t, ns)
	s.createBinding(t, ns, "tmobile", 15001, "")
	// One warm-up pod so connection setup is not in the figures.
	s.create(t, annotatedPod(ns, "warmup", "tmobile"))

	before := s.scrapeAdmission(t)
	wall := make([]time.Duration, 0, latencyPods)
	for i := 0; i < latencyPods; i++ {
		p := annotatedPod(ns, fmt.Sprintf("p-%03d", i), "tmobile")
		start := time.Now()
		if err := s.client.Create(context.Background(), p); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		wall = append(wall, time.Since(start))
		if countSidecars(p) != 1 {
			t.Fatalf("pod %d was not injected", i)
		}
	}
	after := s.scrapeAdmission(t)
	patched := diff(before["patched"], after["patched"])
	if patched.count != latencyPods {
		t.Errorf("webhook histogram recorded %d patched admissions, want %d", patched.count, latencyPods)
	}
	sort.Slice(wall, func(i, j int) bool { return wall[i] < wall[j] })
	pct := func(q float64) time.Duration { return wall[int(q*float64(len(wall)-1))] }
	ms := func(sec float64) string { return fmt.Sprintf("%.2fms", sec*1000) }
	t.Logf("admission over %d pod creates: webhook handler (histogram %s, interpolated) p50=%s p99=%s mean=%s",
		patched.count, admissionHistogram, ms(patched.quantile(0.5)), ms(patched.quantile(0.99)), ms(patched.sum/float64(patched.count)))
	t.Logf("client-observed pod create (API server round trip incl. webhook call): p50=%s p99=%s max=%s",
		pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), wall[len(wall)-1].Round(10*time.Microsecond))
}
