// Package e2e tests the project against a real control plane: the Helm
// chart installed by a real helm binary into a real kube-apiserver, the
// webhook (cmd/webhook) running as a local process reached through the
// chart's devURL, pods created by the real ReplicaSet controller, and the
// built injector sidecar talking to the TAAP simulator.
//
// The tests skip only when neither KUBEBUILDER_ASSETS nor CI is set; under
// CI a missing binary fails the run. The control plane is started lazily,
// once, by the first test that needs it, so the static chart tests run
// without it.
package e2e
