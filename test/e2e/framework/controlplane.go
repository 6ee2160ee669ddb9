package framework

import (
	"context"

	"github.com/oauth-injector/oauth-injector/hack/localnode"
)

// Process and its helpers live in hack/localnode, which starts the node's
// processes the same way; the framework re-exports them for its callers.
type Process = localnode.Process

// StartProcess starts a child process logging to a file; see localnode.StartProcess.
var StartProcess = localnode.StartProcess

// Eventually polls a condition; see localnode.Eventually.
var Eventually = localnode.Eventually

// FreePort returns a free 127.0.0.1 port; see localnode.FreePort.
var FreePort = localnode.FreePort

// Options, Cluster and DefaultControllers are the control plane's; see
// localnode.StartControlPlane.
type (
	Options = localnode.Options
	Cluster = localnode.Cluster
)

// DefaultControllers are kube-controller-manager's controllers for tests
// that stop at the API server.
var DefaultControllers = localnode.DefaultControllers

// Start starts the control plane without a node.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	return localnode.StartControlPlane(ctx, opts)
}

// AssetsDir, ErrNoAssets and HelmBinary locate what hack/tools.sh built.
var (
	AssetsDir   = localnode.AssetsDir
	ErrNoAssets = localnode.ErrNoAssets
	HelmBinary  = localnode.HelmBinary
)
