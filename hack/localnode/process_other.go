//go:build !linux

package localnode

import "os/exec"

// setParentDeathSignal is Linux-only; elsewhere Stop must be called.
func setParentDeathSignal(*exec.Cmd) {}
