package integration

import (
	"encoding/json"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// readyPod is a pod of app on a node, running and ready, as a kubelet
// would have reported it.
func readyPod(t *testing.T, c *cluster, ns, name, app string) *corev1.Pod {
	t.Helper()
	p := pod(name)
	p.Labels = map[string]string{"app": app}
	p.Spec.NodeName = "node-a"
	created, err := c.client.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodRunning
	created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	running, err := c.client.CoreV1().Pods(ns).UpdateStatus(ctx(t), created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return running
}

func newBudget(ns, name, app string, minAvailable int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(minAvailable)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
}

// setBudgetStatus writes the status the disruption controller would:
// the counts, computed for the budget's current generation.
func setBudgetStatus(t *testing.T, c *cluster, ns, name string, allowed, current, desired int32) *policyv1.PodDisruptionBudget {
	t.Helper()
	pdb, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Status.ObservedGeneration = pdb.Generation
	pdb.Status.DisruptionsAllowed, pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy, pdb.Status.ExpectedPods = allowed, current, desired, current
	pdb, err = c.client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx(t), pdb, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pdb
}

func evict(t *testing.T, c *cluster, ns, name string, opts *metav1.DeleteOptions) error {
	t.Helper()
	return c.client.PolicyV1().Evictions(ns).Evict(ctx(t), &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, DeleteOptions: opts,
	})
}

// wantBudgetCause fails t unless err is a 429 whose DisruptionBudget
// cause says cause.
func wantBudgetCause(t *testing.T, err error, cause string) {
	t.Helper()
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction: %v, want 429 TooManyRequests", err)
	}
	var st apierrors.APIStatus
	if !errorsAs(err, &st) || st.Status().Details == nil || len(st.Status().Details.Causes) != 1 {
		t.Fatalf("eviction refused without a cause: %v", err)
	}
	got := st.Status().Details.Causes[0]
	if got.Type != policyv1.DisruptionBudgetCause || got.Message != cause {
		t.Fatalf("cause %+v, want %s %q", got, policyv1.DisruptionBudgetCause, cause)
	}
	if st.Status().Message != "Cannot evict pod as it would violate the pod's disruption budget." {
		t.Errorf("message %q", st.Status().Message)
	}
}

// TestEvictionHonoursPodDisruptionBudget: an eviction the budget forbids
// is a 429 with the budget's cause and leaves the pod; once the budget
// allows one disruption, the eviction charges it (status.disruptedPods,
// disruptionsAllowed) and the pod's graceful deletion begins, marked with
// a DisruptionTarget condition.
func TestEvictionHonoursPodDisruptionBudget(t *testing.T) {
	c := start(t)
	ns := "pdb-evict"
	createNamespace(t, c, ns)
	p := readyPod(t, c, ns, "web-1", "web")
	pdbs := c.client.PolicyV1().PodDisruptionBudgets(ns)
	created, err := pdbs.Create(ctx(t), newBudget(ns, "web", "web", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 {
		t.Errorf("generation %d, want 1", created.Generation)
	}

	// Not yet computed by the controller: still being processed.
	wantBudgetCause(t, evict(t, c, ns, p.Name, nil), "The disruption budget web is still being processed by the server.")

	setBudgetStatus(t, c, ns, "web", 0, 1, 1)
	wantBudgetCause(t, evict(t, c, ns, p.Name, nil), "The disruption budget web needs 1 healthy pods and has 1 currently")
	if got, err := c.client.CoreV1().Pods(ns).Get(ctx(t), p.Name, metav1.GetOptions{}); err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("a refused eviction touched the pod: %v %v", err, got.DeletionTimestamp)
	}

	// Relaxing the spec bumps the generation: the old status no longer
	// counts until recomputed.
	pdb, err := pdbs.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Spec.MinAvailable = ptr.To(intstr.FromInt32(0))
	if pdb, err = pdbs.Update(ctx(t), pdb, metav1.UpdateOptions{}); err != nil || pdb.Generation != 2 {
		t.Fatalf("update: generation %d, %v", pdb.Generation, err)
	}
	wantBudgetCause(t, evict(t, c, ns, p.Name, nil), "The disruption budget web is still being processed by the server.")
	setBudgetStatus(t, c, ns, "web", 1, 1, 0)

	// A dry run is allowed but changes nothing.
	if err := evict(t, c, ns, p.Name, &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run eviction: %v", err)
	}
	if pdb, _ = pdbs.Get(ctx(t), "web", metav1.GetOptions{}); pdb.Status.DisruptionsAllowed != 1 || len(pdb.Status.DisruptedPods) != 0 {
		t.Fatalf("a dry run charged the budget: %+v", pdb.Status)
	}

	if err := evict(t, c, ns, p.Name, nil); err != nil {
		t.Fatalf("eviction the budget allows: %v", err)
	}
	pdb, err = pdbs.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pdb.Status.DisruptedPods[p.Name]; !ok || pdb.Status.DisruptionsAllowed != 0 {
		t.Errorf("budget status after the eviction: %+v", pdb.Status)
	}
	if cond := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition); cond == nil || cond.Reason != policyv1.InsufficientPodsReason {
		t.Errorf("DisruptionAllowed condition %+v", cond)
	}
	evicted, err := c.client.CoreV1().Pods(ns).Get(ctx(t), p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if evicted.DeletionTimestamp == nil {
		t.Errorf("the evicted pod's deletion has not begun")
	}
	marked := false
	for _, cond := range evicted.Status.Conditions {
		marked = marked || (cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == "EvictionByEvictionAPI")
	}
	if !marked {
		t.Errorf("the evicted pod has no DisruptionTarget condition: %+v", evicted.Status.Conditions)
	}

	// Evicting a pod already being deleted needs no budget.
	if err := evict(t, c, ns, p.Name, nil); err != nil {
		t.Errorf("evicting a terminating pod: %v", err)
	}
}

// TestEvictionRefusals: two budgets over one pod are a 500, and a body
// that names another pod a 400.
func TestEvictionRefusals(t *testing.T) {
	c := start(t)
	ns := "pdb-refuse"
	createNamespace(t, c, ns)
	p := readyPod(t, c, ns, "db-1", "db")
	for _, name := range []string{"db", "db-too"} {
		if _, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx(t), newBudget(ns, name, "db", 0), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := evict(t, c, ns, p.Name, nil)
	var st apierrors.APIStatus
	if !errorsAs(err, &st) || st.Status().Code != http.StatusInternalServerError ||
		st.Status().Message != "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support." {
		t.Fatalf("eviction under two budgets: %v", err)
	}

	body := mustJSON(t, &policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"}, ObjectMeta: metav1.ObjectMeta{Name: "other"}})
	r := c.do(t, http.MethodPost, "/api/v1/namespaces/"+ns+"/pods/"+p.Name+"/eviction", "application/json", body)
	if r.code != http.StatusBadRequest || r.status(t).Message != "name in URL does not match name in Eviction object" {
		t.Fatalf("eviction naming another pod: %d %s", r.code, r.body)
	}
}

// TestPodDisruptionBudgetAPI: the status subresource takes updates and
// merge patches of the status only, as the conformance tests do, and
// `kubectl get pdb` gets Kubernetes' columns.
func TestPodDisruptionBudgetAPI(t *testing.T) {
	c := start(t)
	ns := "pdb-api"
	createNamespace(t, c, ns)
	pdbs := c.client.PolicyV1().PodDisruptionBudgets(ns)
	if _, err := pdbs.Create(ctx(t), newBudget(ns, "web", "web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := newBudget(ns, "both", "web", 1)
	bad.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	if _, err := pdbs.Create(ctx(t), bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("minAvailable and maxUnavailable together: %v", err)
	}

	pdb, err := pdbs.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Status.DisruptedPods = map[string]metav1.Time{"web-1": metav1.Now()}
	pdb.Spec.MinAvailable = ptr.To(intstr.FromInt32(5)) // ignored by /status
	pdb, err = pdbs.UpdateStatus(ctx(t), pdb, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pdb.Status.DisruptedPods["web-1"]; !ok || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Generation != 1 {
		t.Fatalf("after the status update: spec %v generation %d status %+v", pdb.Spec.MinAvailable, pdb.Generation, pdb.Status)
	}
	patched, err := pdbs.Patch(ctx(t), "web", types.MergePatchType, []byte(`{"status":{"disruptedPods":null}}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if len(patched.Status.DisruptedPods) != 0 {
		t.Fatalf("after the status patch: %+v", patched.Status)
	}
	// A write of the object itself leaves the status alone.
	patched.Status.DisruptionsAllowed = 7
	patched.Spec.MinAvailable = ptr.To(intstr.FromString("50%"))
	updated, err := pdbs.Update(ctx(t), patched, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Status.DisruptionsAllowed != 0 || updated.Generation != 2 {
		t.Fatalf("after the spec update: generation %d status %+v", updated.Generation, updated.Status)
	}

	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis/policy/v1/namespaces/"+ns+"/poddisruptionbudgets", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}})
	var table metav1.Table
	if err := json.Unmarshal(resp.body, &table); err != nil || resp.code != http.StatusOK {
		t.Fatalf("table: %d %v %s", resp.code, err, resp.body)
	}
	var columns []string
	for _, col := range table.ColumnDefinitions {
		columns = append(columns, col.Name)
	}
	if len(table.Rows) != 1 || len(columns) != 5 || columns[1] != "Min Available" || table.Rows[0].Cells[1] != "50%" || table.Rows[0].Cells[2] != "N/A" {
		t.Fatalf("table columns %q rows %+v", columns, table.Rows)
	}

	if err := pdbs.DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if list, err := pdbs.List(ctx(t), metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Fatalf("after deletecollection: %v %v", list, err)
	}
}
