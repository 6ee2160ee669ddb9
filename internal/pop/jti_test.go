package pop

import (
	"bytes"
	"encoding/hex"
	"regexp"
	"sync"
	"testing"

	"github.com/google/uuid"
)

var uuidV4Text = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestRandBatchUUIDs drives one batch with a counting source: every UUID
// must be the next 16 source bytes (version and variant bits aside), no
// byte may be used twice, and the source is read once per 64 UUIDs.
func TestRandBatchUUIDs(t *testing.T) {
	var stream []byte // every byte the fake source handed out, in order
	fills := 0
	fill := func(b []byte) {
		fills++
		for i := range b {
			b[i] = byte(len(stream) + i*7) // distinct-looking, reproducible
		}
		stream = append(stream, b...)
	}
	rb := &randBatch{off: jtiBatch}
	const n = 3*jtiBatch/16 + 5 // crosses three refills
	for i := range n {
		got := string(rb.appendUUID([]byte("x"), fill))
		if got[0] != 'x' {
			t.Fatalf("uuid %d: prefix lost: %q", i, got)
		}
		got = got[1:]
		if !uuidV4Text.MatchString(got) {
			t.Fatalf("uuid %d = %q, not a version 4 UUID", i, got)
		}
		raw, err := hex.DecodeString(got[0:8] + got[9:13] + got[14:18] + got[19:23] + got[24:])
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), stream[16*i:16*i+16]...)
		want[6] = want[6]&0x0f | 0x40
		want[8] = want[8]&0x3f | 0x80
		if !bytes.Equal(raw, want) {
			t.Fatalf("uuid %d = %x, want source bytes %x", i, raw, want)
		}
		if u, err := uuid.Parse(got); err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("uuid %d %q: github.com/google/uuid says version %v variant %v err %v", i, got, u.Version(), u.Variant(), err)
		}
	}
	if want := (n*16 + jtiBatch - 1) / jtiBatch; fills != want {
		t.Errorf("source read %d times for %d UUIDs, want %d", fills, n, want)
	}
}

// TestAppendRandomUUIDConcurrent draws jtis from many goroutines (run with
// -race): the pooled batches must never hand the same bytes out twice.
func TestAppendRandomUUIDConcurrent(t *testing.T) {
	const workers, each = 8, 500
	var mu sync.Mutex
	seen := make(map[string]bool, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, 0, each)
			for range each {
				local = append(local, string(appendRandomUUID(nil)))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range local {
				if !uuidV4Text.MatchString(s) {
					t.Errorf("jti %q is not a version 4 UUID", s)
				}
				if seen[s] {
					t.Errorf("jti %q drawn twice", s)
				}
				seen[s] = true
			}
		}()
	}
	wg.Wait()
}
