package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestChartSecretAccessRBAC applies the chart's RBAC as rendered for each
// secretAccess mode to the real API server and asks its RBAC authorizer
// (SubjectAccessReview) what the webhook's ServiceAccount may do with
// Secrets: in namespaces mode, get in the listed namespace only.
func TestChartSecretAccessRBAC(t *testing.T) {
	s := needSuite(t)
	helm := needHelm(t)
	listed := s.namespace(t, "sa-listed")
	other := s.namespace(t, "sa-other")
	// renderChart's release is rel in oi-system.
	const saNamespace, saName = "oi-system", "rel-oauth-injector"

	for _, tc := range []struct {
		name string
		set  []string
		want map[string]bool // namespace ("" = cluster-wide list) -> may get
	}{
		{name: "cluster", want: map[string]bool{listed: true, other: true}},
		{
			name: "namespaces",
			set:  []string{"secretAccess.mode=namespaces", "secretAccess.namespaces={" + listed + "}"},
			want: map[string]bool{listed: true, other: false, "kube-system": false},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := renderChart(t, helm, tc.set...)
			applied := 0
			for _, o := range r.objs {
				switch o.GetKind() {
				case "ClusterRole", "ClusterRoleBinding":
				case "Role", "RoleBinding":
					// The release namespace's Role is about the cert Secret.
					if o.GetNamespace() == "oi-system" {
						continue
					}
				default:
					continue
				}
				if err := s.client.Create(ctx, o); err != nil {
					t.Fatalf("creating %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
				applied++
				t.Cleanup(func() {
					if err := s.client.Delete(context.Background(), o); err != nil && !apierrors.IsNotFound(err) {
						t.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
					}
				})
			}
			if applied < 2 {
				t.Fatalf("applied %d RBAC objects; the render is broken", applied)
			}
			for ns, want := range tc.want {
				// The authorizer's RBAC cache follows the new objects within
				// moments; poll until it agrees.
				eventually(t, 30*time.Second, fmt.Sprintf("get secrets in %s allowed=%v", ns, want), func(ctx context.Context) (bool, error) {
					ok, err := s.mayGet(ctx, saNamespace, saName, ns, "", "secrets")
					return ok == want, err
				})
			}
			// In both modes the controller still reads bindings everywhere.
			eventually(t, 30*time.Second, "get oauthclientbindings in "+other, func(ctx context.Context) (bool, error) {
				return s.mayGet(ctx, saNamespace, saName, other, "oauth.injector.dev", "oauthclientbindings")
			})
		})
	}
}

// mayGet asks the API server's authorizer whether ServiceAccount
// saNamespace/saName may get group/resource in namespace.
func (s *suite) mayGet(ctx context.Context, saNamespace, saName, namespace, group, resource string) (bool, error) {
	sar, err := s.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:" + saNamespace + ":" + saName,
		// The groups the API server gives every ServiceAccount token.
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "get", Group: group, Resource: resource},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("SubjectAccessReview: %w", err)
	}
	return sar.Status.Allowed, nil
}
