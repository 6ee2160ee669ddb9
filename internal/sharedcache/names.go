package sharedcache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// Kind is what a store entry holds. It is part of the hashed name and of the
// AAD, so an entry of one kind can never be read as another.
type Kind byte

// Entry kinds.
const (
	// KindToken is an access token (with its ID token and metadata) for a
	// subject, without its refresh token.
	KindToken Kind = 1
	// KindRefreshToken is the current refresh token of a subject's grant.
	// Servers that rotate refresh tokens accept only the newest one, so it
	// is written (fenced) before it is used anywhere.
	KindRefreshToken Kind = 2
	// KindPendingCIBA is a CIBA authorization in progress (auth_req_id,
	// expiry, interval), so that another replica polls it instead of
	// starting a second consent prompt.
	KindPendingCIBA Kind = 3
	// kindLock is the cross-replica single-flight lock of a subject.
	kindLock Kind = 4
)

// tag is the readable part of a store key. It says what an entry is, which
// helps an operator reading the store, and nothing about whom it is for.
func (k Kind) tag() string {
	switch k {
	case KindToken:
		return "tok"
	case KindRefreshToken:
		return "rt"
	case KindPendingCIBA:
		return "ciba"
	case kindLock:
		return "lock"
	}
	return fmt.Sprintf("k%d", byte(k))
}

func (k Kind) String() string { return k.tag() }

// Scope is whose entries a Store reads and writes: one binding in one
// namespace, authenticating as one client. All three go into every store key
// name, so two bindings sharing a store (and even a key prefix and an
// encryption key) never address each other's entries.
type Scope struct {
	Namespace string
	Binding   string
	ClientID  string
}

// sourcedMark starts a Sourced subject. A subject is a request header value
// or "", which never holds a NUL byte, so no plain subject starts with it.
const sourcedMark = "\x00src"

// Sourced is the store subject for subject's entries from one token source
// of a binding that has several (operations with scopes, a CIBA purpose or
// a provider of their own): each source gets its own tokens, lock, pending
// authorizations and refresh-token chain, so two operations never share
// one token. source lists what tells the source apart, such as the
// provider's name and client id, the scope set and the purpose. No source
// is the binding's own grant: its store subject is subject itself, so
// adding operations leaves its entries where they were.
//
// The encoding is a mark, the field count and each field length-prefixed,
// then subject, so that distinct (source, subject) pairs never meet.
func Sourced(subject string, source ...string) string {
	if len(source) == 0 && !strings.HasPrefix(subject, sourcedMark) {
		return subject
	}
	b := []byte(sourcedMark)
	b = binary.AppendUvarint(b, uint64(len(source)))
	for _, f := range source {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return string(append(b, subject...))
}

// unsourced is the subject part of a Sourced store subject, for logs that
// tell a client-level entry from a per-subject one.
func unsourced(s string) string {
	rest, ok := strings.CutPrefix(s, sourcedMark)
	if !ok {
		return s
	}
	b := []byte(rest)
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return s
	}
	b = b[k:]
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return s
		}
		b = b[k+int(l):]
	}
	return string(b)
}

// DefaultKeyPrefix starts every store key, so that the injector's keys can be
// told apart from other users of the same server (and granted by an ACL
// pattern such as ~oauth-injector:*).
const DefaultKeyPrefix = config.DefaultSharedCacheKeyPrefix

// namer derives store key names. A name is
//
//	<prefix><kind tag>:<hex of HMAC-SHA256(name key, scope, kind, subject)[:16]>
//
// keyed by a key derived from the encryption key, so that a subject (often a
// phone number) cannot be recovered from the name by hashing guesses: the
// number space is small enough to enumerate, which makes a plain hash of it
// no protection.
type namer struct {
	prefix string
	scope  Scope
}

// names returns the name of (kind, subject) under every key of kr, current
// key first. While a keyring holds more than one key (a rotation), every
// operation spans all of these names, so that two replicas whose keyrings
// share at least one key still meet on a common lock and entry.
func (n namer) names(kr *Keyring, kind Kind, subject string) []string {
	msg := n.message(kind, subject)
	out := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		m := hmac.New(sha256.New, k.nameKey)
		m.Write(msg)
		out[i] = n.prefix + kind.tag() + ":" + hex.EncodeToString(m.Sum(nil)[:16])
	}
	return out
}

// fenceName is the binding's fencing counter. It is shared by all subjects
// and all keys of a rotation, so fences are comparable across them. It is an
// unkeyed hash: it names no subject, and it must not change with a key.
func (n namer) fenceName() string {
	sum := sha256.Sum256(n.message(0, ""))
	return n.prefix + "fence:" + hex.EncodeToString(sum[:16])
}

// message encodes the tuple unambiguously: each string is length-prefixed,
// so ("ab","c") and ("a","bc") differ.
func (n namer) message(kind Kind, subject string) []byte {
	var b []byte
	for _, s := range []string{"oauth-injector/sharedcache/v1", n.prefix, n.scope.Namespace, n.scope.Binding, n.scope.ClientID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(kind))
	b = binary.AppendUvarint(b, uint64(len(subject)))
	return append(b, subject...)
}
