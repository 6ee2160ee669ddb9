package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRootUID is distroless' "nonroot" user. The webhook's securityContext
// for the sidecar and the chart's for the webhook both run as it, and the
// Dockerfiles say USER 65532:65532 (a test keeps them in step).
const NonRootUID = 65532

// Spec is one image: a single static binary as its entrypoint.
type Spec struct {
	// Name is the image name under the repository prefix, and the binary's
	// file name in -bin and in the image root.
	Name string
	// Ref, when set, is the full reference, ignoring the prefix. The pause
	// image must be called what containerd's sandbox_image names.
	Ref string
	// Local images are imported into the node but never pushed.
	Local bool
}

// Specs are the images `make images` builds.
var Specs = []Spec{
	{Name: "injector"},
	{Name: "webhook"},
	{Name: "taapsim"},
	{Name: "demoapp"},
	{Name: "pause", Ref: PauseRef, Local: true},
}

// PauseRef is the sandbox image the local node's containerd is configured with.
const PauseRef = "registry.k8s.io/pause:3.10"

// Inputs are what, besides the binary, goes into every image. Everything
// that varies between two builds of one commit must come from here, so that
// the same inputs give the same digest.
type Inputs struct {
	// BinDir holds the static binaries, one per Spec.Name.
	BinDir string
	// CABundle is the PEM bundle installed as /etc/ssl/certs/ca-certificates.crt,
	// where Go's crypto/x509 looks first on Linux.
	CABundle []byte
	// Created stamps every file, the history and the config (the commit
	// time, as SOURCE_DATE_EPOCH, for reproducible digests).
	Created time.Time
	// Source, Revision and Version become the OCI annotation labels.
	Source, Revision, Version string
}

// Build makes the image for s: one layer with the binary at /<name>, a CA
// bundle, passwd/group entries for the nonroot user and a /tmp, all owned by
// root and stamped with in.Created; OCI media types; user 65532:65532.
func Build(s Spec, in Inputs) (v1.Image, error) {
	binPath := filepath.Join(in.BinDir, s.Name)
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w (run make build first)", s.Name, err)
	}
	if err := checkStatic(binPath); err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Name, err)
	}
	if len(in.CABundle) == 0 {
		return nil, fmt.Errorf("image %s: the CA bundle is empty", s.Name)
	}
	layerTar, err := rootfs(s.Name, bin, in)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Name, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", s.Name, err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: in.Created}, CreatedBy: "hack/images: /" + s.Name},
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", s.Name, err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: in.Created}
	cf.Config.User = fmt.Sprintf("%d:%d", NonRootUID, NonRootUID)
	cf.Config.Entrypoint = []string{"/" + s.Name}
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.source":   in.Source,
		"org.opencontainers.image.revision": in.Revision,
		"org.opencontainers.image.version":  in.Version,
		"org.opencontainers.image.title":    s.Name,
	}
	return mutate.ConfigFile(img, cf)
}

// checkStatic refuses a dynamically linked binary: the image has no libc,
// so it would fail at start with a bare "no such file or directory".
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s is built for %s, the images are linux/amd64", path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (build it with CGO_ENABLED=0)", path)
		}
	}
	return nil
}

// rootfs writes the layer's tar with entries in a fixed order and fixed
// metadata, so that its bytes depend only on the inputs.
func rootfs(name string, bin []byte, in Inputs) ([]byte, error) {
	type entry struct {
		path string
		mode int64
		data []byte
		dir  bool
	}
	entries := []entry{
		{path: "etc/", mode: 0o755, dir: true},
		{path: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", NonRootUID)},
		{path: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRootUID, NonRootUID)},
		{path: "etc/ssl/", mode: 0o755, dir: true},
		{path: "etc/ssl/certs/", mode: 0o755, dir: true},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: in.CABundle},
		{path: "home/", mode: 0o755, dir: true},
		{path: "home/nonroot/", mode: 0o700, dir: true},
		{path: "tmp/", mode: 0o1777, dir: true},
		{path: name, mode: 0o755, data: bin},
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.path, Mode: e.mode, ModTime: in.Created, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if e.path == "home/nonroot/" {
			h.Uid, h.Gid = NonRootUID, NonRootUID
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// errNoCABundle names where a CA bundle was looked for.
var errNoCABundle = errors.New("no CA bundle found")

// FindCABundle returns the first readable system CA bundle.
func FindCABundle(paths ...string) ([]byte, error) {
	if len(paths) == 0 {
		paths = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w in %v (install ca-certificates or pass -ca-bundle)", errNoCABundle, paths)
}
