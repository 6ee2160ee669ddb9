package sharedcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The scripts run atomically on the server, which is what makes the lock and
// the fenced write safe across replicas. Each takes every name of a rotation
// (see namer.names) so that replicas with different keyrings still exclude
// each other; in steady state there is one.

// acquireScript: KEYS = lock names..., fence counter; ARGV = owner, ttl ms.
// It returns the new fencing token, or 0 when another owner holds any of the
// lock names.
var acquireScript = redis.NewScript(`
local n = #KEYS - 1
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
local fence = redis.call('INCR', KEYS[n + 1])
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return fence
`)

// putScript: KEYS = entry names..., fence counter; ARGV = fence, ttl ms (0 =
// none), then one sealed value per entry name. It writes only when no entry
// holds a newer fence (stored <= mine), and raises the counter to the fence
// it wrote, so that a counter lost with a store restart can never hand out a
// fence below an entry the replicas wrote back.
var putScript = redis.NewScript(`
local f = tonumber(ARGV[1])
local n = #KEYS - 1
for i = 1, n do
  local cur = redis.call('HGET', KEYS[i], 'f')
  if cur and tonumber(cur) > f then return 0 end
end
for i = 1, n do
  redis.call('HSET', KEYS[i], 'f', ARGV[1], 'v', ARGV[2 + i])
  if tonumber(ARGV[2]) > 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  else
    redis.call('PERSIST', KEYS[i])
  end
end
local c = tonumber(redis.call('GET', KEYS[n + 1]) or '0')
if c < f then redis.call('SET', KEYS[n + 1], ARGV[1]) end
return 1
`)

// deleteScript: KEYS = entry names...; ARGV = fence. Deletes unless an entry
// holds a newer fence.
var deleteScript = redis.NewScript(`
local f = tonumber(ARGV[1])
for i = 1, #KEYS do
  local cur = redis.call('HGET', KEYS[i], 'f')
  if cur and tonumber(cur) > f then return 0 end
end
redis.call('DEL', unpack(KEYS))
return 1
`)

// extendScript: KEYS = lock names; ARGV = owner, ttl ms. Returns 0 when the
// lock is no longer this owner's.
var extendScript = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
`)

// releaseScript: KEYS = lock names; ARGV = owner. Deletes only this owner's
// lock names.
var releaseScript = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
`)

// ErrLockLost means the lease's lock expired or was taken over. Writes under
// the lease may still succeed: the fence, not the lock, decides them.
var ErrLockLost = errors.New("sharedcache: the lock is no longer held by this lease")

// errNoResult means the lock holder finished (or its lock expired) without
// writing a result newer than the one the waiter had seen.
var errNoResult = errors.New("sharedcache: the lock holder left no newer result")

// Lease is a held cross-replica lock on one subject. Its fence orders it
// after every earlier lease of the binding: the store refuses a write under
// a lease once an entry holds a newer fence.
type Lease struct {
	s       *Store
	kr      *Keyring
	subject string
	locks   []string
	owner   string
	fence   int64
}

// Fence is the lease's fencing token.
func (l *Lease) Fence() int64 { return l.fence }

// Acquire takes the subject's lock for Options.LockTTL. It returns ErrHeld
// when another replica holds it.
func (s *Store) Acquire(ctx context.Context, subject string) (*Lease, error) {
	kr := s.keyring()
	owner := make([]byte, 16)
	if _, err := rand.Read(owner); err != nil {
		return nil, fmt.Errorf("sharedcache: lock owner id: %w", err)
	}
	l := &Lease{s: s, kr: kr, subject: subject, locks: s.names.names(kr, kindLock, subject), owner: hex.EncodeToString(owner)}
	fence, err := s.run(ctx, "lock", acquireScript, append(l.locks, s.names.fenceName()), l.owner, s.o.LockTTL.Milliseconds())
	if err != nil {
		return nil, err
	}
	if fence == 0 {
		return nil, ErrHeld
	}
	l.fence = fence
	return l, nil
}

// acquireWait takes the subject's lock, waiting (with a backoff up to
// Options.PollInterval) while another holder has it, as long as ctx
// allows. A crashed holder's lock goes within Options.LockTTL.
func (s *Store) acquireWait(ctx context.Context, subject string) (*Lease, error) {
	p := s.poller()
	for counted := false; ; {
		l, err := s.Acquire(ctx, subject)
		if !errors.Is(err, ErrHeld) {
			return l, err
		}
		if !counted {
			s.o.Metrics.LockWait()
			counted = true
		}
		if err := p.wait(ctx, "another holder of the lock"); err != nil {
			return nil, err
		}
	}
}

// poller paces a caller looking at the store while another replica works:
// fast at first, backing off to Options.PollInterval.
type poller struct{ next, max time.Duration }

func (s *Store) poller() *poller {
	return &poller{next: min(5*time.Millisecond, s.o.PollInterval), max: s.o.PollInterval}
}

// wait sleeps the next interval, or fails once ctx ends; what names what
// the caller waits for.
func (p *poller) wait(ctx context.Context, what string) error {
	t := time.NewTimer(p.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("sharedcache: waiting for %s: %w", what, context.Cause(ctx))
	case <-t.C:
	}
	p.next = min(2*p.next, p.max)
	return nil
}

// Extend renews the lock for another Options.LockTTL.
func (l *Lease) Extend(ctx context.Context) error {
	ok, err := l.s.run(ctx, "extend", extendScript, l.locks, l.owner, l.s.o.LockTTL.Milliseconds())
	if err != nil {
		return err
	}
	if ok == 0 {
		return ErrLockLost
	}
	return nil
}

// Release gives the lock up, if it is still this lease's.
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.s.run(ctx, "unlock", releaseScript, l.locks, l.owner)
	return err
}

// put seals plain for every name of (kind, subject) and writes it if no
// entry holds a newer fence. ttl <= 0 keeps it until overwritten.
func (l *Lease) put(ctx context.Context, kind Kind, plain []byte, ttl time.Duration) error {
	names := l.s.names.names(l.kr, kind, l.subject)
	args := make([]any, 0, 2+len(names))
	args = append(args, l.fence, max(ttl, 0).Milliseconds())
	if ttl > 0 && ttl < time.Millisecond {
		args[1] = int64(1)
	}
	for _, n := range names {
		sealed, err := l.kr.seal(n, plain)
		if err != nil {
			return err
		}
		args = append(args, sealed)
	}
	return l.fenced(ctx, "put", kind, putScript, append(names, l.s.names.fenceName()), args...)
}

// del removes (kind, subject) unless an entry holds a newer fence.
func (l *Lease) del(ctx context.Context, kind Kind) error {
	return l.fenced(ctx, "delete", kind, deleteScript, l.s.names.names(l.kr, kind, l.subject), l.fence)
}

// fenced runs a script that answers 0 when a newer fence has written.
func (l *Lease) fenced(ctx context.Context, op string, kind Kind, script *redis.Script, keys []string, args ...any) error {
	ok, err := l.s.run(ctx, op, script, keys, args...)
	if err != nil {
		return err
	}
	if ok == 0 {
		l.s.o.Metrics.StaleWrite(kind)
		return ErrStale
	}
	return nil
}

// run runs script as one bounded store call and returns its integer answer.
func (s *Store) run(ctx context.Context, op string, script *redis.Script, keys []string, args ...any) (int64, error) {
	var n int64
	err := s.do(ctx, op, func(ctx context.Context) error {
		var err error
		n, err = script.Run(ctx, s.rdb, keys, args...).Int64()
		return err
	})
	return n, err
}

// found is the newest entry a read found.
type found struct {
	fence int64
	plain []byte
}

// read returns the newest entry of (kind, subject) that opens under the
// keyring, or nil. With lockNames it also reports whether any of them
// exists, in the same round trip.
func (s *Store) read(ctx context.Context, kind Kind, subject string, lockNames []string) (*found, bool, error) {
	kr := s.keyring()
	names := s.names.names(kr, kind, subject)
	var gets []*redis.SliceCmd
	var exists *redis.IntCmd
	err := s.do(ctx, "get", func(ctx context.Context) error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			gets = gets[:0]
			for _, n := range names {
				gets = append(gets, p.HMGet(ctx, n, "f", "v"))
			}
			if len(lockNames) > 0 {
				exists = p.Exists(ctx, lockNames...)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	var best *found
	for i, g := range gets {
		vals := g.Val()
		if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
			continue
		}
		fs, _ := vals[0].(string)
		sealed, _ := vals[1].(string)
		fence, err := strconv.ParseInt(fs, 10, 64)
		if err != nil {
			s.o.Metrics.Error("decode")
			continue
		}
		plain, err := kr.open(names[i], []byte(sealed))
		if err != nil {
			// Not ours to read (another keyring) or tampered with:
			// either way not a value this replica may use.
			s.o.Metrics.Error("open")
			continue
		}
		if best == nil || fence > best.fence {
			best = &found{fence: fence, plain: plain}
		}
	}
	if lockNames == nil {
		// A waiter's polls are not lookups: counting them would make the
		// miss rate depend on how long the holder's fetch takes.
		s.o.Metrics.Lookup(kind, best != nil)
	}
	locked := exists != nil && exists.Val() > 0
	return best, locked, nil
}

// await polls (kind, subject) until an entry newer than after appears, with
// a backoff up to Options.PollInterval. It returns errNoResult once the lock
// is gone without such an entry.
func (s *Store) await(ctx context.Context, kind Kind, subject string, after int64) (*found, error) {
	locks := s.names.names(s.keyring(), kindLock, subject)
	p := s.poller()
	for {
		f, locked, err := s.read(ctx, kind, subject, locks)
		if err != nil {
			return nil, err
		}
		if f != nil && f.fence > after {
			return f, nil
		}
		if !locked {
			return nil, errNoResult
		}
		if err := p.wait(ctx, "another replica's result"); err != nil {
			return nil, err
		}
	}
}
