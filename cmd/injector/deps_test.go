package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The sidecar runs in every injected pod, so it must stay small: it may not
// link client-go (or the Kubernetes-only packages of this repo).
func TestInjectorDoesNotLinkKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"k8s.io/client-go",
		"k8s.io/apimachinery",
		"sigs.k8s.io/controller-runtime",
		"github.com/oauth-injector/oauth-injector/internal/webhook",
		"github.com/oauth-injector/oauth-injector/internal/controller",
		"github.com/oauth-injector/oauth-injector/api/",
	}
	for _, dep := range strings.Split(string(out), "\n") {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("cmd/injector links %s", dep)
			}
		}
	}
}
