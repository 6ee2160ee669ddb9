// Command pause is the pod sandbox's first process for the local node: it
// holds the pod's namespaces open, reaps orphaned children (it is PID 1 of
// the sandbox) and exits 0 on SIGINT or SIGTERM. No registry is reachable
// from this project's machines, so registry.k8s.io/pause is built from here
// instead (see hack/images).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		// A zombie that is never waited for keeps its PID forever.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
