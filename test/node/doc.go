// Package node is the real-node tier: a single-node cluster from
// hack/localnode (containerd, runc, a real kubelet), the chart installed
// with images built by hack/images, the webhook running as the chart's
// Deployment and injected pods that really run. It checks what only a real
// kubelet can show: native sidecar ordering, probes, Secret rotation through
// the kubelet's volume sync, pod deletion order, the sidecar's runtime
// hardening and webhook availability.
//
// The tests skip, with the reason printed by `make test`, only when the host
// cannot run containers (localnode.Preflight); anywhere else a missing
// binary or a failure to start is a failure.
package node
