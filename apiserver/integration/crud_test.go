package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
			},
		},
	}
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
	}
}

func TestCreateSetsSystemFields(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	before := time.Now().Add(-time.Second)
	got, err := cms.Create(ctx(t), configMap("a", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID == "" || got.ResourceVersion == "" || got.CreationTimestamp.Time.Before(before.Truncate(time.Second)) {
		t.Fatalf("system fields not set: uid=%q rv=%q created=%v", got.UID, got.ResourceVersion, got.CreationTimestamp)
	}
	if got.Namespace != "default" {
		t.Fatalf("namespace %q", got.Namespace)
	}
	read, err := cms.Get(ctx(t), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if read.UID != got.UID || read.ResourceVersion != got.ResourceVersion || read.Data["k"] != "v" {
		t.Fatalf("read back %+v", read)
	}
}

func TestGenerateName(t *testing.T) {
	c := start(t)
	names := map[string]bool{}
	for i := 0; i < 5; i++ {
		got, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Name, "gen-") || len(got.Name) != len("gen-")+5 || names[got.Name] {
			t.Fatalf("generated name %q (seen: %v)", got.Name, names)
		}
		names[got.Name] = true
	}
}

func TestAlreadyExistsAndNotFound(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx(t), configMap("dup", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := cms.Create(ctx(t), configMap("dup", nil), metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) || err.Error() != `configmaps "dup" already exists` {
		t.Fatalf("want AlreadyExists, got %v", err)
	}
	_, err = cms.Get(ctx(t), "missing", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `configmaps "missing" not found` {
		t.Fatalf("want NotFound, got %v", err)
	}
	_, err = c.client.AppsV1().Deployments("default").Get(ctx(t), "missing", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `deployments.apps "missing" not found` {
		t.Fatalf("want NotFound naming the group, got %v", err)
	}
}

func TestUpdateConflictOnStaleResourceVersion(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	v1, err := cms.Create(ctx(t), configMap("cas", map[string]string{"n": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v2 := v1.DeepCopy()
	v2.Data["n"] = "2"
	v2, err = cms.Update(ctx(t), v2, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v2.ResourceVersion == v1.ResourceVersion {
		t.Fatal("resourceVersion did not move")
	}
	stale := v1.DeepCopy()
	stale.Data["n"] = "3"
	_, err = cms.Update(ctx(t), stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "the object has been modified") {
		t.Fatalf("want Conflict, got %v", err)
	}
	got, _ := cms.Get(ctx(t), "cas", metav1.GetOptions{})
	if got.Data["n"] != "2" {
		t.Fatalf("stale update changed the object: %v", got.Data)
	}
	// An update without resourceVersion is unconditional.
	uncond := configMap("cas", map[string]string{"n": "4"})
	if _, err := cms.Update(ctx(t), uncond, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("unconditional update: %v", err)
	}
}

func TestNoOpUpdateKeepsResourceVersion(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	v1, err := cms.Create(ctx(t), configMap("same", map[string]string{"a": "b"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := cms.Update(ctx(t), v1, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v2.ResourceVersion != v1.ResourceVersion {
		t.Fatalf("a no-op update wrote: %s -> %s", v1.ResourceVersion, v2.ResourceVersion)
	}
}

func TestGenerationBumpsOnSpecChangesOnly(t *testing.T) {
	c := start(t)
	deps := c.client.AppsV1().Deployments("default")
	d, err := deps.Create(ctx(t), deployment("gen", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("generation on create %d", d.Generation)
	}
	d.Labels = map[string]string{"x": "y"}
	if d, err = deps.Update(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("label change bumped generation to %d", d.Generation)
	}
	d.Spec.Replicas = ptr.To[int32](3)
	if d, err = deps.Update(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if d.Generation != 2 {
		t.Fatalf("spec change: generation %d, want 2", d.Generation)
	}
	d.Status.ObservedGeneration = 2
	d.Status.Replicas = 3
	if d, err = deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if d.Generation != 2 || d.Status.Replicas != 3 {
		t.Fatalf("status write: generation %d, status %+v", d.Generation, d.Status)
	}
}

func TestStatusIsOwnedByTheStatusSubresource(t *testing.T) {
	c := start(t)
	deps := c.client.AppsV1().Deployments("default")
	d, err := deps.Create(ctx(t), deployment("st", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Status in a main-resource update is ignored.
	d.Status.Replicas = 7
	if d, err = deps.Update(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if d.Status.Replicas != 0 {
		t.Fatalf("main update wrote status: %+v", d.Status)
	}
	// Spec in a status update is ignored.
	d.Status.Replicas = 1
	d.Spec.Replicas = ptr.To[int32](9)
	if d, err = deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 || d.Status.Replicas != 1 {
		t.Fatalf("status update: spec %d status %d", *d.Spec.Replicas, d.Status.Replicas)
	}
}

func TestInvalidObjectNamesEveryField(t *testing.T) {
	c := start(t)
	bad := configMap("Bad_Name", nil)
	bad.Labels = map[string]string{"bad key!": "v"}
	_, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want Invalid (422), got %v", err)
	}
	st := err.(apierrors.APIStatus).Status()
	if st.Code != 422 || st.Details == nil || st.Details.Kind != "ConfigMap" {
		t.Fatalf("status %+v", st)
	}
	fields := map[string]bool{}
	for _, cause := range st.Details.Causes {
		fields[cause.Field] = true
	}
	for _, f := range []string{"metadata.name", "metadata.labels"} {
		if !fields[f] {
			t.Errorf("no cause for %s in %+v", f, st.Details.Causes)
		}
	}
	if _, err := c.client.CoreV1().ConfigMaps("default").Get(ctx(t), "Bad_Name", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("invalid object was stored: %v", err)
	}
}

func TestFinalizersHoldDeletion(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	cm := configMap("fin", nil)
	cm.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx(t), "fin", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("object with a finalizer was deleted at once: %v", err)
	}
	if got.DeletionTimestamp == nil {
		t.Fatal("no deletionTimestamp")
	}
	// New finalizers may not be added while deleting... but removing the
	// last one deletes the object.
	got.Finalizers = nil
	if _, err := cms.Update(ctx(t), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx(t), "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("object stays after its last finalizer went: %v", err)
	}
}

func TestPropagationPolicyAddsFinalizer(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx(t), configMap("orph", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "orph", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx(t), "orph", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || len(got.Finalizers) != 1 || got.Finalizers[0] != "orphan" {
		t.Fatalf("want the orphan finalizer and a deletionTimestamp, got %+v err %v", got, err)
	}
}

func TestGracefulDeletionOfBoundPods(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	// Unbound: deleted at once.
	if _, err := pods.Create(ctx(t), pod("unbound"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx(t), "unbound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx(t), "unbound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unbound pod not deleted at once: %v", err)
	}
	// Bound: deletionTimestamp and grace period; the kubelet's delete with
	// grace 0 finishes it.
	p := pod("bound")
	p.Spec.NodeName = "node-1"
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	if _, err := pods.Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx(t), "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx(t), "bound", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("bound pod deleted at once: %v", err)
	}
	if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("want deletionTimestamp and grace 30, got %v %v", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
	}
	if d := time.Until(got.DeletionTimestamp.Time); d < 25*time.Second || d > 31*time.Second {
		t.Fatalf("deletionTimestamp %v is not ~30s ahead", got.DeletionTimestamp)
	}
	// The graceful delete is a new generation (created at 1), as upstream;
	// a shorter grace period later is not.
	if got.Generation != 2 {
		t.Fatalf("generation %d after the graceful delete, want 2", got.Generation)
	}
	// A shorter grace period moves the deadline closer.
	if err := pods.Delete(ctx(t), "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](5)}); err != nil {
		t.Fatal(err)
	}
	got, _ = pods.Get(ctx(t), "bound", metav1.GetOptions{})
	if *got.DeletionGracePeriodSeconds != 5 || got.Generation != 2 {
		t.Fatalf("grace %d generation %d, want 5 and 2", *got.DeletionGracePeriodSeconds, got.Generation)
	}
	if err := pods.Delete(ctx(t), "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx(t), "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("grace 0 did not finish the deletion: %v", err)
	}
}

func TestDeletePreconditions(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx(t), configMap("pre", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = cms.Delete(ctx(t), "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(cm.UID + "x")}})
	if !apierrors.IsConflict(err) {
		t.Fatalf("want Conflict for a wrong uid, got %v", err)
	}
	if err := cms.Delete(ctx(t), "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion}}); err != nil {
		t.Fatal(err)
	}
}

func TestOwnerReferencesKept(t *testing.T) {
	c := start(t)
	cm := configMap("owned", nil)
	cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "1234", Controller: ptr.To(true)}}
	got, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != "1234" {
		t.Fatalf("ownerReferences %+v", got.OwnerReferences)
	}
}

func TestDeleteCollection(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	for _, n := range []string{"a", "b", "c"} {
		cm := configMap(n, nil)
		cm.Labels = map[string]string{"group": map[string]string{"a": "x", "b": "x", "c": "y"}[n]}
		if _, err := cms.Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cms.DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "group=x"}); err != nil {
		t.Fatal(err)
	}
	list, err := cms.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	if strings.Join(names, ",") != "c" {
		t.Fatalf("left %v, want [c]", names)
	}
}

func TestDryRunStoresNothing(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx(t), configMap("dry", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx(t), "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create stored the object: %v", err)
	}
	r := c.do(t, http.MethodPost, "/api/v1/namespaces/default/configmaps?dryRun=Maybe", "application/json", []byte(`{"metadata":{"name":"x"}}`))
	if r.code != http.StatusBadRequest {
		t.Fatalf("bad dryRun value: %d %s", r.code, r.body)
	}
}

func TestPodPriorityFromClass(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	p := pod("critical")
	p.Spec.PriorityClassName = "system-cluster-critical"
	got, err := pods.Create(ctx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Priority == nil || *got.Spec.Priority != 2000000000 {
		t.Fatalf("priority %v", got.Spec.Priority)
	}
	p = pod("unknown-class")
	p.Spec.PriorityClassName = "nope"
	if _, err := pods.Create(ctx(t), p, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("want Forbidden for a missing class, got %v", err)
	}
	plain, err := pods.Create(ctx(t), pod("plain"), metav1.CreateOptions{})
	if err != nil || plain.Spec.Priority == nil || *plain.Spec.Priority != 0 {
		t.Fatalf("plain pod priority %v err %v", plain.Spec.Priority, err)
	}
}

// A pod gets the not-ready and unreachable NoExecute tolerations at
// creation, and keeps them through an update that replaces its
// tolerations with new ones (which may only be added): the update is a
// new generation, as the conformance test of pod generations expects.
func TestDefaultTolerationsOnPodUpdate(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	created, err := pods.Create(ctx(t), pod("tolerant"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Spec.Tolerations) != 2 || created.Generation != 1 {
		t.Fatalf("created with tolerations %+v generation %d", created.Spec.Tolerations, created.Generation)
	}
	created.Spec.Tolerations = []corev1.Toleration{{Key: "foo", Operator: corev1.TolerationOpEqual, Value: "bar", Effect: corev1.TaintEffectNoSchedule}}
	updated, err := pods.Update(ctx(t), created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("replacing the tolerations: %v", err)
	}
	keys := map[string]bool{}
	for _, tol := range updated.Spec.Tolerations {
		keys[tol.Key] = true
	}
	if len(updated.Spec.Tolerations) != 3 || !keys["foo"] || !keys[corev1.TaintNodeNotReady] || !keys[corev1.TaintNodeUnreachable] || updated.Generation != 2 {
		t.Errorf("after the update: tolerations %+v generation %d", updated.Spec.Tolerations, updated.Generation)
	}
}
