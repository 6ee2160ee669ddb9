package webhook

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// TestMutateSameUIDWithoutSharedPIDNamespace pins the documented decision
// (docs/security.md): an app running as the sidecar's UID is injected as
// long as it cannot see the sidecar's processes, because without a shared
// PID namespace there is no /proc/<pid> of the sidecar to open and the
// credential volumes exist only in the sidecar's mount namespace.
func TestMutateSameUIDWithoutSharedPIDNamespace(t *testing.T) {
	tests := []struct {
		name string
		pod  func(*corev1.Pod)
	}{
		{name: "shareProcessNamespace explicitly false", pod: func(p *corev1.Pod) { p.Spec.ShareProcessNamespace = ptr(false) }},
		{name: "pod runAsUser is the sidecar's", pod: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(sidecarUID))}
		}},
		{name: "container runAsUser is the sidecar's", pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(sidecarUID))}
		}},
		{name: "runAsUser unset (image default may be 65532)", pod: func(*corev1.Pod) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Mutate(testPod("a", tc.pod), []v1alpha1.OAuthClientBinding{binding("a", 15001)}, testOpts)
			if err != nil {
				t.Fatalf("Mutate: %v", err)
			}
			if got.Spec.ShareProcessNamespace != nil && *got.Spec.ShareProcessNamespace {
				t.Error("the mutation turned on shareProcessNamespace")
			}
			if u := got.Spec.InitContainers[0].SecurityContext.RunAsUser; u == nil || *u != sidecarUID {
				t.Errorf("sidecar runAsUser = %v, want %d", u, sidecarUID)
			}
		})
	}
}

// TestServiceAccountTokenMasked checks that the pod's ServiceAccount token
// directory is covered in the sidecar, and only there, by an empty
// read-only memory volume, whatever the bindings ask for.
func TestServiceAccountTokenMasked(t *testing.T) {
	saSubject := func(b *v1alpha1.OAuthClientBinding) {
		b.Spec.Grant = v1alpha1.Grant{Type: v1alpha1.GrantTokenExchange, TokenExchange: &v1alpha1.TokenExchangeGrant{
			SubjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
			SubjectToken:     v1alpha1.SubjectToken{ServiceAccountToken: &v1alpha1.ServiceAccountTokenSubject{Audience: "partner"}},
		}}
	}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		bindings []v1alpha1.OAuthClientBinding
	}{
		{name: "client credentials", pod: testPod("a"), bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)}},
		{name: "two bindings", pod: testPod("a,b"), bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001), binding("b", 15002)}},
		{
			name: "automount off on the pod", pod: testPod("a", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr(false) }),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001)},
		},
		{
			// The binding's subject token is its own projected token
			// (own audience, own path), not the pod's API token.
			name: "token exchange from a service account token", pod: testPod("a"),
			bindings: []v1alpha1.OAuthClientBinding{binding("a", 15001, saSubject)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Mutate(tc.pod, tc.bindings, testOpts)
			if err != nil {
				t.Fatalf("Mutate: %v", err)
			}
			sc := got.Spec.InitContainers[0]
			var masks []corev1.VolumeMount
			for _, m := range sc.VolumeMounts {
				if m.MountPath == ServiceAccountTokenDir {
					masks = append(masks, m)
				}
				if m.MountPath != ServiceAccountTokenDir && strings.HasPrefix(m.MountPath, ServiceAccountTokenDir+"/") {
					t.Errorf("mount %s at %s lies under the masked directory", m.Name, m.MountPath)
				}
			}
			if len(masks) != 1 {
				t.Fatalf("sidecar has %d mounts at %s, want exactly 1 (the mask): %+v", len(masks), ServiceAccountTokenDir, sc.VolumeMounts)
			}
			if !masks[0].ReadOnly {
				t.Error("the mask is mounted writable")
			}
			var vol *corev1.Volume
			for i := range got.Spec.Volumes {
				if got.Spec.Volumes[i].Name == masks[0].Name {
					vol = &got.Spec.Volumes[i]
				}
			}
			switch {
			case vol == nil:
				t.Fatalf("no volume %q backs the mask", masks[0].Name)
			case vol.EmptyDir == nil:
				t.Fatalf("mask volume is %+v, want an emptyDir", vol.VolumeSource)
			case vol.EmptyDir.Medium != corev1.StorageMediumMemory:
				t.Errorf("mask medium = %q, want Memory (nothing written to the node's disk)", vol.EmptyDir.Medium)
			case vol.EmptyDir.SizeLimit == nil || vol.EmptyDir.SizeLimit.Cmp(resource.MustParse("64Ki")) > 0 || vol.EmptyDir.SizeLimit.IsZero():
				t.Errorf("mask sizeLimit = %v, want a tiny positive limit", vol.EmptyDir.SizeLimit)
			}
			for _, c := range append(got.Spec.Containers, got.Spec.InitContainers[1:]...) {
				for _, m := range c.VolumeMounts {
					if m.Name == masks[0].Name {
						t.Errorf("container %s mounts the sidecar's token mask; the app keeps its own token", c.Name)
					}
				}
			}
			cfg := sidecarConfig(t, got)
			for _, f := range configFiles(cfg) {
				if strings.HasPrefix(f, ServiceAccountTokenDir+"/") {
					t.Errorf("config reads %s, which the mask hides", f)
				}
			}
		})
	}
}
