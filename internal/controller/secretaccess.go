package controller

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Secret access modes, the chart's secretAccess.mode and cmd/webhook's
// --secret-access.
const (
	// SecretAccessCluster reads referenced Secrets in every namespace (a
	// ClusterRole with get on all Secrets).
	SecretAccessCluster = "cluster"
	// SecretAccessNamespaces reads them only in listed namespaces (a Role
	// per namespace); bindings elsewhere report NamespaceNotWatched.
	SecretAccessNamespaces = "namespaces"
)

// SecretAccess is where the controller may read Secrets. The zero value
// allows every namespace.
type SecretAccess struct {
	restricted bool
	namespaces map[string]bool
}

// ParseSecretAccess builds a SecretAccess from cmd/webhook's flags. An empty
// mode is cluster. Namespaces are only valid in namespaces mode; an empty
// list there reads no Secret at all.
func ParseSecretAccess(mode string, namespaces []string) (SecretAccess, error) {
	switch mode {
	case "", SecretAccessCluster:
		if len(namespaces) > 0 {
			return SecretAccess{}, fmt.Errorf("--secret-namespaces: only valid with --secret-access=%s (got --secret-access=%s)", SecretAccessNamespaces, SecretAccessCluster)
		}
		return SecretAccess{}, nil
	case SecretAccessNamespaces:
	default:
		return SecretAccess{}, fmt.Errorf("--secret-access: %q is not one of %s, %s", mode, SecretAccessCluster, SecretAccessNamespaces)
	}
	a := SecretAccess{restricted: true, namespaces: map[string]bool{}}
	for _, ns := range namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return SecretAccess{}, fmt.Errorf("--secret-namespaces: %q is not a valid namespace name: %s", ns, strings.Join(errs, "; "))
		}
		a.namespaces[ns] = true
	}
	return a, nil
}

// Allows reports whether the controller reads Secrets in namespace.
func (a SecretAccess) Allows(namespace string) bool {
	return !a.restricted || a.namespaces[namespace]
}

// String lists the namespaces for messages, sorted: "*" for all, "(none)"
// for an empty list.
func (a SecretAccess) String() string {
	if !a.restricted {
		return "*"
	}
	if len(a.namespaces) == 0 {
		return "(none)"
	}
	names := make([]string, 0, len(a.namespaces))
	for ns := range a.namespaces {
		names = append(names, ns)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
