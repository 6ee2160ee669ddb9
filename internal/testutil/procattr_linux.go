package testutil

import (
	"os/exec"
	"syscall"
)

// KillWithParent makes the kernel SIGKILL the child when the test binary
// dies, even when a `go test -timeout` panic skips every cleanup. The
// signal follows the OS thread that started the child, which Go may retire
// earlier; hack/localnode accepts the same limit.
func KillWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
