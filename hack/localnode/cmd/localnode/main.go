// Command localnode runs a single-node cluster (see package localnode) in
// the foreground until SIGINT or SIGTERM, or removes what one left behind.
//
//	localnode up   -dir DIR -images bin/images -ready-file F
//	localnode down -dir DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/oauth-injector/oauth-injector/hack/localnode"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "localnode:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: localnode up|down|preflight [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", "", "the node's state directory (required)")
	images := fs.String("images", "bin/images", "directory of OCI archives from hack/images, all imported")
	cni := fs.String("cni-bin", os.Getenv("CNI_BIN_DIR"), "CNI plugin directory (hack/tools.sh env prints it)")
	ready := fs.String("ready-file", "", "written with the kubeconfig path once the node is Ready")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "preflight":
		return localnode.Preflight()
	case "down":
		if *dir == "" {
			return errors.New("-dir is required")
		}
		return localnode.Teardown(*dir)
	case "up":
	default:
		return fmt.Errorf("unknown command %q (want up, down or preflight)", args[0])
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	archives, err := filepath.Glob(filepath.Join(*images, "*.tar"))
	if err != nil || len(archives) == 0 {
		return fmt.Errorf("-images %s holds no OCI archives (run make images)", *images)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := localnode.Start(ctx, localnode.NodeOptions{Dir: *dir, CNIBinDir: *cni, Images: archives})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "localnode: node %s Ready; export KUBECONFIG=%s\n", localnode.NodeName, n.Kubeconfig)
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(n.Kubeconfig+"\n"), 0o600); err != nil {
			_ = n.Stop()
			return err
		}
	}
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "localnode: stopping")
	if *ready != "" {
		_ = os.Remove(*ready)
	}
	return n.Stop()
}
