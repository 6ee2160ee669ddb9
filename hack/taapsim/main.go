// Command taapsim runs the TAAP gateway simulator (internal/taapsim) for the
// demo and the end-to-end tests. With -tls-dir it serves HTTPS under a
// throwaway CA written to DIR/ca.pem; with -ready-file it writes its base
// URL there once it is listening, so scripts can wait for that file.
package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/taapsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "taapsim:", err)
		os.Exit(1)
	}
}

type flags struct {
	listen, clientID, tlsDir, tlsCert, tlsKey, readyFile string
	publicKeys, clientSecrets, clientSecretFiles         list
	tokenTTL                                             time.Duration
}

// list is a repeatable flag: a partner accepts the old and the new key or
// secret while a client rotates.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	fs := flag.NewFlagSet("taapsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flags{}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.Var(&f.publicKeys, "public-key", "PEM file with a client PoP public key (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE); required, repeatable")
	fs.StringVar(&f.clientID, "client-id", "", "client_id the token endpoint accepts; required")
	fs.Var(&f.clientSecrets, "client-secret", "a client_secret the token endpoint accepts; repeatable (test credentials only: it is visible in the process list)")
	fs.Var(&f.clientSecretFiles, "client-secret-file", "file holding a client_secret the token endpoint accepts; repeatable")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM) instead of a generated one; needs -tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "private key (PEM) for -tls-cert")
	fs.DurationVar(&f.tokenTTL, "token-ttl", time.Hour, "lifetime of issued access and ID tokens")
	fs.StringVar(&f.tlsDir, "tls-dir", "", "serve HTTPS with a generated CA and write DIR/ca.pem")
	fs.StringVar(&f.readyFile, "ready-file", "", "write the base URL to this file once listening")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case len(f.publicKeys) == 0:
		return nil, errors.New("-public-key is required")
	case f.clientID == "":
		return nil, errors.New("-client-id is required")
	case len(f.clientSecrets) == 0 && len(f.clientSecretFiles) == 0:
		return nil, errors.New("-client-secret or -client-secret-file is required")
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return nil, errors.New("-tls-cert and -tls-key go together")
	case f.tlsCert != "" && f.tlsDir != "":
		return nil, errors.New("-tls-dir generates a certificate; it cannot be combined with -tls-cert")
	case f.tokenTTL <= 0:
		return nil, fmt.Errorf("-token-ttl must be positive, got %s", f.tokenTTL)
	}
	return f, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := zap.NewProduction()
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()

	keys, err := readPublicKeys(f.publicKeys)
	if err != nil {
		return err
	}
	secrets := append([]string(nil), f.clientSecrets...)
	for _, p := range f.clientSecretFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("-client-secret-file: %w", err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return fmt.Errorf("-client-secret-file %s is empty", p)
		}
		secrets = append(secrets, string(bytes.TrimSpace(b)))
	}

	srv, err := taapsim.New(taapsim.Options{
		PublicKey: keys[0], ClientID: f.clientID, ClientSecret: secrets[0],
		TokenTTL: f.tokenTTL, Log: log,
	})
	if err != nil {
		return err
	}
	srv.SetPublicKeys(keys...)
	srv.SetClientSecrets(secrets...)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	switch {
	case f.tlsDir != "":
		if hs.TLSConfig, err = taapsim.SelfSignedTLS(f.tlsDir, time.Now()); err != nil {
			return err
		}
		scheme = "https"
	case f.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	baseURL := scheme + "://" + reachableAddr(ln.Addr().(*net.TCPAddr))

	errc := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	if f.readyFile != "" {
		if err := writeAtomic(f.readyFile, []byte(baseURL+"\n")); err != nil {
			_ = hs.Close()
			return fmt.Errorf("-ready-file: %w", err)
		}
	}
	var keyIDs []string
	for _, k := range keys {
		keyIDs = append(keyIDs, taapsim.KeyID(k))
	}
	fields := []zap.Field{
		zap.String("url", baseURL), zap.String("client_id", f.clientID),
		zap.Strings("pop_keys_sha256", keyIDs), zap.Int("client_secrets", len(secrets)), zap.Duration("token_ttl", f.tokenTTL),
	}
	if f.tlsDir != "" {
		fields = append(fields, zap.String("ca", filepath.Join(f.tlsDir, taapsim.CAFile)))
	}
	log.Info("taapsim listening", fields...)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// reachableAddr turns a wildcard listen address into one a client on the
// same host can dial, since the ready file is for such clients.
func reachableAddr(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// writeAtomic writes through a temporary file and a rename so a waiting
// script never reads a half-written URL.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".taapsim-ready-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readPublicKeys(paths []string) ([]*rsa.PublicKey, error) {
	var keys []*rsa.PublicKey
	for _, p := range paths {
		pemData, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("-public-key: %w", err)
		}
		pub, err := pop.ParsePublicKey(pemData)
		if err != nil {
			return nil, fmt.Errorf("-public-key %s: %w", p, err)
		}
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("-public-key %s: holds a %T; TAAP PoP tokens are RS256, so want an RSA key", p, pub)
		}
		keys = append(keys, rsaPub)
	}
	return keys, nil
}
