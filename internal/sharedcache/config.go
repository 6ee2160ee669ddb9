package sharedcache

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// FromConfig turns a binding's sharedCache section into Options: it loads
// the keyring and the TLS CA now, and reads the username and password files
// on every new connection, so that a rotated password Secret takes effect
// without a restart. clientID is the binding's client id; it is part of
// every store key name. Logger, Metrics and the rest are the caller's.
func FromConfig(sc *config.SharedCache, binding, clientID string) (Options, error) {
	kr, err := LoadKeyring(sc.Encryption.KeyFile, sc.Encryption.PreviousKeyFiles...)
	if err != nil {
		return Options{}, err
	}
	o := Options{
		Addr:      sc.Address,
		KeyPrefix: sc.KeyPrefix,
		Keyring:   kr,
		Scope:     Scope{Namespace: sc.Namespace, Binding: binding, ClientID: clientID},
		Timeout:   sc.Timeout.Duration,
	}
	if sc.PasswordFile != "" {
		userFile, passFile := sc.UsernameFile, sc.PasswordFile
		o.Credentials = func() (string, string, error) {
			var user string
			if userFile != "" {
				b, err := os.ReadFile(userFile)
				if err != nil {
					return "", "", fmt.Errorf("sharedcache: reading the username: %w", err)
				}
				user = strings.TrimSpace(string(b))
			}
			b, err := os.ReadFile(passFile)
			if err != nil {
				return "", "", fmt.Errorf("sharedcache: reading the password: %w", err)
			}
			return user, strings.TrimRight(string(b), "\r\n"), nil
		}
		// Fail at start on a missing file rather than on every connect.
		if _, _, err := o.Credentials(); err != nil {
			return Options{}, err
		}
	}
	if t := sc.TLS; t != nil {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(sc.Address)
			if err != nil {
				return Options{}, fmt.Errorf("sharedcache: address %q: %w", sc.Address, err)
			}
			cfg.ServerName = host
		}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return Options{}, fmt.Errorf("sharedcache: reading the TLS CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return Options{}, fmt.Errorf("sharedcache: TLS CA file %s holds no PEM certificate", t.CAFile)
			}
			cfg.RootCAs = pool
		}
		o.TLS = cfg
	}
	return o, nil
}
