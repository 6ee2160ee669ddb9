// Command taapsim runs the TAAP gateway simulator (internal/taapsim) for the
// demo and the end-to-end tests. With -tls-dir it serves HTTPS under a
// throwaway CA written to DIR/ca.pem; with -ready-file it writes its base
// URL there once it is listening, so scripts can wait for that file.
package main

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
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
	listen, publicKey, clientID, clientSecret, tlsDir, readyFile string
	tokenTTL                                                     time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	fs := flag.NewFlagSet("taapsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flags{}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.StringVar(&f.publicKey, "public-key", "", "PEM file with the client's PoP public key (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE); required")
	fs.StringVar(&f.clientID, "client-id", "", "client_id the token endpoint accepts; required")
	fs.StringVar(&f.clientSecret, "client-secret", "", "client_secret the token endpoint accepts; required (test credentials only: it is visible in the process list)")
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
	case f.publicKey == "":
		return nil, errors.New("-public-key is required")
	case f.clientID == "":
		return nil, errors.New("-client-id is required")
	case f.clientSecret == "":
		return nil, errors.New("-client-secret is required")
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

	pemData, err := os.ReadFile(f.publicKey)
	if err != nil {
		return fmt.Errorf("-public-key: %w", err)
	}
	pub, err := pop.ParsePublicKey(pemData)
	if err != nil {
		return fmt.Errorf("-public-key %s: %w", f.publicKey, err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("-public-key %s: holds a %T; TAAP PoP tokens are RS256, so want an RSA key", f.publicKey, pub)
	}

	srv, err := taapsim.New(taapsim.Options{
		PublicKey: rsaPub, ClientID: f.clientID, ClientSecret: f.clientSecret,
		TokenTTL: f.tokenTTL, Log: log,
	})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if f.tlsDir != "" {
		if hs.TLSConfig, err = taapsim.SelfSignedTLS(f.tlsDir, time.Now()); err != nil {
			return err
		}
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
	fields := []zap.Field{
		zap.String("url", baseURL), zap.String("client_id", f.clientID),
		zap.String("pop_key_sha256", keyFingerprint(rsaPub)), zap.Duration("token_ttl", f.tokenTTL),
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

func keyFingerprint(k *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:6])
}
