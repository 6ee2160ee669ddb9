package oidctest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// installTimeout bounds one `npm ci`; a cold install downloads ~40 packages.
const installTimeout = 5 * time.Minute

// installMu serialises installs inside one test binary; separate binaries are
// kept apart by the atomic rename in ensureDeps.
var installMu sync.Mutex

// sourceDir is test/oidc, found relative to this file so tests work from any
// working directory.
func sourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("oidctest: cannot locate source directory")
	}
	return filepath.Join(filepath.Dir(file), "..", "oidc"), nil
}

// cacheRoot is where node_modules trees live, outside the repository so a
// clean checkout stays clean and reruns are offline.
func cacheRoot() (string, error) {
	if dir := os.Getenv("OAUTH_INJECTOR_NPM_CACHE"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("oidctest: no cache directory (set HOME or OAUTH_INJECTOR_NPM_CACHE): %w", err)
	}
	return filepath.Join(base, "oauth-injector", "npm"), nil
}

// lockHash keys the cache: any dependency change in package-lock.json gives a
// fresh directory.
func lockHash(src string) (string, error) {
	b, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("oidctest: read package-lock.json: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ensureDeps returns a directory holding node_modules for test/oidc's
// package-lock.json, running `npm ci` only when the cache has no complete tree
// for that lock file. installed reports whether npm ran.
func ensureDeps(ctx context.Context, npm, src, root string) (dir string, installed bool, err error) {
	installMu.Lock()
	defer installMu.Unlock()

	hash, err := lockHash(src)
	if err != nil {
		return "", false, err
	}
	dir = filepath.Join(root, hash)
	if complete(dir) {
		return dir, false, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", false, fmt.Errorf("oidctest: create npm cache %s: %w", root, err)
	}
	tmp, err := os.MkdirTemp(root, hash+".tmp-")
	if err != nil {
		return "", false, fmt.Errorf("oidctest: create npm staging dir: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	for _, name := range []string{"package.json", "package-lock.json"} {
		if err := copyFile(filepath.Join(src, name), filepath.Join(tmp, name)); err != nil {
			return "", false, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", false, fmt.Errorf("oidctest: npm ci in %s: %w\n%s", tmp, err, tail(out.Bytes(), 4096))
	}
	// Rename is atomic: a concurrent installer in another process either wins
	// (we then use its tree) or loses (it uses ours).
	if err := os.Rename(tmp, dir); err != nil {
		if complete(dir) {
			return dir, true, nil
		}
		return "", false, fmt.Errorf("oidctest: publish npm tree to %s: %w", dir, err)
	}
	return dir, true, nil
}

func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json"))
	return err == nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("oidctest: read %s: %w", from, err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		return fmt.Errorf("oidctest: write %s: %w", to, err)
	}
	return nil
}

// stageServer copies the server sources (not node_modules) into dir and links
// the cached node_modules next to them. ESM ignores NODE_PATH, so the modules
// must be found by walking up from server.mjs.
func stageServer(src, deps, dir string) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if filepath.Ext(path) == ".mjs" || d.Name() == "package.json" {
			return copyFile(path, filepath.Join(dir, rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("oidctest: stage server sources: %w", err)
	}
	if err := os.Symlink(filepath.Join(deps, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		return fmt.Errorf("oidctest: link node_modules: %w", err)
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
