package refresher

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// PendingRetryAfter is the Retry-After given with a PendingLimitError. No
// slot has a known end (a subscriber approves whenever they do), so it is a
// polite pause of the order of a CIBA poll interval.
const PendingRetryAfter = 5 * time.Second

// PendingLimitError means a new subject's fetch was not started because
// Options.MaxPending fetches are already in flight. Nothing was sent to the
// server. It is deliberately not an UnavailableError: the token endpoint is
// fine, the caller asked for too many subjects at once.
type PendingLimitError struct {
	Limit      int
	RetryAfter time.Duration
}

func (e *PendingLimitError) Error() string {
	return fmt.Sprintf("%d authorizations are already pending, the maximum; no new one is started, retry after %s", e.Limit, e.RetryAfter)
}

// errStale reports that an entry was evicted and its subject has a newer
// entry; the caller looks the subject up again.
var errStale = errors.New("refresher: stale entry")

// subjectTable holds the per-subject entries. Each subject has at most one
// entry, either in idle (an LRU bounded by Options.MaxSubjects) or, while a
// fetch for it is in flight, in pending (bounded by Options.MaxPending). A
// finished fetch's entry goes to the front of the LRU, so with MaxPending <=
// MaxSubjects every result (a CIBA approval) finds room when it arrives and
// stays until MaxSubjects more recently used subjects push it out.
// Pending entries are outside the LRU so that a stream of other subjects can
// never evict them: an evicted pending entry would start a second CIBA
// authorization (a second consent prompt) when asked again, and drop the
// approval of the first when it arrived.
type subjectTable struct {
	mu         sync.Mutex
	idle       *simplelru.LRU[string, *entry]
	pending    map[string]*entry
	maxPending int // 0: unbounded
}

func newSubjectTable(maxSubjects, maxPending int) (*subjectTable, error) {
	idle, err := simplelru.NewLRU[string, *entry](maxSubjects, nil)
	if err != nil {
		return nil, fmt.Errorf("refresher: creating the subject LRU: %w", err)
	}
	return &subjectTable{idle: idle, pending: map[string]*entry{}, maxPending: maxPending}, nil
}

// get returns subject's entry. A hit marks an idle entry as recently used
// unless peek. With create, a subject without one gets a new entry that is
// not in the table yet: it enters through pin when its first fetch starts,
// so a caller refused by MaxPending leaves nothing behind that could evict a
// cached token. Two callers racing to create one are sorted out by pin.
func (t *subjectTable) get(subject string, create, peek bool) (*entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.pending[subject]; ok {
		return e, true
	}
	if peek {
		return t.idle.Peek(subject)
	}
	if e, ok := t.idle.Get(subject); ok {
		return e, true
	}
	if !create {
		return nil, false
	}
	return newEntry(subject), true
}

// pin moves e into the pending table before its fetch starts. It fails with
// *PendingLimitError when the table is full, and with errStale when the
// subject has another entry (e was evicted and replaced, or lost a creation
// race). A new or evicted entry that nothing replaced is taken in.
func (t *subjectTable) pin(e *entry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.pending[e.subject]; ok {
		if cur == e {
			return nil
		}
		return errStale
	}
	if cur, ok := t.idle.Peek(e.subject); ok && cur != e {
		return errStale
	}
	if t.maxPending > 0 && len(t.pending) >= t.maxPending {
		return &PendingLimitError{Limit: t.maxPending, RetryAfter: PendingRetryAfter}
	}
	t.idle.Remove(e.subject)
	t.pending[e.subject] = e
	return nil
}

// unpin returns e to the LRU, as its most recent entry, once its fetch has
// ended, so that the fetch's result (a CIBA approval) is there for the next
// caller even if many other subjects were used meanwhile.
func (t *subjectTable) unpin(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[e.subject] != e {
		return
	}
	delete(t.pending, e.subject)
	t.idle.Add(e.subject, e)
}

func (t *subjectTable) counts() (idle, pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idle.Len(), len(t.pending)
}

// entry returns subject's entry, creating it if needed. The "" entry is held
// outside the table and never evicted.
func (c *Cache) entry(subject string) *entry {
	if subject == "" {
		return c.root
	}
	e, _ := c.subjects.get(subject, true, false)
	return e
}

// peekEntry looks subject up without creating it or touching its recency.
func (c *Cache) peekEntry(subject string) (*entry, bool) {
	if subject == "" {
		return c.root, true
	}
	return c.subjects.get(subject, false, true)
}

// Pending reports how many per-subject fetches are in flight.
func (c *Cache) Pending() int {
	_, n := c.subjects.counts()
	return n
}
