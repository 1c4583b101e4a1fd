package integration

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestNamespaceNameLabel: every namespace carries kubernetes.io/metadata.name
// with its own name, whichever way it is written, as Kubernetes keeps it:
// namespaceSelectors of webhooks and NetworkPolicies select by it.
func TestNamespaceNameLabel(t *testing.T) {
	c := start(t)
	nss := c.client.CoreV1().Namespaces()
	want := func(ns *corev1.Namespace, how string) {
		t.Helper()
		if got := ns.Labels[corev1.LabelMetadataName]; got != ns.Name {
			t.Fatalf("%s: label %s = %q, want %q (labels %v)", how, corev1.LabelMetadataName, got, ns.Name, ns.Labels)
		}
	}

	ns, err := nss.Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-",
		Labels: map[string]string{corev1.LabelMetadataName: "other"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want(ns, "create with generateName and a wrong label")

	ns.Labels = map[string]string{"team": "a"}
	if ns, err = nss.Update(ctx(t), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want(ns, "update without the label")

	patch := `{"metadata":{"labels":{"kubernetes.io/metadata.name":null}}}`
	if ns, err = nss.Patch(ctx(t), ns.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	want(ns, "merge patch removing the label")

	ns.Labels[corev1.LabelMetadataName] = "changed"
	if ns, err = nss.UpdateStatus(ctx(t), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want(ns, "status update changing the label")

	r := c.do(t, http.MethodPatch, "/api/v1/namespaces/"+ns.Name+"/status", "application/merge-patch+json", []byte(patch))
	if r.code != http.StatusOK {
		t.Fatalf("status patch: %d %s", r.code, r.body)
	}
	if ns, err = nss.Get(ctx(t), ns.Name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	want(ns, "status patch removing the label")
	if ns.Labels["team"] != "a" {
		t.Fatalf("labels %v lost team=a", ns.Labels)
	}
}
