// Package localnode runs a single-node Kubernetes cluster on this machine
// from binaries hack/tools.sh built (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet), containerd and runc from
// the OS, CNI plugins built from source, and images built by hack/images. It
// also runs the control plane alone (StartControlPlane) for the tests that
// stop at the API server.
//
// Everything it creates is named by its state directory: processes by PID,
// mounts under the directory, network namespaces, the cni0 bridge and the
// KUBE-* iptables chains. Teardown removes them all, also after a crash, so a
// test run leaves the host as it found it.
//
// There is no kube-proxy: kube-apiserver runs with
// --enable-aggregator-routing so it reaches the webhook Service through its
// endpoints, and in-cluster clients (the webhook) are pointed at the API
// server's bridge address. That keeps iptables to the kubelet's own chains,
// and ClusterIP Services are the one thing this node does not offer.
package localnode
