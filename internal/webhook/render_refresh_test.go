package webhook

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestRenderRefresh: spec.refresh reaches the sidecar config; what the
// binding leaves out gets the sidecar's defaults.
func TestRenderRefresh(t *testing.T) {
	d := func(v time.Duration) *metav1.Duration { return &metav1.Duration{Duration: v} }
	n := int32(25)
	tests := []struct {
		name string
		spec *v1alpha1.Refresh
		want config.Refresh
	}{
		{"absent", nil, config.Refresh{
			Before: config.Duration{Duration: config.DefaultRefreshBefore}, ExpirySkew: config.Duration{Duration: config.DefaultExpirySkew},
			MinInterval: config.Duration{Duration: config.DefaultMinRefresh}, MaxCallsPerSecond: config.DefaultMaxTokenCalls,
		}},
		{"every field", &v1alpha1.Refresh{Before: d(time.Minute), ExpirySkew: d(5 * time.Second), MinInterval: d(2 * time.Second), MaxCallsPerSecond: &n}, config.Refresh{
			Before: config.Duration{Duration: time.Minute}, ExpirySkew: config.Duration{Duration: 5 * time.Second},
			MinInterval: config.Duration{Duration: 2 * time.Second}, MaxCallsPerSecond: 25,
		}},
		{"only the skew", &v1alpha1.Refresh{ExpirySkew: d(3 * time.Second)}, config.Refresh{
			Before: config.Duration{Duration: config.DefaultRefreshBefore}, ExpirySkew: config.Duration{Duration: 3 * time.Second},
			MinInterval: config.Duration{Duration: config.DefaultMinRefresh}, MaxCallsPerSecond: config.DefaultMaxTokenCalls,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := binding("partner", 15001, func(b *v1alpha1.OAuthClientBinding) { b.Spec.Refresh = tt.spec })
			got, err := Mutate(testPod("partner"), []v1alpha1.OAuthClientBinding{b}, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			if r := sidecarConfig(t, got).Bindings[0].Refresh; r != tt.want {
				t.Errorf("refresh = %+v, want %+v", r, tt.want)
			}
		})
	}
}
