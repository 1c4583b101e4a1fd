package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
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
