package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/webhook"
)

// materialize does the kubelet's part for the sidecar: every Secret volume
// mounted into it is written (only the projected keys) under root, at the
// mount path with webhook.MountRoot replaced by root.
func (s *suite) materialize(t *testing.T, p *corev1.Pod, sc *corev1.Container, root string) {
	t.Helper()
	vols := map[string]*corev1.SecretVolumeSource{}
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil {
			vols[v.Name] = v.Secret
		}
	}
	written := 0
	for _, m := range sc.VolumeMounts {
		src, ok := vols[m.Name]
		if !ok {
			continue
		}
		var sec corev1.Secret
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: p.Namespace, Name: src.SecretName}, &sec); err != nil {
			t.Fatalf("volume %s: %v", m.Name, err)
		}
		dir := filepath.Join(root, strings.TrimPrefix(m.MountPath, webhook.MountRoot))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		items := src.Items
		if len(items) == 0 {
			for k := range sec.Data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			data, ok := sec.Data[it.Key]
			if !ok {
				t.Fatalf("Secret %s has no key %q that volume %s projects", sec.Name, it.Key, m.Name)
			}
			if err := os.WriteFile(filepath.Join(dir, it.Path), data, 0o400); err != nil {
				t.Fatal(err)
			}
			written++
		}
	}
	if written == 0 {
		t.Fatal("the sidecar mounts no Secret files")
	}
}

// rewriteConfig points the rendered config's file paths at root and its
// admin listener at a loopback port, leaving everything else as rendered.
func rewriteConfig(t *testing.T, raw, root string, adminPort int) string {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("sidecar config: %v", err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case string:
			if strings.HasPrefix(x, webhook.MountRoot+"/") {
				return root + strings.TrimPrefix(x, webhook.MountRoot)
			}
		}
		return v
	}
	walk(cfg)
	admin, _ := cfg["admin"].(map[string]any)
	if admin == nil {
		t.Fatal("rendered config has no admin section")
	}
	if admin["listen"] != fmt.Sprintf(":%d", v1alpha1.AdminPort) {
		t.Errorf("admin.listen = %v, want :%d", admin["listen"], v1alpha1.AdminPort)
	}
	admin["listen"] = fmt.Sprintf("127.0.0.1:%d", adminPort)
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
