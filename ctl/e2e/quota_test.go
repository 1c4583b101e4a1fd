package e2e

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestQuotaAndLimitRange: ctl create quota makes the quota kubectl
// makes from the same flags, and ctl describe quota, limitrange and
// namespace print what kubectl prints.
func TestQuotaAndLimitRange(t *testing.T) {
	c := startCluster(t)
	k, kc := ctl(t, c), kubectl(t, c)
	ns := c.namespace(t)
	ctx := context.Background()

	k.says(t, "resourcequota/compute created", "-n", ns, "create", "quota", "compute", "--hard=pods=4,requests.cpu=2,limits.memory=2Gi", "--scopes=NotTerminating")
	kc.says(t, "resourcequota/compute-kubectl created", "-n", ns, "create", "quota", "compute-kubectl", "--hard=pods=4,requests.cpu=2,limits.memory=2Gi", "--scopes=NotTerminating")
	ours, err := c.client.CoreV1().ResourceQuotas(ns).Get(ctx, "compute", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := c.client.CoreV1().ResourceQuotas(ns).Get(ctx, "compute-kubectl", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(ours.Spec, theirs.Spec) {
		t.Errorf("ctl made spec %+v, kubectl %+v", ours.Spec, theirs.Spec)
	}
	for _, bad := range [][]string{{"--hard=pods"}, {"--hard=pods=1", "--scopes=BestEffort,"}} {
		args := append([]string{"-n", ns, "create", "quota", "bad"}, bad...)
		k.fails(t, kc.run(t, args...).stderr, args...)
	}
	if err := c.client.CoreV1().ResourceQuotas(ns).Delete(ctx, "compute-kubectl", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// No controller manager runs here: give the quota the status the
	// quota controller would.
	ours.Status = corev1.ResourceQuotaStatus{Hard: ours.Spec.Hard, Used: corev1.ResourceList{
		"pods": resource.MustParse("1"), "requests.cpu": resource.MustParse("250m"), "limits.memory": resource.MustParse("0"),
	}}
	if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, ours, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// One resource per item: kubectl prints an item's resources in a
	// map's order.
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{"cpu": resource.MustParse("1")}, DefaultRequest: corev1.ResourceList{"cpu": resource.MustParse("100m")}},
		{Type: corev1.LimitTypePersistentVolumeClaim, Min: corev1.ResourceList{"storage": resource.MustParse("1Gi")}},
	}}}
	if _, err := c.client.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"-n", ns, "describe", "quota", "compute"},
		{"-n", ns, "describe", "limits", "limits"},
		{"describe", "namespace", ns},
	} {
		if got, want := k.ok(t, args...), kc.ok(t, args...); got != want {
			t.Errorf("ctl %q printed\n%s\nkubectl printed\n%s", args, got, want)
		}
	}

	out := k.ok(t, "-n", ns, "get", "quota")
	tb := parseTable(out)
	if want := []string{"NAME", "REQUEST", "LIMIT", "AGE"}; !slices.Equal(tb.header, want) {
		t.Fatalf("ctl get quota header %q, want %q\n%s", tb.header, want, out)
	}
	if r := tb.row("NAME", "compute"); r == nil || r["REQUEST"] != "pods: 1/4, requests.cpu: 250m/2" || r["LIMIT"] != "limits.memory: 0/2Gi" {
		t.Errorf("compute row %v\n%s", r, out)
	}
}
