package integration

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"

	"coracle.dev/controller-manager/internal/controller/resourcequota"
	"coracle.dev/controller-manager/internal/controller/serviceaccount"
	"coracle.dev/controller-manager/manager"
)

func rlist(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

// waitUsed waits until the quota's status shows hard as its spec and
// used as want.
func (e *env) waitUsed(ns, name string, want corev1.ResourceList) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, fmt.Sprintf("quota %s/%s to show used %v", ns, name, want), func() (bool, error) {
		q, err := e.client.CoreV1().ResourceQuotas(ns).Get(e.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if !quotav1.Equals(q.Status.Hard, q.Spec.Hard) || !quotav1.Equals(q.Status.Used, want) {
			return false, fmt.Errorf("status %v", q.Status)
		}
		return true, nil
	})
}

// TestResourceQuotaCounts: the controller fills a new quota's status,
// the apiserver's admission charges new objects, and deleting them gives
// their usage back, promptly, counted objects of any resource included;
// a status written by hand is put right at the next full recount.
func TestResourceQuotaCounts(t *testing.T) {
	e := start(t, withControllers(resourcequota.Name, serviceaccount.Name), func(c *manager.Config) {
		c.ResourceQuotaSyncPeriod = 2 * time.Second
	})
	ns := e.namespace("quota")
	eventually(t, 30*time.Second, "the default ServiceAccount", func() (bool, error) {
		_, err := e.client.CoreV1().ServiceAccounts(ns).Get(e.ctx(), "default", metav1.GetOptions{})
		return err == nil, err
	})

	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec: corev1.ResourceQuotaSpec{Hard: rlist("pods", "1", "requests.cpu", "1", "configmaps", "5",
			"count/deployments.apps", "2", "services.nodeports", "2")},
	}
	if _, err := e.client.CoreV1().ResourceQuotas(ns).Create(e.ctx(), q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := rlist("pods", "0", "requests.cpu", "0", "configmaps", "0", "count/deployments.apps", "0", "services.nodeports", "0")
	e.waitUsed(ns, "compute", zero)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36",
			Resources: corev1.ResourceRequirements{Requests: rlist("cpu", "250m")}}}},
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(e.ctx(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := pod.DeepCopy()
	second.Name = "second"
	if _, err := e.client.CoreV1().Pods(ns).Create(e.ctx(), second, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("a second pod over pods=1: error %v, want 403", err)
	}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
			},
		},
	}
	if _, err := e.client.AppsV1().Deployments(ns).Create(e.ctx(), deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}
	if _, err := e.client.CoreV1().ConfigMaps(ns).Create(e.ctx(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitUsed(ns, "compute", rlist("pods", "1", "requests.cpu", "250m", "configmaps", "1", "count/deployments.apps", "1", "services.nodeports", "0"))

	// Deletions give back at once (not at the 2s resync: the test
	// removes three kinds of object and each must come back).
	if err := e.client.CoreV1().Pods(ns).Delete(e.ctx(), "p", *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	if err := e.client.AppsV1().Deployments(ns).Delete(e.ctx(), "d", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.CoreV1().ConfigMaps(ns).Delete(e.ctx(), "cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitUsed(ns, "compute", zero)
	if _, err := e.client.CoreV1().Pods(ns).Create(e.ctx(), second, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a pod after the first was deleted: %v", err)
	}
	e.waitUsed(ns, "compute", rlist("pods", "1", "requests.cpu", "250m", "configmaps", "0", "count/deployments.apps", "0", "services.nodeports", "0"))

	// A status written by hand is recounted by the full resync.
	cur, err := e.client.CoreV1().ResourceQuotas(ns).Get(e.ctx(), "compute", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Status.Used = rlist("pods", "0", "requests.cpu", "0", "configmaps", "4", "count/deployments.apps", "2", "services.nodeports", "2")
	if _, err := e.client.CoreV1().ResourceQuotas(ns).UpdateStatus(e.ctx(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitUsed(ns, "compute", rlist("pods", "1", "requests.cpu", "250m", "configmaps", "0", "count/deployments.apps", "0", "services.nodeports", "0"))
}
