package controller

import (
	"strconv"
	"strings"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// bindingNames parses the oauth.injector.dev/bindings annotation value into
// the distinct, non-empty binding names it lists. The webhook denies a
// garbled annotation, but the controller also sees pods the webhook never
// saw (admitted while it was down), so parsing is lenient here.
func bindingNames(v string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// parseGenerations parses oauth.injector.dev/binding-generations
// ("tmobile=3,opengateway=1"). Malformed entries are skipped: a pod with an
// unreadable record for a binding counts as outdated for it, which is the
// safe reading (the user is told to roll it).
func parseGenerations(v string) map[string]int64 {
	out := map[string]int64{}
	for _, part := range strings.Split(v, ",") {
		name, gen, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		g, err := strconv.ParseInt(strings.TrimSpace(gen), 10, 64)
		if name == "" || err != nil || g < 0 {
			continue
		}
		out[name] = g
	}
	return out
}

// podState is how a pod stands with respect to one binding.
type podState int

const (
	// podUnrelated: the pod does not name the binding.
	podUnrelated podState = iota
	// podInjected: mutated from the binding's current generation.
	podInjected
	// podOutdated: mutated, but from another generation than the current
	// one, or with no readable record of it. A recorded generation above the
	// current one also counts: the binding was deleted and recreated, so
	// the pod runs the old object's configuration.
	podOutdated
	// podMissed: names the binding but was never mutated, for example
	// because it was admitted while the webhook was down.
	podMissed
)

// classifyPod reports how a pod with the given annotations stands with
// respect to the binding called name at generation gen.
func classifyPod(annotations map[string]string, name string, gen int64) podState {
	names, ok := annotations[v1alpha1.AnnotationBindings]
	if !ok || !contains(bindingNames(names), name) {
		return podUnrelated
	}
	if annotations[v1alpha1.AnnotationStatus] != v1alpha1.StatusInjected {
		return podMissed
	}
	recorded, ok := parseGenerations(annotations[v1alpha1.AnnotationGenerations])[name]
	if !ok || recorded != gen {
		return podOutdated
	}
	return podInjected
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
