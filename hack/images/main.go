// Command images builds the project's OCI images without a Docker daemon:
// each is one layer holding a static binary from -bin, a CA bundle and a
// nonroot user, made with go-containerregistry. It writes an OCI archive per
// image (what `ctr images import` takes) and a digests file, and with -push
// it pushes the pushable ones to -registry.
//
//	go run ./hack/images -bin bin -out bin/images -version v0.3.0 -revision $(git rev-parse HEAD)
//	go run ./hack/images -bin bin -registry registry.example.com/team -push
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

// DefaultRegistry is where the chart looks by default: a registry on the
// user's own machine that `make push` fills (see README).
const DefaultRegistry = "localhost:5000/oauth-injector"

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	binDir := fs.String("bin", "bin", "directory with the static binaries")
	out := fs.String("out", "bin/images", "directory for the OCI archives and digests.txt")
	registry := fs.String("registry", DefaultRegistry, "repository prefix: images are REGISTRY/<name>:VERSION")
	version := fs.String("version", "dev", "image tag and org.opencontainers.image.version")
	revision := fs.String("revision", "unknown", "org.opencontainers.image.revision (the git commit)")
	source := fs.String("source", "https://github.com/oauth-injector/oauth-injector", "org.opencontainers.image.source")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "file and config timestamp, seconds since 1970 (default 0)")
	caBundle := fs.String("ca-bundle", "", "CA bundle to install (default: the system's)")
	push := fs.Bool("push", false, "push every non-local image to -registry")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to any registry, not only localhost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	created := time.Unix(0, 0).UTC()
	if *epoch != "" {
		sec, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("-source-date-epoch %q: want seconds since 1970", *epoch)
		}
		created = time.Unix(sec, 0).UTC()
	}
	var ca []byte
	var err error
	if *caBundle != "" {
		ca, err = FindCABundle(*caBundle)
	} else {
		ca, err = FindCABundle()
	}
	if err != nil {
		return err
	}
	in := Inputs{BinDir: *binDir, CABundle: ca, Created: created, Source: *source, Revision: *revision, Version: *version}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var digests strings.Builder
	for _, s := range Specs {
		ref := s.Ref
		if ref == "" {
			ref = fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(*registry, "/"), s.Name, *version)
		}
		img, err := Build(s, in)
		if err != nil {
			return err
		}
		d, err := img.Digest()
		if err != nil {
			return fmt.Errorf("image %s: %w", s.Name, err)
		}
		if err := WriteArchive(filepath.Join(*out, s.Name+".tar"), ref, img); err != nil {
			return err
		}
		fmt.Fprintf(&digests, "%s %s %s\n", s.Name, ref, d)
		fmt.Fprintf(stdout, "built  %-9s %s@%s\n", s.Name, ref, d)
		if *push && !s.Local {
			pd, err := Push(ref, img, *insecure)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "pushed %-9s %s@%s\n", s.Name, ref, pd)
		}
	}
	return os.WriteFile(filepath.Join(*out, "digests.txt"), []byte(digests.String()), 0o644)
}
