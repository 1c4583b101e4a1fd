package integration

import (
	"encoding/json"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// countQuota stands in for the resource quota controller, which this
// test does not run: it sets status.hard and the usage it would count.
func countQuota(t *testing.T, c *cluster, ns, name string, used corev1.ResourceList) *corev1.ResourceQuota {
	t.Helper()
	q, err := c.client.CoreV1().ResourceQuotas(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: used}
	q, err = c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx(t), q, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// podNamespace makes a namespace pods can be made in: with its default
// ServiceAccount, which the ServiceAccount admission looks up.
func podNamespace(t *testing.T, c *cluster, name string) {
	t.Helper()
	createNamespace(t, c, name)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := c.client.CoreV1().ServiceAccounts(name).Create(ctx(t), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func podQuota(ns string, pods string) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: ns},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(pods)}},
	}
}

func TestResourceQuotaAdmission(t *testing.T) {
	c := start(t)
	podNamespace(t, c, "quota")
	quotas := c.client.CoreV1().ResourceQuotas("quota")
	created, err := quotas.Create(ctx(t), podQuota("quota", "1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Status.Hard) != 0 {
		t.Fatalf("a new quota has status %v; status belongs to /status", created.Status)
	}
	countQuota(t, c, "quota", "pods", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")})

	pods := c.client.CoreV1().Pods("quota")
	// An invalid pod is refused by validation before quota charges it.
	bad := pod("invalid")
	bad.Spec.Containers[0].Image = ""
	if _, err := pods.Create(ctx(t), bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("invalid pod: %v, want 422", err)
	}
	// A dry run under quota charges nothing.
	if _, err := pods.Create(ctx(t), pod("dry-ok"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run pod under quota: %v", err)
	}
	if _, err := pods.Create(ctx(t), pod("first"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q, err := quotas.Get(ctx(t), "pods", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if used := q.Status.Used[corev1.ResourcePods]; used.Value() != 1 {
		t.Fatalf("used pods = %s after one pod, want 1", used.String())
	}

	_, err = pods.Create(ctx(t), pod("second"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("second pod: error %v, want 403 Forbidden", err)
	}
	want := `pods "second" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1`
	if err.Error() != want {
		t.Fatalf("second pod: %q, want %q", err.Error(), want)
	}
	// A dry run is judged the same.
	if _, err := pods.Create(ctx(t), pod("dry"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
		t.Fatalf("dry-run pod over quota: error %v, want 403", err)
	}

	// `kubectl get quota` shows used/hard.
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api/v1/namespaces/quota/resourcequotas", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}})
	var table metav1.Table
	if err := json.Unmarshal(resp.body, &table); err != nil || len(table.Rows) != 1 {
		t.Fatalf("table: %v %s", err, resp.body)
	}
	if cells := table.Rows[0].Cells; cells[0] != "pods" || cells[1] != "pods: 1/1" || table.ColumnDefinitions[1].Name != "Request" {
		t.Fatalf("row %v of %v", cells, table.ColumnDefinitions)
	}

	// A quota not yet counted for a resource refuses what would use it.
	extra := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "configmaps"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/configmaps": resource.MustParse("5")}},
	}
	if _, err := quotas.Create(ctx(t), extra, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q, err = quotas.Get(ctx(t), "configmaps", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Status.Hard = q.Spec.Hard
	if _, err := quotas.UpdateStatus(ctx(t), q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}
	eventually(t, 10e9, "the configmaps quota to apply", func() (bool, error) {
		_, err := c.client.CoreV1().ConfigMaps("quota").Create(ctx(t), cm, metav1.CreateOptions{})
		return apierrors.IsForbidden(err) && contains(err.Error(), "status unknown for quota: configmaps, resources: count/configmaps"), err
	})
}

func TestLimitRangerAdmission(t *testing.T) {
	c := start(t)
	podNamespace(t, c, "limits")
	lr := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
		}}},
	}
	created, err := c.client.CoreV1().LimitRanges("limits").Create(ctx(t), lr, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// core/v1's defaults: the default limit is the max.
	if def := created.Spec.Limits[0].Default[corev1.ResourceCPU]; def.String() != "1" {
		t.Fatalf("default limit %q, want 1", def.String())
	}

	pods := c.client.CoreV1().Pods("limits")
	var got *corev1.Pod
	eventually(t, 10e9, "the LimitRange's defaults on a new pod", func() (bool, error) {
		p, err := pods.Create(ctx(t), pod("plain"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		got = p
		return p.Annotations["kubernetes.io/limit-ranger"] != "", nil
	})
	res := got.Spec.Containers[0].Resources
	if req, lim := res.Requests[corev1.ResourceCPU], res.Limits[corev1.ResourceCPU]; req.String() != "100m" || lim.String() != "1" {
		t.Fatalf("resources %v, want request 100m and limit 1", res)
	}
	if a := got.Annotations["kubernetes.io/limit-ranger"]; a != "LimitRanger plugin set: cpu request for container c; cpu limit for container c" {
		t.Fatalf("annotation %q", a)
	}

	big := pod("big")
	big.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	_, err = pods.Create(ctx(t), big, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2` {
		t.Fatalf("a pod over the max: %v", err)
	}
}

// TestQuotaPluginsCanBeDisabled: --disable-admission-plugins turns both
// off by their Kubernetes names.
func TestQuotaPluginsCanBeDisabled(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) {
		cfg.DisableAdmissionPlugins = []string{server.AdmissionResourceQuota, server.AdmissionLimitRanger}
	}))
	podNamespace(t, c, "free")
	if _, err := c.client.CoreV1().ResourceQuotas("free").Create(ctx(t), podQuota("free", "0"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	countQuota(t, c, "free", "pods", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")})
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "l"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}}}}
	if _, err := c.client.CoreV1().LimitRanges("free").Create(ctx(t), lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := c.client.CoreV1().Pods("free").Create(ctx(t), pod("p"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("with ResourceQuota off a pod over quota is admitted: %v", err)
	}
	if len(p.Spec.Containers[0].Resources.Requests) != 0 {
		t.Fatalf("with LimitRanger off no defaults are set: %v", p.Spec.Containers[0].Resources)
	}
}
