package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// What keeps the app containers away from the sidecar's credentials, and
// the sidecar away from the app's. docs/security.md explains each rule.

// Denial reasons for pods whose app containers could see the sidecar's
// processes.
const (
	ReasonShareProcessNamespace = "ShareProcessNamespace"
	ReasonHostPID               = "HostPID"
)

// checkProcessIsolation refuses pods whose app containers share a PID
// namespace with the sidecar. Whoever sees a process and runs as its UID
// (or is root, which can become that UID) may open /proc/<pid>/root and
// read files from that process's mount namespace: the Secret volumes that
// exist only in the sidecar. Making the sidecar's UID differ from the app's
// would not be enough, because the webhook cannot see an image's default
// user and a root app can switch to any UID; so the pod is denied instead.
func checkProcessIsolation(pod *corev1.Pod) error {
	// hostPID first: it is the wider exposure (every process on the node).
	if pod.Spec.HostPID {
		return deny(ReasonHostPID, "pod uses hostPID, so its app containers (and every host process) could read the oauth-injector sidecar's credential files through /proc/<pid>/root; remove hostPID or the %s annotation", v1alpha1.AnnotationBindings)
	}
	if s := pod.Spec.ShareProcessNamespace; s != nil && *s {
		return deny(ReasonShareProcessNamespace, "pod sets shareProcessNamespace: true, so its app containers could read the oauth-injector sidecar's credential files through /proc/<pid>/root (the sidecar runs as UID %d; a root app can become any UID); remove shareProcessNamespace or the %s annotation", sidecarUID, v1alpha1.AnnotationBindings)
	}
	return nil
}

// ServiceAccountTokenDir is where the kubelet mounts the pod's Kubernetes
// API token into every container that has no mount of its own there.
const ServiceAccountTokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// serviceAccountMaskVolume names the empty volume that covers
// ServiceAccountTokenDir in the sidecar.
const serviceAccountMaskVolume = "oi-serviceaccount-token-mask"

// serviceAccountMask returns the volume and sidecar mount that hide the
// pod's API token from the sidecar. The sidecar makes no Kubernetes API
// calls, so the token would only widen what a compromised sidecar could do
// with the app's identity. A container that already mounts something at
// ServiceAccountTokenDir is skipped by the ServiceAccount admission plugin,
// also when it runs again after this webhook.
//
// The mask is unconditional because no binding can need that token: a
// token-exchange binding with subjectToken.serviceAccountToken gets its own
// projected token (its own audience and lifetime) under MountRoot, never
// this directory; TestExamples and TestServiceAccountTokenMasked keep it so.
func serviceAccountMask() (corev1.Volume, corev1.VolumeMount) {
	// Memory: nothing of the sidecar's reaches the node's disk. The limit
	// is one page because the mount is read-only and stays empty.
	size := resource.MustParse("4Ki")
	return corev1.Volume{
			Name:         serviceAccountMaskVolume,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}},
		}, corev1.VolumeMount{
			Name:      serviceAccountMaskVolume,
			MountPath: ServiceAccountTokenDir,
			ReadOnly:  true,
		}
}
