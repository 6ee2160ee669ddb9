package localnode

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child when the test binary
// dies, even on SIGKILL or a panic that skips cleanup.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
