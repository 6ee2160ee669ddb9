// Command upstream is the local partner stand-in for bench/load.sh: a plain
// HTTP/1.1 keep-alive server that answers every path with a small JSON body,
// plus a token endpoint whose bearer token lives for a day so the sidecar
// fetches it once and serves every measured request from its cache.
//
// It is plain HTTP on purpose: the comparison is about what a proxy adds
// per request, and a TLS handshake or record encryption on the upstream hop
// would be the same for nginx and the sidecar while hiding the difference.
// It verifies nothing (no token, no PoP), so TAAP-mode figures are the
// sidecar's own cost, not a validator's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	readyFile := flag.String("ready-file", "", "write the bound address here once listening")
	flag.Parse()
	if err := run(*listen, *readyFile); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(listen, readyFile string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", listen, err)
	}
	if readyFile != "" {
		// Written after Listen so a reader never sees an address that
		// refuses connections.
		if err := os.WriteFile(readyFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("-ready-file: %w", err)
		}
	}
	srv := &http.Server{Handler: NewHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
