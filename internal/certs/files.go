package certs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// fileSyncer copies the serving pair from the self-mode Secret into the cert
// directory whenever it changes. It reads with the uncached API reader: one
// GET of one Secret every few seconds is cheaper than a Secret informer.
type fileSyncer struct {
	reader   client.Reader
	key      types.NamespacedName
	dir      string
	interval time.Duration
}

func (s *fileSyncer) NeedLeaderElection() bool { return false }

func (s *fileSyncer) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("cert-file-sync").WithValues("secret", s.key.String(), "dir", s.dir)
	// Poll fast until the first pair is on disk: readiness waits for it.
	wait := min(s.interval, 250*time.Millisecond)
	for {
		changed, err := s.sync(ctx)
		switch {
		case err != nil:
			log.Error(err, "syncing serving certificate to files")
		case changed:
			log.Info("wrote serving certificate files")
		}
		if certFilesPresent(s.dir) {
			wait = s.interval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// sync writes tls.crt and tls.key from the Secret when they differ from the
// files. It reports whether it wrote anything.
func (s *fileSyncer) sync(ctx context.Context) (bool, error) {
	var sec corev1.Secret
	if err := s.reader.Get(ctx, s.key, &sec); err != nil {
		return false, fmt.Errorf("reading secret %s: %w", s.key, err)
	}
	crt, key := sec.Data[CertFile], sec.Data[KeyFile]
	if len(crt) == 0 || len(key) == 0 {
		// The rotator has not written the pair yet.
		return false, nil
	}
	return writePair(s.dir, crt, key)
}

// writePair writes the key before the certificate: the webhook server's
// cert watcher reloads on either event, and a certificate that arrives last
// finds its key already in place.
func writePair(dir string, crt, key []byte) (bool, error) {
	changed := false
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyFile, key}, {CertFile, crt}} {
		path := filepath.Join(dir, f.name)
		old, err := os.ReadFile(path)
		if err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := writeAtomic(path, f.data); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// writeAtomic replaces path by rename so a reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		_ = os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// fileWaiter closes ready once another party (cert-manager, an operator)
// has put the serving pair into dir.
type fileWaiter struct {
	dir      string
	interval time.Duration
	ready    chan struct{}
}

func (w *fileWaiter) NeedLeaderElection() bool { return false }

func (w *fileWaiter) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("cert-files").WithValues("dir", w.dir)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	logged := false
	for !certFilesPresent(w.dir) {
		if !logged {
			log.Info("waiting for " + CertFile + " and " + KeyFile)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	log.Info("serving certificate files are present")
	close(w.ready)
	return nil
}
