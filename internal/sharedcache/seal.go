package sharedcache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// KeySize is the length of an encryption key: AES-256.
const KeySize = config.EncryptionKeySize

// envelopeVersion is the first byte of every sealed value, so that a later
// format can be told apart instead of failing to authenticate.
const envelopeVersion = 1

const (
	keyIDSize = 8
	nonceSize = 12
	// headerSize is version + key id + nonce.
	headerSize = 1 + keyIDSize + nonceSize
)

// aadPrefix domain-separates our AAD from any other use of the same key.
const aadPrefix = "oauth-injector/sharedcache/v1\x00"

// ErrUnknownKey means a sealed value names a key that is not in the keyring:
// it was written by a replica whose keyring this one does not share (yet, or
// any longer). Callers treat it as a miss.
var ErrUnknownKey = errors.New("sharedcache: value sealed under a key that is not in the keyring")

// ErrOpen means a sealed value failed to authenticate: it was tampered with,
// or copied from another store key (the AAD binds each value to its key).
var ErrOpen = errors.New("sharedcache: value does not authenticate for this store key")

// Keyring holds the binding's encryption keys. The first key seals new
// values; every key opens values sealed under it, so that a key can be
// rotated without losing what the store holds. Each key also derives the
// HMAC key that hashes store key names (see names.go).
type Keyring struct {
	keys []*ringKey
}

type ringKey struct {
	id      [keyIDSize]byte
	aead    cipher.AEAD
	nameKey []byte
}

// NewKeyring builds a keyring from raw 32-byte keys, the current key first.
// A previous key equal to an earlier one is dropped: during a rotation
// operators may briefly list the same key twice.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	kr := &Keyring{}
	for i, raw := range append([][]byte{current}, previous...) {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("sharedcache: key %d is %d bytes, want %d", i, len(raw), KeySize)
		}
		k, err := newRingKey(raw)
		if err != nil {
			return nil, err
		}
		if kr.has(k.id) {
			continue
		}
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

func newRingKey(raw []byte) (*ringKey, error) {
	// Separate subkeys for sealing, naming and the public key id, so that
	// none of the three uses can leak anything about another.
	sealKey, err := hkdf.Key(sha256.New, raw, nil, "oauth-injector sharedcache seal", KeySize)
	if err != nil {
		return nil, fmt.Errorf("sharedcache: deriving the seal key: %w", err)
	}
	nameKey, err := hkdf.Key(sha256.New, raw, nil, "oauth-injector sharedcache names", KeySize)
	if err != nil {
		return nil, fmt.Errorf("sharedcache: deriving the name key: %w", err)
	}
	idBytes, err := hkdf.Key(sha256.New, raw, nil, "oauth-injector sharedcache key id", keyIDSize)
	if err != nil {
		return nil, fmt.Errorf("sharedcache: deriving the key id: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("sharedcache: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sharedcache: %w", err)
	}
	k := &ringKey{aead: aead, nameKey: nameKey}
	copy(k.id[:], idBytes)
	return k, nil
}

func (kr *Keyring) has(id [keyIDSize]byte) bool {
	for _, k := range kr.keys {
		if k.id == id {
			return true
		}
	}
	return false
}

// KeyIDs returns the hex ids of the keys, current first. An id is derived
// from the key but reveals nothing about it; it is safe to log and lets an
// operator check which key a replica writes with.
func (kr *Keyring) KeyIDs() []string {
	out := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = hex.EncodeToString(k.id[:])
	}
	return out
}

// LoadKeyring reads the current key file and the previous key files, in the
// format of config.ParseEncryptionKey. A previous key file that does not exist is skipped: the Secret
// key is optional so that a rotation needs no change to the binding. Errors
// name the file, never its contents.
func LoadKeyring(currentFile string, previousFiles ...string) (*Keyring, error) {
	cur, err := readKeyFile(currentFile)
	if err != nil {
		return nil, err
	}
	var prev [][]byte
	for _, f := range previousFiles {
		k, err := readKeyFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		prev = append(prev, k)
	}
	return NewKeyring(cur, prev...)
}

func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sharedcache: reading encryption key: %w", err)
	}
	k, err := config.ParseEncryptionKey(data)
	if err != nil {
		return nil, fmt.Errorf("sharedcache: encryption key file %s: %w", path, err)
	}
	return k, nil
}

// seal encrypts plaintext under the current key, bound to the store key
// name: version | key id | nonce | AES-256-GCM(ciphertext+tag).
func (kr *Keyring) seal(name string, plaintext []byte) ([]byte, error) {
	k := kr.keys[0]
	out := make([]byte, headerSize, headerSize+len(plaintext)+k.aead.Overhead())
	out[0] = envelopeVersion
	copy(out[1:], k.id[:])
	if _, err := rand.Read(out[1+keyIDSize : headerSize]); err != nil {
		return nil, fmt.Errorf("sharedcache: nonce: %w", err)
	}
	return k.aead.Seal(out, out[1+keyIDSize:headerSize], plaintext, aad(name)), nil
}

// open authenticates and decrypts a sealed value read from store key name.
func (kr *Keyring) open(name string, sealed []byte) ([]byte, error) {
	if len(sealed) < headerSize || sealed[0] != envelopeVersion {
		return nil, ErrOpen
	}
	var id [keyIDSize]byte
	copy(id[:], sealed[1:])
	for _, k := range kr.keys {
		if k.id != id {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[1+keyIDSize:headerSize], sealed[headerSize:], aad(name))
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrUnknownKey
}

func aad(name string) []byte {
	return append([]byte(aadPrefix), name...)
}
