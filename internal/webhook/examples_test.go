package webhook

import (
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// TestExamples checks every examples/bindings file end to end without an API
// server: each binding passes the CRD's schema and CEL rules (with CRD
// defaulting), renders into a config that config.Validate accepts, and every
// file path in that config is backed by a mounted key that the example's own
// Secrets provide.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "bindings", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	want := []string{"taap.yaml", "client-credentials.yaml", "ciba.yaml", "token-exchange-tapkey.yaml", "token-exchange-rfc8693.yaml", "password.yaml", "refresh-token.yaml", "private-key-jwt.yaml", "client-secret-jwt.yaml", "jwt-bearer.yaml", "mtls.yaml", "dpop.yaml", "oauth1.yaml", "query-placement.yaml", "operations.yaml", "operations-ciba.yaml", "egress-proxy.yaml", "shared-cache.yaml", "ciba-shared-cache.yaml"}
	have := map[string]bool{}
	for _, f := range files {
		have[filepath.Base(f)] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("missing example %s", w)
		}
	}
	a := newCRDAdmitter(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ex := loadExample(t, a, f)
			if len(ex.bindings) != 1 {
				t.Fatalf("want exactly one binding, got %d", len(ex.bindings))
			}
			b := ex.bindings[0]
			cfg, vols, mounts, err := RenderConfig(&corev1.Pod{}, ex.bindings)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			// The sidecar parses what we render: round-trip it.
			raw, err := config.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Parse(raw); err != nil {
				t.Fatalf("sidecar would reject the rendered config: %v", err)
			}
			if len(vols) != len(mounts) {
				t.Fatalf("%d volumes but %d mounts", len(vols), len(mounts))
			}
			provided := map[string]bool{} // mounted file paths
			for i, v := range vols {
				dir := mounts[i].MountPath
				switch {
				case v.Secret != nil:
					s, ok := ex.secrets[v.Secret.SecretName]
					if !ok {
						t.Errorf("volume %s needs Secret %q, which the example does not define", v.Name, v.Secret.SecretName)
						continue
					}
					for _, it := range v.Secret.Items {
						if _, ok := s.StringData[it.Key]; !ok {
							if _, ok := s.Data[it.Key]; !ok {
								t.Errorf("Secret %q lacks key %q", s.Name, it.Key)
							}
						}
						provided[path.Join(dir, it.Path)] = true
					}
				case v.Projected != nil:
					for _, src := range v.Projected.Sources {
						if src.ServiceAccountToken != nil {
							provided[path.Join(dir, src.ServiceAccountToken.Path)] = true
						}
						if sp := src.Secret; sp != nil {
							s, ok := ex.secrets[sp.Name]
							if !ok {
								t.Errorf("volume %s needs Secret %q, which the example does not define", v.Name, sp.Name)
								continue
							}
							for _, it := range sp.Items {
								_, inString := s.StringData[it.Key]
								_, inData := s.Data[it.Key]
								switch {
								case inString || inData:
									provided[path.Join(dir, it.Path)] = true
								case sp.Optional == nil || !*sp.Optional:
									t.Errorf("Secret %q lacks key %q", s.Name, it.Key)
								}
							}
						}
					}
				}
			}
			for _, p := range configFiles(cfg) {
				if !provided[p] {
					t.Errorf("config points at %s, which no volume provides", p)
				}
				// Mutate masks the pod's API token directory in the
				// sidecar unconditionally; that is only safe while no
				// binding reads a file from there.
				if strings.HasPrefix(p, ServiceAccountTokenDir+"/") {
					t.Errorf("config points at %s, under the service account token directory the sidecar masks", p)
				}
			}
			if b.Name == "" || b.Spec.ListenPort == 0 {
				t.Errorf("binding lacks name or port")
			}
		})
	}
}

// configFiles lists every *File field value in the config, found by
// reflection so a new file field cannot escape the check above.
func configFiles(cfg *config.Config) []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				if f.Type.Kind() == reflect.String && (strings.HasSuffix(f.Name, "File") || f.Name == "File") {
					if s := v.Field(i).String(); s != "" {
						out = append(out, s)
					}
					continue
				}
				// Lists of optional files (previous encryption keys) need
				// no volume: a missing one is skipped by the sidecar.
				if f.Type.Kind() == reflect.Slice && strings.HasSuffix(f.Name, "Files") {
					continue
				}
				walk(v.Field(i))
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(cfg))
	return out
}
