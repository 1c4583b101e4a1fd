package integration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespaceLifecycle(t *testing.T) {
	c := start(t)
	nss := c.client.CoreV1().Namespaces()
	ns, err := nss.Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "life"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Status.Phase != corev1.NamespaceActive || len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
		t.Fatalf("new namespace: phase %s finalizers %v", ns.Status.Phase, ns.Spec.Finalizers)
	}
	if ns.Labels[corev1.LabelMetadataName] != "life" {
		t.Fatalf("labels %v", ns.Labels)
	}
	if _, err := c.client.CoreV1().ConfigMaps("life").Create(ctx(t), configMap("before", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Writes into a namespace that does not exist are refused.
	_, err = c.client.CoreV1().ConfigMaps("nowhere").Create(ctx(t), configMap("x", nil), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "nowhere" not found`) {
		t.Fatalf("create in a missing namespace: %v", err)
	}

	// Deleting makes it Terminating; it stays while spec.finalizers holds.
	if err := nss.Delete(ctx(t), "life", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err = nss.Get(ctx(t), "life", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace gone before finalize: %v", err)
	}
	if ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("phase %s deletionTimestamp %v", ns.Status.Phase, ns.DeletionTimestamp)
	}
	_, err = c.client.CoreV1().ConfigMaps("life").Create(ctx(t), configMap("after", nil), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "because it is being terminated") {
		t.Fatalf("create in a terminating namespace: %v", err)
	}
	// Existing objects may still be changed and deleted (the namespace
	// controller's job).
	if err := c.client.CoreV1().ConfigMaps("life").Delete(ctx(t), "before", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The namespace controller's finalize clears spec.finalizers; the
	// namespace then goes.
	ns.Spec.Finalizers = nil
	if _, err := nss.Finalize(ctx(t), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx(t), "life", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace still there after finalize: %v", err)
	}
}

func TestNamespaceFinalizersCannotBeChangedByUpdate(t *testing.T) {
	c := start(t)
	nss := c.client.CoreV1().Namespaces()
	ns, err := nss.Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Spec.Finalizers = nil
	if ns, err = nss.Update(ctx(t), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(ns.Spec.Finalizers) != 1 {
		t.Fatalf("update changed spec.finalizers: %v", ns.Spec.Finalizers)
	}
}

func TestClusterScopedObjectsIgnoreNamespace(t *testing.T) {
	c := start(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "default"}}
	got, err := c.client.CoreV1().Nodes().Create(ctx(t), node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "" {
		t.Fatalf("node has namespace %q", got.Namespace)
	}
}
