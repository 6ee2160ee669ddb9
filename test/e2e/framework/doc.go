// Package framework runs a real Kubernetes control plane (etcd,
// kube-apiserver and kube-controller-manager built from source by
// hack/tools.sh) for the e2e tests and for hack/dev-cluster.sh, plus the
// helpers those need: local processes that die with their parent, the helm
// binary, and polling with a deadline.
//
// etcd and kube-apiserver are started by controller-runtime's envtest;
// kube-controller-manager is added on top so that Deployments really create
// ReplicaSets and ReplicaSets really create pods through admission.
package framework
