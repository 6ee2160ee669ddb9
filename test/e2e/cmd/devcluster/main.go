// Command devcluster runs a local Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager from KUBEBUILDER_ASSETS) until it
// receives SIGINT or SIGTERM. It writes an admin kubeconfig into -dir and,
// once everything is up, the kubeconfig's path into -ready-file, which is
// what hack/dev-cluster.sh waits for.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/oauth-injector/oauth-injector/test/e2e/framework"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "directory for the kubeconfig and logs (a temporary directory, removed on exit, when empty)")
	readyFile := flag.String("ready-file", "", "written with the kubeconfig path once the control plane is up")
	controllers := flag.String("controllers", strings.Join(framework.DefaultControllers, ","), "kube-controller-manager controllers")
	flag.Parse()

	// Unlike the tests, a missing control plane is always an error here.
	assets, err := framework.AssetsDir()
	if err != nil {
		return err
	}
	if *dir != "" {
		if *dir, err = filepath.Abs(*dir); err != nil {
			return fmt.Errorf("-dir: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c, err := framework.Start(ctx, framework.Options{AssetsDir: assets, Dir: *dir, Controllers: strings.Split(*controllers, ",")})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "devcluster: control plane up; export KUBECONFIG=%s\n", c.Kubeconfig)
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(c.Kubeconfig+"\n"), 0o600); err != nil {
			_ = c.Stop()
			return fmt.Errorf("-ready-file: %w", err)
		}
	}
	select {
	case <-ctx.Done():
	case <-c.ControllerManager.Done():
		_, werr := c.ControllerManager.Exited()
		_ = c.Stop()
		return fmt.Errorf("kube-controller-manager exited unexpectedly: %v (log: %s)", werr, c.ControllerManager.LogPath)
	}
	fmt.Fprintln(os.Stderr, "devcluster: stopping")
	if *readyFile != "" {
		_ = os.Remove(*readyFile)
	}
	return c.Stop()
}
