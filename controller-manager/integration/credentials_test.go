package integration

import (
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/manager"
)

// withServiceAccountCredentials runs the manager as the apiserver's
// controller-manager.conf user, system:kube-controller-manager, and its
// controllers with their own ServiceAccounts' credentials, as make up
// runs them.
func (e *env) withServiceAccountCredentials() option {
	return func(c *manager.Config) {
		c.RESTConfig = nil
		c.Kubeconfig = filepath.Join(e.ts.DataDir, "controller-manager.conf")
		c.UseServiceAccountCredentials = true
	}
}

// With --use-service-account-credentials each controller acts as its
// ServiceAccount: a Deployment gets its ReplicaSet and pods, and their
// events, though the manager's own user may not create either: only
// the bootstrap policy's roles of the deployment and replicaset
// controllers' accounts allow it. (Without the flag nothing is made.)
func TestServiceAccountCredentials(t *testing.T) {
	e := startServer(t)
	ctx := e.ctx()
	for _, resource := range []string{"replicasets", "pods"} {
		group := "apps"
		if resource == "pods" {
			group = ""
		}
		sar, err := e.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: "system:kube-controller-manager", Groups: []string{"system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "creds", Verb: "create", Group: group, Resource: resource},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed {
			t.Fatalf("system:kube-controller-manager may create %s itself: the test would prove nothing", resource)
		}
	}

	// Every controller, so that each gets its ServiceAccount.
	e.cm = e.startManager(e.withServiceAccountCredentials())
	ns := e.namespace("creds")
	lbls := map[string]string{"app": "creds"}
	_, err := e.client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: podTemplate(lbls),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the deployment's pods", func() (bool, error) {
		return len(e.pods(ns, lbls)) == 2, nil
	})
	rss, err := e.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 1 {
		t.Fatalf("%d replica sets, want 1", len(rss.Items))
	}
	// The controllers' events are written with their credentials too.
	e.waitEvent(ns, "web", "ScalingReplicaSet")
	e.waitEvent(ns, rss.Items[0].Name, "SuccessfulCreate")
	for name, sa := range manager.ServiceAccounts() {
		if _, err := e.client.CoreV1().ServiceAccounts("kube-system").Get(ctx, sa, metav1.GetOptions{}); err != nil {
			t.Errorf("service account kube-system/%s of %s: %v", sa, name, err)
		}
	}
}
