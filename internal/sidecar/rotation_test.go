package sidecar

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// kubeletDir lays files out the way the kubelet does for a Secret volume:
// the visible names are symlinks through "..data", which points at a
// timestamped directory; an update writes a new directory and renames a new
// "..data" link over the old one, so readers see old or new, never a mix.
type kubeletDir struct {
	root string
	gen  int
}

func newKubeletDir(t *testing.T, files map[string]string) *kubeletDir {
	d := &kubeletDir{root: t.TempDir()}
	d.update(t, files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(d.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d *kubeletDir) update(t *testing.T, files map[string]string) {
	t.Helper()
	d.gen++
	ts := fmt.Sprintf("..2026_11_24_00_00_%02d.%d", d.gen, d.gen)
	if err := os.Mkdir(filepath.Join(d.root, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(d.root, ts, name), []byte(data), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(d.root, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(d.root, "..data"))
	if err := os.Rename(tmp, filepath.Join(d.root, "..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(d.root, old))
	}
}

func (d *kubeletDir) path(name string) string { return filepath.Join(d.root, name) }

// TestSecretRotationUnderLoad swaps the PoP key through a kubelet-style
// atomic update while requests are flowing: none may fail, and afterwards
// the partner must be seeing the new key.
func TestSecretRotationUnderLoad(t *testing.T) {
	ks := testKeys(t)
	oldKey, newKey := ks[0], ks[1]
	env := newTAAP(t, nil)
	env.sim.SetPublicKeys(&oldKey.PublicKey, &newKey.PublicKey) // overlap, as a partner allows
	vol := newKubeletDir(t, map[string]string{"client_id": "client-1", "client_secret": "s3cret:/+ %", "key.pem": pemKey(t, oldKey)})
	b := &env.cfg.Bindings[0]
	b.ClientAuth.ClientIDFile = vol.path("client_id")
	b.ClientAuth.ClientSecretFile = vol.path("client_secret")
	b.PrivateKey = &config.PrivateKey{File: vol.path("key.pem")}
	env.cfg.ReloadInterval = config.Duration{Duration: 20 * time.Millisecond}
	sc := startSidecar(t, env.cfg)

	var stop atomic.Bool
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := http.Post(sc.url+"/v1/orders", "application/json", nil)
				if err != nil {
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					msg := resp.Status + " " + string(body)
					firstErr.CompareAndSwap(nil, &msg)
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	eventually(t, "load to start", func() bool { return ok.Load() > 20 })
	vol.update(t, map[string]string{"client_id": "client-1", "client_secret": "s3cret:/+ %", "key.pem": pemKey(t, newKey)})
	reloaded := sc.srv.metrics.reloads.WithLabelValues("tmobile", "success")
	eventually(t, "the sidecar to reload the key", func() bool { return testutil.ToFloat64(reloaded) >= 1 })
	before := ok.Load()
	eventually(t, "requests after the reload", func() bool { return ok.Load() > before+20 })
	stop.Store(true)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during rotation; first: %s", failed.Load(), ok.Load()+failed.Load(), *firstErr.Load())
	}
	if testutil.ToFloat64(sc.srv.metrics.reloads.WithLabelValues("tmobile", "error")) != 0 {
		t.Fatal("a reload failed")
	}

	// Retire the old key at the partner: only the new one is accepted now.
	env.sim.SetPublicKeys(&newKey.PublicKey)
	if code, _, body := call(t, "GET", sc.url+"/v1/echo", ""); code != 200 {
		t.Fatalf("after retiring the old key: %d %s", code, body)
	}
	t.Logf("%d requests during rotation, 0 failed", ok.Load())
}
