package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"self", ModeSelf, false},
		{"cert-manager", ModeCertManager, false},
		{"files", ModeFiles, false},
		{"", "", true},
		{"certManager", "", true},
		{"SELF", "", true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "--cert-mode") {
			t.Errorf("error %q does not name the flag", err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	full := Options{Mode: ModeSelf, CertDir: "/d", Namespace: "ns", SecretName: "s", WebhookConfigName: "w", DNSName: "localhost"}
	tests := []struct {
		name    string
		mod     func(*Options)
		wantErr string
	}{
		{"complete self", func(*Options) {}, ""},
		{"files needs only a dir", func(o *Options) { *o = Options{Mode: ModeFiles, CertDir: "/d"} }, ""},
		{"no cert dir", func(o *Options) { o.CertDir = "" }, "--cert-dir"},
		{"self without namespace", func(o *Options) { o.Namespace = "" }, "--namespace"},
		{"self without webhook config", func(o *Options) { o.WebhookConfigName = "" }, "--webhook-config-name"},
		{"self without dns name", func(o *Options) { o.DNSName = "" }, "--service-dns-name"},
		{"self without secret", func(o *Options) { o.SecretName = "" }, "--cert-secret-name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := full
			tt.mod(&o)
			err := o.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to name %s", err, tt.wantErr)
			}
		})
	}
}

func TestWritePair(t *testing.T) {
	dir := t.TempDir()
	changed, err := writePair(dir, []byte("crt1"), []byte("key1"))
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	changed, err = writePair(dir, []byte("crt1"), []byte("key1"))
	if err != nil || changed {
		t.Fatalf("same content: changed=%v err=%v, want no write", changed, err)
	}
	changed, err = writePair(dir, []byte("crt2"), []byte("key1"))
	if err != nil || !changed {
		t.Fatalf("rotated cert: changed=%v err=%v", changed, err)
	}
	for name, want := range map[string]string{CertFile: "crt2", KeyFile: "key1"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir has %d entries, want only the two files (no temp leftovers)", len(entries))
	}
	if _, err := writePair(filepath.Join(dir, "missing"), []byte("c"), []byte("k")); err == nil {
		t.Error("writing into a missing dir succeeded")
	}
}

func TestWritable(t *testing.T) {
	dir := t.TempDir()
	if !writable(dir) {
		t.Error("temp dir reported read-only")
	}
	if writable(filepath.Join(dir, "nope")) {
		t.Error("missing dir reported writable")
	}
}

type recordStart struct{ started chan struct{} }

func (r *recordStart) Start(context.Context) error { close(r.started); return nil }

func TestGate(t *testing.T) {
	ready := make(chan struct{})
	inner := &recordStart{started: make(chan struct{})}
	g := Gate(ready, inner)
	if g.(interface{ NeedLeaderElection() bool }).NeedLeaderElection() {
		t.Error("gated runnable needs leader election; the webhook must run on every replica")
	}
	done := make(chan error, 1)
	go func() { done <- g.Start(context.Background()) }()
	select {
	case <-inner.started:
		t.Fatal("inner runnable started before ready")
	case <-time.After(50 * time.Millisecond):
	}
	close(ready)
	<-inner.started
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Cancelled before ready: returns without starting.
	inner2 := &recordStart{started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Gate(make(chan struct{}), inner2).Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inner2.started:
		t.Error("started after cancel")
	default:
	}
}

func TestReadyzCheck(t *testing.T) {
	ready := make(chan struct{})
	check := ReadyzCheck(ready)
	if err := check(nil); err == nil {
		t.Error("check passed before ready")
	}
	close(ready)
	if err := check(nil); err != nil {
		t.Errorf("check failed after ready: %v", err)
	}
}

func TestFileWaiter(t *testing.T) {
	dir := t.TempDir()
	w := &fileWaiter{dir: dir, interval: 10 * time.Millisecond, ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	// Only the cert: not ready.
	if err := os.WriteFile(filepath.Join(dir, CertFile), []byte("c"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.ready:
		t.Fatal("ready with only tls.crt")
	case <-time.After(50 * time.Millisecond):
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("not ready after both files exist")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSetupRejectsBadOptions(t *testing.T) {
	_, err := Setup(context.Background(), nil, Options{Mode: "bogus", CertDir: "/d"})
	if err == nil || !strings.Contains(err.Error(), "--cert-mode") {
		t.Fatalf("err = %v", err)
	}
	_, err = Setup(context.Background(), nil, Options{Mode: ModeSelf, CertDir: "/d"})
	if err == nil || !strings.Contains(err.Error(), "--namespace") {
		t.Fatalf("err = %v", err)
	}
}

type secretReader struct {
	sec *corev1.Secret
	err error
}

func (r *secretReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if r.err != nil {
		return r.err
	}
	*obj.(*corev1.Secret) = *r.sec.DeepCopy()
	return nil
}

func (r *secretReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not used")
}

func TestFileSyncerSync(t *testing.T) {
	dir := t.TempDir()
	r := &secretReader{sec: &corev1.Secret{}}
	s := &fileSyncer{reader: r, key: types.NamespacedName{Namespace: "ns", Name: "cert"}, dir: dir, interval: time.Second}
	ctx := context.Background()

	// Empty Secret (the rotator has not written yet): nothing on disk.
	if changed, err := s.sync(ctx); err != nil || changed {
		t.Fatalf("empty secret: changed=%v err=%v", changed, err)
	}
	if certFilesPresent(dir) {
		t.Fatal("files written from an empty secret")
	}
	r.sec.Data = map[string][]byte{CertFile: []byte("c1"), KeyFile: []byte("k1"), CAFile: []byte("ca")}
	if changed, err := s.sync(ctx); err != nil || !changed {
		t.Fatalf("filled secret: changed=%v err=%v", changed, err)
	}
	if !certFilesPresent(dir) {
		t.Fatal("pair not on disk")
	}
	if _, err := os.Stat(filepath.Join(dir, CAFile)); err == nil {
		t.Error("ca.crt copied; only the serving pair belongs in the cert dir")
	}
	r.err = errors.New("boom")
	if _, err := s.sync(ctx); err == nil || !strings.Contains(err.Error(), "ns/cert") {
		t.Fatalf("err = %v, want it wrapped with the secret name", err)
	}
}
