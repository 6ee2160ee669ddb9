package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// buildPause compiles hack/pause into dir the way `make build` compiles
// every image binary: static and -trimpath.
func buildPause(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "pause"), "../pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

func testInputs(dir string) Inputs {
	return Inputs{BinDir: dir, CABundle: []byte("-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n"),
		Created: time.Unix(1764460800, 0).UTC(), Source: "https://example.test/src", Revision: "abc123", Version: "v9.9.9"}
}

var pauseSpec = Spec{Name: "pause", Ref: PauseRef, Local: true}

// The same commit must give the same digest: two separate compilations of
// the binary and two image builds, compared as digests and as archive bytes.
func TestBuildIsReproducible(t *testing.T) {
	var digests []string
	var archives [][]byte
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		buildPause(t, dir)
		img, err := Build(pauseSpec, testInputs(dir))
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
		path := filepath.Join(dir, "pause.tar")
		if err := WriteArchive(path, PauseRef, img); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, b)
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of one input gave %s and %s", digests[0], digests[1])
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two builds of one input gave different OCI archives")
	}
}

// Each input must reach the digest, or "reproducible" would also hold for a
// builder that ignored its inputs.
func TestDigestFollowsInputs(t *testing.T) {
	dir := t.TempDir()
	buildPause(t, dir)
	base, err := Build(pauseSpec, testInputs(dir))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := base.Digest()
	for name, mutate := range map[string]func(*Inputs){
		"revision": func(in *Inputs) { in.Revision = "def456" },
		"version":  func(in *Inputs) { in.Version = "v1.0.0" },
		"ca":       func(in *Inputs) { in.CABundle = append([]byte("x"), in.CABundle...) },
		"created":  func(in *Inputs) { in.Created = in.Created.Add(time.Second) },
	} {
		in := testInputs(dir)
		mutate(&in)
		img, err := Build(pauseSpec, in)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := img.Digest(); got == want {
			t.Errorf("changing %s did not change the digest", name)
		}
	}
}

func TestImageContents(t *testing.T) {
	dir := t.TempDir()
	buildPause(t, dir)
	img, err := Build(pauseSpec, testInputs(dir))
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	if mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q", cf.Config.User)
	}
	if strings.Join(cf.Config.Entrypoint, " ") != "/pause" {
		t.Errorf("entrypoint %q", cf.Config.Entrypoint)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source": "https://example.test/src", "org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.version": "v9.9.9",
	} {
		if cf.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
		}
	}
	if cf.Architecture != "amd64" || cf.OS != "linux" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	files := layerFiles(t, layers[0])
	for _, f := range []string{"pause", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group", "tmp/"} {
		if _, ok := files[f]; !ok {
			t.Errorf("image lacks %s (has %v)", f, files)
		}
	}
	if !strings.Contains(files["etc/passwd"], ":65532:65532:") {
		t.Errorf("passwd has no 65532 user: %q", files["etc/passwd"])
	}
}

func TestBuildRefusesBadBinaries(t *testing.T) {
	dir := t.TempDir()
	if _, err := Build(Spec{Name: "missing"}, testInputs(dir)); err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing binary: %v", err)
	}
	// /bin/sh on any Linux host is dynamically linked; the image has no libc.
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh to copy")
	}
	if err := os.WriteFile(filepath.Join(dir, "sh"), sh, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(Spec{Name: "sh"}, testInputs(dir)); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("dynamic binary: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "text"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(Spec{Name: "text"}, testInputs(dir)); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("script: %v", err)
	}
}

// `make push` against a registry: push, pull back, same digest and config.
func TestPushPullRoundTrip(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	dir := t.TempDir()
	buildPause(t, dir)
	img, err := Build(pauseSpec, testInputs(dir))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	ref := host + "/team/oauth-injector/pause:v9.9.9"
	got, err := Push(ref, img, false)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("push returned %s, built %s", got, want)
	}
	r, _ := name.ParseReference(ref)
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull back: %v", err)
	}
	if d, _ := pulled.Digest(); d != want {
		t.Errorf("pulled %s, pushed %s", d, want)
	}
	cf, _ := pulled.ConfigFile()
	if cf.Config.User != "65532:65532" {
		t.Errorf("pulled image user %q", cf.Config.User)
	}
	// A registry that is not there is a clear error, not a hang.
	if _, err := Push("127.0.0.1:1/x/pause:v1", img, false); err == nil {
		t.Error("push to a closed port succeeded")
	}
}

// People who use Docker get the same image shape: user, entrypoint, and the
// binary built with the Makefile's flags.
func TestDockerfilesMatchImages(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	ldm := regexp.MustCompile(`(?m)^LDFLAGS := (.*)$`).FindSubmatch(mk)
	if ldm == nil {
		t.Fatal("Makefile has no LDFLAGS line")
	}
	makeLD := strings.ReplaceAll(string(ldm[1]), "$(VERSION)", "${VERSION}")
	for _, n := range []string{"injector", "webhook"} {
		b, err := os.ReadFile("../../Dockerfile." + n)
		if err != nil {
			t.Fatal(err)
		}
		df := string(b)
		for _, want := range []string{
			"USER 65532:65532",
			`ENTRYPOINT ["/` + n + `"]`,
			"COPY --from=build /out/" + n + " /" + n,
			"CGO_ENABLED=0 go build -trimpath",
			`-ldflags="` + makeLD + `"`,
		} {
			if !strings.Contains(df, want) {
				t.Errorf("Dockerfile.%s lacks %q", n, want)
			}
		}
	}
}
