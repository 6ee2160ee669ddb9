package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
)

// The renderer's Secret bookkeeping: every file path it puts in the config
// is registered here, and each Secret becomes one volume that projects only
// the registered keys.

// file registers secret/key and returns the path the sidecar reads it from.
func (r *renderer) file(secret v1alpha1.SecretName, key v1alpha1.SecretKey) string {
	return r.register(secret, key, false)
}

// optionalFile is file for a key the Secret may lack (the kubelet then
// skips it and the sidecar finds no file), such as the previous encryption
// key outside a rotation.
func (r *renderer) optionalFile(secret v1alpha1.SecretName, key v1alpha1.SecretKey) string {
	return r.register(secret, key, true)
}

func (r *renderer) register(secret v1alpha1.SecretName, key v1alpha1.SecretKey, optional bool) string {
	s, k := string(secret), string(key)
	if k == "" || strings.HasPrefix(k, "..") || strings.Contains(k, "/") {
		r.fail(fmt.Errorf("key %q of Secret %q: must be a plain file name", k, s))
	}
	if s == "" || strings.Contains(s, "/") {
		r.fail(fmt.Errorf("secret name %q: must be a DNS subdomain", s))
	}
	if _, ok := r.secrets[s]; !ok {
		r.secrets[s] = map[string]bool{}
		r.order = append(r.order, s)
	}
	// A key some field requires stays required.
	if prev, seen := r.secrets[s][k]; seen {
		optional = optional && prev
	}
	r.secrets[s][k] = optional
	return path.Join(MountRoot, r.name, s, k)
}

// volumes returns one Secret volume per referenced Secret, projecting only
// the keys the config points at, plus the projected service account token.
// Missing keys keep the pod from starting (the kubelet refuses the mount),
// which is what we want: the pod never runs without the credentials it asked
// for, and the controller reports the missing key on the binding.
func (r *renderer) volumes() ([]corev1.Volume, []corev1.VolumeMount) {
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	for _, s := range r.order {
		required, optional := r.items(s)
		name := volumeName(r.name, s)
		if len(optional) == 0 {
			vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName:  s,
				Items:       required,
				DefaultMode: ptr(fileMode),
				Optional:    ptr(false),
			}}})
		} else {
			// A projection of the same Secret twice: the required keys
			// still keep the pod from starting when missing, the optional
			// ones are skipped.
			var sources []corev1.VolumeProjection
			for _, part := range []struct {
				items    []corev1.KeyToPath
				optional bool
			}{{required, false}, {optional, true}} {
				if len(part.items) > 0 {
					sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: s},
						Items:                part.items,
						Optional:             ptr(part.optional),
					}})
				}
			}
			vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources:     sources,
				DefaultMode: ptr(fileMode),
			}}})
		}
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: path.Join(MountRoot, r.name, s), ReadOnly: true})
	}
	if sa := r.saToken; sa != nil {
		name := volumeName(r.name, serviceAccountDir)
		exp := sa.ExpirationSeconds
		if exp == nil {
			exp = ptr(int64(3600))
		}
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          sa.Audience,
				ExpirationSeconds: ptr(*exp),
				Path:              "token",
			}}},
			DefaultMode: ptr(fileMode),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: path.Join(MountRoot, r.name, serviceAccountDir), ReadOnly: true})
	}
	return vols, mounts
}

// items splits a Secret's registered keys into required and optional ones,
// each sorted so the rendered pod is stable.
func (r *renderer) items(secret string) (required, optional []corev1.KeyToPath) {
	keys := make([]string, 0, len(r.secrets[secret]))
	for k := range r.secrets[secret] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		it := corev1.KeyToPath{Key: k, Path: k}
		if r.secrets[secret][k] {
			optional = append(optional, it)
		} else {
			required = append(required, it)
		}
	}
	return required, optional
}

// volumeName is a DNS label unique per (binding, source): a readable prefix
// plus a hash, because "a-b"+"c" and "a"+"b-c" must not collide and Secret
// names may contain dots and be longer than a label.
func volumeName(binding, source string) string {
	sum := sha256.Sum256([]byte(binding + "/" + source))
	readable := strings.NewReplacer(".", "-", "_", "").Replace(binding + "-" + source)
	if len(readable) > 44 {
		readable = strings.TrimRight(readable[:44], "-")
	}
	return "oi-" + readable + "-" + hex.EncodeToString(sum[:])[:8]
}
