package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

func (b *Binding) validateSharedCache(p string, sc *SharedCache, errs *fieldErrors) {
	if b.Grant.Type == GrantNone {
		errs.add(p, "grant.type \"none\" has no tokens to share")
	}
	if sc.Address == "" {
		errs.add(p+".address", "required (host:port of the Redis or Valkey server)")
	} else if host, port, err := net.SplitHostPort(sc.Address); err != nil || host == "" {
		errs.add(p+".address", "must be host:port, got %q", sc.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs.add(p+".address", "port must be 1-65535, got %q", port)
	}
	if sc.UsernameFile != "" {
		requireFile(errs, p+".usernameFile", sc.UsernameFile)
		if sc.PasswordFile == "" {
			errs.add(p+".passwordFile", "required with usernameFile (an ACL user authenticates with a password)")
		}
	}
	if sc.PasswordFile != "" {
		requireFile(errs, p+".passwordFile", sc.PasswordFile)
	}
	if t := sc.TLS; t != nil {
		if t.CAFile != "" {
			requireFile(errs, p+".tls.caFile", t.CAFile)
		}
		if t.ServerName != "" && (strings.ContainsAny(t.ServerName, " /:") || len(t.ServerName) > 253) {
			errs.add(p+".tls.serverName", "must be a DNS name, got %q", t.ServerName)
		}
	}
	if err := CheckSharedCacheKeyPrefix(sc.KeyPrefix); err != nil {
		errs.add(p+".keyPrefix", "%v", err)
	}
	requireFile(errs, p+".encryption.keyFile", sc.Encryption.KeyFile)
	for i, f := range sc.Encryption.PreviousKeyFiles {
		requireFile(errs, p+".encryption.previousKeyFiles["+strconv.Itoa(i)+"]", f)
		if f == sc.Encryption.KeyFile {
			errs.add(p+".encryption.previousKeyFiles["+strconv.Itoa(i)+"]", "must differ from encryption.keyFile")
		}
	}
	switch d := sc.Timeout.Duration; {
	case d <= 0:
		errs.add(p+".timeout", "must be positive, got %s", d)
	case d > MaxSharedCacheTimeout:
		errs.add(p+".timeout", "must be at most %s (every cache miss may wait this long for the store), got %s", MaxSharedCacheTimeout, d)
	}
}

// CheckSharedCacheKeyPrefix keeps a store key prefix printable: it shows up
// in ACL rules and in every store key, and a control character there would
// be a config mistake. internal/sharedcache checks its Options with it too.
func CheckSharedCacheKeyPrefix(prefix string) error {
	if len(prefix) > 128 {
		return fmt.Errorf("must be at most 128 bytes, got %d", len(prefix))
	}
	if strings.IndexFunc(prefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("must not contain spaces or control characters, got %q", prefix)
	}
	return nil
}
