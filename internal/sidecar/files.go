package sidecar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"
)

// fileStore holds the contents of mounted credential files and re-reads them
// on an interval. Polling content hashes (rather than inotify) is what makes
// kubelet's atomic "..data" symlink swap safe to follow: the swap replaces
// the directory the file path resolves through, which inotify on the file
// itself never reports, while a re-read always sees the new target.
type fileStore struct {
	mu    sync.RWMutex
	files map[string]fileEntry
}

type fileEntry struct {
	data []byte
	sum  [sha256.Size]byte
	// optional files may be missing (an optional Secret key): missing reads
	// as empty, so appearing and disappearing are changes like any other.
	optional bool
}

func newFileStore() *fileStore { return &fileStore{files: map[string]fileEntry{}} }

// add reads path now; a credential file that is missing at start-up is a
// configuration error, reported with the field that named it.
func (s *fileStore) add(field, path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	s.mu.Lock()
	s.files[path] = fileEntry{data: data, sum: sha256.Sum256(data)}
	s.mu.Unlock()
	return nil
}

// addOptional is add for a file that may not exist, now or later.
func (s *fileStore) addOptional(path string) error {
	if path == "" {
		return nil
	}
	data, err := readOptional(path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.files[path] = fileEntry{data: data, sum: sha256.Sum256(data), optional: true}
	s.mu.Unlock()
	return nil
}

func readOptional(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// bytes returns the current contents. Callers must not modify the slice.
func (s *fileStore) bytes(path string) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.files[path].data
}

// text returns the contents with surrounding whitespace removed, because
// Secrets created with `echo` carry a trailing newline that is never part of
// a client id or secret.
func (s *fileStore) text(path string) string {
	return string(bytes.TrimSpace(s.bytes(path)))
}

// poll re-reads every file and returns the paths whose content changed. A
// file that cannot be read keeps its previous content: during a kubelet
// update there is no window where the old data is invalid, so failing
// requests on a transient read error would be worse than serving the old
// value until the next poll.
func (s *fileStore) poll() (changed []string, readErrs []error) {
	s.mu.RLock()
	paths := make([]string, 0, len(s.files))
	optional := map[string]bool{}
	for p, e := range s.files {
		paths = append(paths, p)
		optional[p] = e.optional
	}
	s.mu.RUnlock()
	sort.Strings(paths)
	for _, p := range paths {
		read := os.ReadFile
		if optional[p] {
			read = readOptional
		}
		data, err := read(p)
		if err != nil {
			readErrs = append(readErrs, err)
			continue
		}
		sum := sha256.Sum256(data)
		s.mu.Lock()
		if s.files[p].sum != sum {
			s.files[p] = fileEntry{data: data, sum: sum, optional: optional[p]}
			changed = append(changed, p)
		}
		s.mu.Unlock()
	}
	return changed, readErrs
}

// watch polls until ctx ends and hands each batch of changed paths to fn.
func (s *fileStore) watch(ctx context.Context, every time.Duration, fn func(changed []string, errs []error)) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, errs := s.poll()
			if len(changed) > 0 || len(errs) > 0 {
				fn(changed, errs)
			}
		}
	}
}
