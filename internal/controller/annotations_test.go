package controller

import (
	"reflect"
	"testing"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

func TestBindingNames(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"tmobile", []string{"tmobile"}},
		{"tmobile,opengateway", []string{"tmobile", "opengateway"}},
		{" tmobile , opengateway ,", []string{"tmobile", "opengateway"}},
		{"a,,a,b", []string{"a", "b"}},
		{",,", nil},
	}
	for _, tt := range tests {
		if got := bindingNames(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("bindingNames(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseGenerations(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]int64
	}{
		{"", map[string]int64{}},
		{"tmobile=3", map[string]int64{"tmobile": 3}},
		{"tmobile=3,opengateway=1", map[string]int64{"tmobile": 3, "opengateway": 1}},
		{" tmobile = 3 , x", map[string]int64{"tmobile": 3}},
		{"a=x,b=-1,=4,c=2", map[string]int64{"c": 2}},
		{"a=99999999999999999999", map[string]int64{}},
	}
	for _, tt := range tests {
		if got := parseGenerations(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseGenerations(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestClassifyPod(t *testing.T) {
	ann := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const (
		B = v1alpha1.AnnotationBindings
		S = v1alpha1.AnnotationStatus
		G = v1alpha1.AnnotationGenerations
		I = v1alpha1.StatusInjected
	)
	tests := []struct {
		name string
		ann  map[string]string
		gen  int64
		want podState
	}{
		{"no annotations", nil, 1, podUnrelated},
		{"other binding", ann(B, "other", S, I, G, "other=1"), 1, podUnrelated},
		{"prefix is not a match", ann(B, "tmobile-2", S, I), 1, podUnrelated},
		{"missed", ann(B, "tmobile"), 1, podMissed},
		{"missed, other status value", ann(B, "tmobile", S, "pending"), 1, podMissed},
		{"injected current", ann(B, "x,tmobile", S, I, G, "x=7,tmobile=2"), 2, podInjected},
		{"injected older", ann(B, "tmobile", S, I, G, "tmobile=1"), 2, podOutdated},
		{"binding recreated (recorded newer)", ann(B, "tmobile", S, I, G, "tmobile=5"), 1, podOutdated},
		{"injected without generation record", ann(B, "tmobile", S, I), 1, podOutdated},
		{"record only for another binding", ann(B, "tmobile,x", S, I, G, "x=1"), 1, podOutdated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyPod(tt.ann, "tmobile", tt.gen); got != tt.want {
				t.Errorf("classifyPod = %d, want %d", got, tt.want)
			}
		})
	}
}
