package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const admissionHistogram = "oauth_injector_webhook_admission_duration_seconds"

// histogram is one label set of a Prometheus histogram: cumulative bucket
// counts by upper bound.
type histogram struct {
	count   uint64
	sum     float64
	buckets []*dto.Bucket
}

// scrapeAdmission reads the webhook's admission histogram, by result label.
func (s *suite) scrapeAdmission(t *testing.T) map[string]histogram {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", s.metricsPort), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping webhook metrics: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing webhook metrics: %v", err)
	}
	out := map[string]histogram{}
	fam, ok := fams[admissionHistogram]
	if !ok {
		return out
	}
	for _, m := range fam.GetMetric() {
		result := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "result" {
				result = l.GetValue()
			}
		}
		h := m.GetHistogram()
		out[result] = histogram{count: h.GetSampleCount(), sum: h.GetSampleSum(), buckets: h.GetBucket()}
	}
	return out
}

func total(hs map[string]histogram) uint64 {
	var n uint64
	for _, h := range hs {
		n += h.count
	}
	return n
}

// diff is after minus before, bucket by bucket: the observations made in
// between.
func diff(before, after histogram) histogram {
	d := histogram{count: after.count - before.count, sum: after.sum - before.sum}
	for i, b := range after.buckets {
		c := b.GetCumulativeCount()
		if i < len(before.buckets) {
			c -= before.buckets[i].GetCumulativeCount()
		}
		ub := b.GetUpperBound()
		d.buckets = append(d.buckets, &dto.Bucket{UpperBound: &ub, CumulativeCount: &c})
	}
	return d
}

// quantile estimates q the way PromQL's histogram_quantile does: linear
// interpolation inside the bucket holding the rank.
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 || len(h.buckets) == 0 {
		return math.NaN()
	}
	bs := append([]*dto.Bucket(nil), h.buckets...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].GetUpperBound() < bs[j].GetUpperBound() })
	rank := q * float64(h.count)
	lowerBound, lowerCount := 0.0, 0.0
	for _, b := range bs {
		c := float64(b.GetCumulativeCount())
		if c >= rank {
			if c == lowerCount {
				return b.GetUpperBound()
			}
			return lowerBound + (b.GetUpperBound()-lowerBound)*(rank-lowerCount)/(c-lowerCount)
		}
		lowerBound, lowerCount = b.GetUpperBound(), c
	}
	// Above the largest finite bucket: PromQL returns that bound.
	return bs[len(bs)-1].GetUpperBound()
}
