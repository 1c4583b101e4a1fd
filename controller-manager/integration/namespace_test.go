package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// A new namespace gets its default ServiceAccount and the root CA; both
// come back when deleted.
func TestNamespaceDefaults(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	ns := e.namespace("defaults")
	kc, err := clientcmd.LoadFromFile(e.ts.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var wantCA []byte
	for _, c := range kc.Clusters {
		wantCA = c.CertificateAuthorityData
	}
	eventually(t, 30*time.Second, "default service account and kube-root-ca.crt", func() (bool, error) {
		if _, err := e.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, err
		}
		cm, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cm.Data["ca.crt"] == string(wantCA), nil
	})
	// Existing namespaces got them too.
	for _, n := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		eventually(t, 30*time.Second, "defaults in "+n, func() (bool, error) {
			_, err := e.client.CoreV1().ServiceAccounts(n).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, err
		})
	}
	if err := e.client.CoreV1().ServiceAccounts(ns).Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cm, _ := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	cm.Data["ca.crt"] = "tampered"
	if _, err := e.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "defaults restored", func() (bool, error) {
		sa, err := e.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cm, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return sa.UID != "" && cm.Data["ca.crt"] == string(wantCA), nil
	})
}

// Deleting a namespace deletes everything in it, pods on nodes included
// (the kubelet finishes them), and then the namespace.
func TestNamespaceDeletion(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	startKubelet(e, "node-a")
	ns := e.namespace("doomed")
	for i, name := range []string{"one", "two"} {
		if _, err := e.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": string(rune('0' + i))}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := podTemplate(map[string]string{"app": "x"})
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: tmpl.Labels}, Spec: tmpl.Spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pod running", func() (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	if err := e.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil && n.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %s while deleting, want Terminating", n.Status.Phase)
	}
	eventually(t, 60*time.Second, "namespace gone", func() (bool, error) {
		_, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	cms, err := e.client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(cms.Items) != 0 {
		t.Errorf("configmaps left after namespace deletion: %v %v", cms, err)
	}
	if pods := e.pods(ns, nil); len(pods) != 0 {
		t.Errorf("%d pods left after namespace deletion", len(pods))
	}
}

// Deleting a namespace deletes its pods first and the rest only once no
// pod remains (ordered namespace deletion, as the conformance test
// "OrderedNamespaceDeletion namespace deletion should delete pod first"):
// a pod held by a finalizer keeps the namespace's ConfigMap until it is
// gone.
func TestNamespaceDeletionPodsFirst(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	startKubelet(e, "node-a")
	ns := e.namespace("pods-first")
	const finalizer = "e2e.example.com/finalizer"
	tmpl := podTemplate(map[string]string{"app": "held"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "test-pod", Finalizers: []string{finalizer}}, Spec: tmpl.Spec}
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pod running", func() (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, "test-pod", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	if _, err := e.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "test-configmap"}, Data: map[string]string{"key": "value"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Watches from here on tell in which order the pod and the
	// ConfigMap went.
	podWatch, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=test-pod"})
	if err != nil {
		t.Fatal(err)
	}
	defer podWatch.Stop()
	cmWatch, err := e.client.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=test-configmap"})
	if err != nil {
		t.Fatal(err)
	}
	defer cmWatch.Stop()

	if err := e.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The controller has made a pass once its conditions are there; the
	// pass deleted the pod (the test kubelet finished it, its finalizer
	// holds it) and stopped at it.
	wantRemaining := "Some resources are remaining: pods. has 1 resource instances"
	wantFinalizers := "Some content in the namespace has finalizers remaining: " + finalizer + " in 1 resource instances"
	var last []corev1.NamespaceCondition
	eventually(t, 30*time.Second, "conditions naming the held pod", func() (bool, error) {
		n, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = n.Status.Conditions
		got := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
		for _, c := range n.Status.Conditions {
			got[c.Type] = c
		}
		_, hasContentFailure := got[corev1.NamespaceDeletionContentFailure]
		return n.Status.Phase == corev1.NamespaceTerminating && hasContentFailure &&
			got[corev1.NamespaceContentRemaining].Message == wantRemaining &&
			got[corev1.NamespaceFinalizersRemaining].Message == wantFinalizers, fmt.Errorf("conditions %v", last)
	})
	p, err := e.client.CoreV1().Pods(ns).Get(ctx, "test-pod", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("pod = %v, %v; want it there, being deleted", p, err)
	}
	if _, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "test-configmap", metav1.GetOptions{}); err != nil {
		t.Fatalf("configmap while the pod remains: %v; want it kept", err)
	}

	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, "test-pod", metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Finalizers = nil
		_, err = e.client.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("remove the pod's finalizer: %v", err)
	}
	eventually(t, 60*time.Second, "namespace gone", func() (bool, error) {
		_, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	// Resource versions are etcd revisions here, so the deletions'
	// order is theirs.
	podGone, cmGone := deletedRevision(t, podWatch), deletedRevision(t, cmWatch)
	if cmGone < podGone {
		t.Errorf("configmap deleted at revision %d, before the pod at %d", cmGone, podGone)
	}
}

// deletedRevision reads w until its object's deletion and returns the
// revision of it.
func deletedRevision(t *testing.T, w watch.Interface) int64 {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed before the deletion")
			}
			if ev.Type != watch.Deleted {
				continue
			}
			m, err := meta.Accessor(ev.Object)
			if err != nil {
				t.Fatal(err)
			}
			rev, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
			if err != nil {
				t.Fatalf("resourceVersion %q: %v", m.GetResourceVersion(), err)
			}
			return rev
		case <-timeout:
			t.Fatalf("no deletion seen within 30s")
		}
	}
}
