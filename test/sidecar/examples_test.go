package sidecar

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// examplePlaceholders are the substitutions examples/sidecar/*.json use (see
// taap.json): the partner's base URL and the directory Secrets are mounted in.
var examplePlaceholders = strings.NewReplacer(
	"${UPSTREAM}", "https://api.partner.example",
	"${SECRETS}", "/var/run/secrets/oauth-injector",
)

// TestExamplesParse keeps every published sidecar example valid against the
// config contract, and linked from a docs page so none goes stale unseen.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/sidecar/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d examples, expected one per capability", len(files))
	}
	var docs strings.Builder
	pages, _ := filepath.Glob("../../docs/*.md")
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := examplePlaceholders.Replace(string(raw))
			if i := strings.Index(s, "${"); i >= 0 {
				t.Fatalf("unknown placeholder at %q", s[i:min(len(s), i+20)])
			}
			c, err := config.Parse([]byte(s))
			if err != nil {
				t.Fatalf("config.Parse: %v", err)
			}
			if len(c.Bindings) == 0 {
				t.Fatal("no bindings")
			}
			if !strings.Contains(docs.String(), "examples/sidecar/"+name) {
				t.Errorf("no page in docs/ links examples/sidecar/%s", name)
			}
		})
	}
}
