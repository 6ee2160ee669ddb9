package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// EncryptionKeySize is the length of a shared cache encryption key
// (AES-256).
const EncryptionKeySize = 32

// ParseEncryptionKey reads the content of a shared cache key file: 32 raw
// bytes, or 64 hex digits, or the standard base64 of 32 bytes (what
// `openssl rand -base64 32` prints), with surrounding whitespace ignored. It
// lives here because both the sidecar (which uses the key) and the
// controller (which reports an unusable key on the binding) read this
// format. Its error never contains the data.
func ParseEncryptionKey(data []byte) ([]byte, error) {
	if len(data) == EncryptionKeySize {
		return data, nil
	}
	s := bytes.TrimSpace(data)
	switch {
	case len(s) == EncryptionKeySize:
		return s, nil
	case len(s) == 2*EncryptionKeySize:
		k := make([]byte, EncryptionKeySize)
		if _, err := hex.Decode(k, s); err == nil {
			return k, nil
		}
	default:
		k := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		if n, err := base64.StdEncoding.Decode(k, s); err == nil && n == EncryptionKeySize {
			return k[:n], nil
		}
	}
	return nil, fmt.Errorf("must hold a %d-byte key (raw, 64 hex digits or base64, for example from `openssl rand -base64 32`), found %d bytes that are none of these", EncryptionKeySize, len(s))
}
