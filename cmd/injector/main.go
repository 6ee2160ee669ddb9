// Command injector is the oauth-injector sidecar: a localhost egress proxy
// that adds OAuth credentials to an app's requests. Everything lives in
// internal/injectorcli; main only wires process state into it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/oauth-injector/oauth-injector/internal/injectorcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(injectorcli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
