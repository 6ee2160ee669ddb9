package taapsim

import (
	"container/heap"
	"sync"
	"time"
)

// replayCache remembers PoP jtis until they could no longer validate
// anyway (exp + leeway), so its size is bounded by the request rate times
// the PoP lifetime rather than by uptime.
type replayCache struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	byExp   expHeap
	maxSize int
}

type expEntry struct {
	jti    string
	expiry time.Time
}

type expHeap []expEntry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].expiry.Before(h[j].expiry) }
func (h expHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expHeap) Push(x any)        { *h = append(*h, x.(expEntry)) }
func (h *expHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newReplayCache(maxSize int) *replayCache {
	return &replayCache{seen: make(map[string]time.Time), maxSize: maxSize}
}

// replayVerdict is the outcome of check. verdictFull means maxSize live
// jtis are held: refusing the request is safer than forgetting a jti that
// could still be replayed.
type replayVerdict int

const (
	verdictFresh replayVerdict = iota
	verdictReplay
	verdictFull
)

// check records jti as used until expiry and reports whether it was
// already recorded.
func (c *replayCache) check(jti string, expiry, now time.Time) replayVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.byExp.Len() > 0 && c.byExp[0].expiry.Before(now) {
		e := heap.Pop(&c.byExp).(expEntry)
		delete(c.seen, e.jti)
	}
	if _, ok := c.seen[jti]; ok {
		return verdictReplay
	}
	if len(c.seen) >= c.maxSize {
		return verdictFull
	}
	c.seen[jti] = expiry
	heap.Push(&c.byExp, expEntry{jti: jti, expiry: expiry})
	return verdictFresh
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
