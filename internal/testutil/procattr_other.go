//go:build !linux

package testutil

import "os/exec"

// KillWithParent is Linux-only; elsewhere the test's cleanup must stop the
// child.
func KillWithParent(*exec.Cmd) {}
