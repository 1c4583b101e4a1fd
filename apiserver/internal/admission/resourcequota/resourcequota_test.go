package resourcequota

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"

	"coracle.dev/apiserver/internal/kinds/core"
)

// fakeQuotas keeps quotas in memory with etcd's optimistic concurrency:
// a status write must name the stored resourceVersion.
type fakeQuotas struct {
	mu     sync.Mutex
	rev    int
	quotas map[string]*corev1.ResourceQuota
	// beforeWrite, when set, runs before each status write: to change a
	// quota under the plugin, as the controller may.
	beforeWrite func(f *fakeQuotas, name string)
	writes      int
}

func newFake(quotas ...*corev1.ResourceQuota) *fakeQuotas {
	f := &fakeQuotas{quotas: map[string]*corev1.ResourceQuota{}}
	for _, q := range quotas {
		f.put(q)
	}
	return f
}

// put stores q at a new revision; the caller holds no lock.
func (f *fakeQuotas) put(q *corev1.ResourceQuota) *corev1.ResourceQuota {
	f.rev++
	q = q.DeepCopy()
	q.ResourceVersion = strconv.Itoa(f.rev)
	if q.UID == "" {
		q.UID = types.UID("uid-" + q.Name)
	}
	f.quotas[q.Name] = q
	return q.DeepCopy()
}

func (f *fakeQuotas) List(_ context.Context, ns string) ([]*corev1.ResourceQuota, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*corev1.ResourceQuota
	for _, q := range f.quotas {
		if q.Namespace == ns {
			out = append(out, q.DeepCopy())
		}
	}
	return out, nil
}

func (f *fakeQuotas) Get(_ context.Context, _, name string) (*corev1.ResourceQuota, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.quotas[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "resourcequotas"}, name)
	}
	return q.DeepCopy(), nil
}

func (f *fakeQuotas) UpdateStatus(_ context.Context, q *corev1.ResourceQuota) (*corev1.ResourceQuota, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.beforeWrite != nil {
		f.beforeWrite(f, q.Name)
	}
	cur, ok := f.quotas[q.Name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "resourcequotas"}, q.Name)
	}
	if cur.ResourceVersion != q.ResourceVersion {
		return nil, apierrors.NewConflict(schema.GroupResource{Resource: "resourcequotas"}, q.Name, errors.New("modified"))
	}
	f.writes++
	next := cur.DeepCopy()
	next.Status = q.Status
	return f.put(next), nil
}

func (f *fakeQuotas) used(t *testing.T, name string) corev1.ResourceList {
	t.Helper()
	q, err := f.Get(context.Background(), "ns", name)
	if err != nil {
		t.Fatal(err)
	}
	return q.Status.Used
}

func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

// rq is a quota as the controller leaves it: status.hard set, usage
// counted.
func rq(name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func pod(name string, requests, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause",
			Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}}},
	}
}

func sameList(t *testing.T, got, want corev1.ResourceList) {
	t.Helper()
	if !quotav1.Equals(got, want) {
		t.Fatalf("used = %v, want %v", got, want)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPodCreate(t *testing.T) {
	tests := []struct {
		name     string
		quotas   []*corev1.ResourceQuota
		pod      *corev1.Pod
		wantErr  string
		wantUsed map[string]corev1.ResourceList
	}{
		{name: "no quota: nothing to charge", pod: pod("p", nil, nil)},
		{name: "a pod that fits is charged",
			quotas:   []*corev1.ResourceQuota{rq("q", list("pods", "2", "requests.cpu", "1"), list("pods", "1", "requests.cpu", "200m"))},
			pod:      pod("p", list("cpu", "300m"), nil),
			wantUsed: map[string]corev1.ResourceList{"q": list("pods", "2", "requests.cpu", "500m")}},
		{name: "a pod over the count is refused",
			quotas:  []*corev1.ResourceQuota{rq("q", list("pods", "1"), list("pods", "1"))},
			pod:     pod("p2", nil, nil),
			wantErr: `pods "p2" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`},
		{name: "a pod over the cpu is refused, naming only what it exceeds",
			quotas:  []*corev1.ResourceQuota{rq("compute", list("pods", "5", "requests.cpu", "1"), list("pods", "1", "requests.cpu", "800m"))},
			pod:     pod("big", list("cpu", "300m"), nil),
			wantErr: `pods "big" is forbidden: exceeded quota: compute, requested: requests.cpu=300m, used: requests.cpu=800m, limited: requests.cpu=1`},
		{name: "a quota limiting cpu needs every container to ask for it",
			quotas:  []*corev1.ResourceQuota{rq("compute", list("limits.cpu", "2", "requests.memory", "1Gi"), list("limits.cpu", "0", "requests.memory", "0"))},
			pod:     pod("p", nil, nil),
			wantErr: `pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: c; requests.memory for: c`},
		{name: "a limit set is also the request",
			quotas:   []*corev1.ResourceQuota{rq("compute", list("limits.cpu", "2", "requests.cpu", "2"), list("limits.cpu", "0", "requests.cpu", "0"))},
			pod:      pod("p", nil, list("cpu", "1")),
			wantUsed: map[string]corev1.ResourceList{"compute": list("limits.cpu", "1", "requests.cpu", "1")}},
		{name: "a quota whose usage is not counted yet blocks",
			quotas:  []*corev1.ResourceQuota{rq("q", list("pods", "1"), nil)},
			pod:     pod("p", nil, nil),
			wantErr: `pods "p" is forbidden: status unknown for quota: q, resources: pods`},
		{name: "a quota without status yet is not applied",
			quotas: []*corev1.ResourceQuota{{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "0")}}},
			pod:    pod("p", nil, nil)},
		{name: "every matching quota is charged; the others are not",
			quotas: []*corev1.ResourceQuota{
				rq("pods", list("pods", "3"), list("pods", "0")),
				func() *corev1.ResourceQuota {
					q := rq("terminating", list("pods", "3"), list("pods", "0"))
					q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}
					return q
				}(),
				rq("services", list("services", "1"), list("services", "0")),
			},
			pod:      pod("p", nil, nil),
			wantUsed: map[string]corev1.ResourceList{"pods": list("pods", "1"), "terminating": list("pods", "0"), "services": list("services", "0")}},
		{name: "a pod refused by one quota is charged to none",
			quotas: []*corev1.ResourceQuota{
				rq("a", list("pods", "3"), list("pods", "0")),
				rq("b", list("pods", "1"), list("pods", "1")),
			},
			pod:      pod("p", nil, nil),
			wantErr:  `pods "p" is forbidden: exceeded quota: b, requested: pods=1, used: pods=1, limited: pods=1`,
			wantUsed: map[string]corev1.ResourceList{"a": list("pods", "0"), "b": list("pods", "1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(tt.quotas...)
			a := New(Options{Quotas: f})
			err := create(a.For(core.Pods()), tt.pod)
			if got := errText(err); got != tt.wantErr {
				t.Fatalf("error = %q, want %q", got, tt.wantErr)
			}
			if err != nil && !apierrors.IsForbidden(err) {
				t.Fatalf("error %v is not a 403", err)
			}
			for name, want := range tt.wantUsed {
				sameList(t, f.used(t, name), want)
			}
		})
	}
}

// TestChargesAddUp: the second request sees the first one's charge even
// when the cache has not caught up with the write.
func TestChargesAddUp(t *testing.T) {
	f := newFake(rq("q", list("pods", "2"), list("pods", "0")))
	stale := &staleList{fakeQuotas: f}
	stale.snapshot()
	a := New(Options{Quotas: stale})
	pods := a.For(core.Pods())
	for _, name := range []string{"p1", "p2"} {
		if err := create(pods, pod(name, nil, nil)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	err := create(pods, pod("p3", nil, nil))
	if want := `pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`; errText(err) != want {
		t.Fatalf("error = %q, want %q", errText(err), want)
	}
	if f.writes != 2 {
		t.Fatalf("%d writes, want 2 (no conflicts)", f.writes)
	}
}

// staleList lists the quotas as they were at the last snapshot, as a
// watch cache lagging behind the plugin's own writes.
type staleList struct {
	*fakeQuotas
	old []*corev1.ResourceQuota
}

func (s *staleList) snapshot() { s.old, _ = s.fakeQuotas.List(context.Background(), "ns") }

func (s *staleList) List(context.Context, string) ([]*corev1.ResourceQuota, error) {
	out := make([]*corev1.ResourceQuota, len(s.old))
	for i, q := range s.old {
		out[i] = q.DeepCopy()
	}
	return out, nil
}

// TestConflictIsRetried: the controller recounts between the plugin's
// read and its write; the plugin reads the quota again and charges the
// new count.
func TestConflictIsRetried(t *testing.T) {
	f := newFake(rq("q", list("pods", "5"), list("pods", "3")))
	recounted := false
	f.beforeWrite = func(f *fakeQuotas, name string) {
		if recounted {
			return
		}
		recounted = true
		q := f.quotas[name].DeepCopy()
		q.Status.Used = list("pods", "1")
		f.put(q)
	}
	a := New(Options{Quotas: f})
	if err := create(a.For(core.Pods()), pod("p", nil, nil)); err != nil {
		t.Fatal(err)
	}
	sameList(t, f.used(t, "q"), list("pods", "2"))
}

func TestConflictsRunOut(t *testing.T) {
	f := newFake(rq("q", list("pods", "5"), list("pods", "0")))
	f.beforeWrite = func(f *fakeQuotas, name string) { f.put(f.quotas[name]) }
	a := New(Options{Quotas: f})
	err := create(a.For(core.Pods()), pod("p", nil, nil))
	if !apierrors.IsConflict(err) {
		t.Fatalf("error = %v, want a conflict", err)
	}
}

func TestDryRunIsNotCharged(t *testing.T) {
	f := newFake(rq("q", list("pods", "1"), list("pods", "0")))
	a := New(Options{Quotas: f, DryRun: func(context.Context) bool { return true }})
	pods := a.For(core.Pods())
	if err := create(pods, pod("p", nil, nil)); err != nil {
		t.Fatal(err)
	}
	sameList(t, f.used(t, "q"), list("pods", "0"))
	full := newFake(rq("q", list("pods", "1"), list("pods", "1")))
	a = New(Options{Quotas: full, DryRun: func(context.Context) bool { return true }})
	if err := create(a.For(core.Pods()), pod("p", nil, nil)); !apierrors.IsForbidden(err) {
		t.Fatalf("a dry run over quota: error = %v, want 403", err)
	}
}

func TestObjectCounts(t *testing.T) {
	f := newFake(rq("q", list("configmaps", "1", "count/configmaps", "1", "count/endpoints", "1"), list("configmaps", "0", "count/configmaps", "0", "count/endpoints", "0")))
	a := New(Options{Quotas: f})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}
	if err := create(a.For(core.ConfigMaps()), cm); err != nil {
		t.Fatal(err)
	}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}
	if err := create(a.For(core.Endpoints()), ep); err != nil {
		t.Fatal(err)
	}
	sameList(t, f.used(t, "q"), list("configmaps", "1", "count/configmaps", "1", "count/endpoints", "1"))
	// An update of a counted object is no new object.
	if err := a.For(core.ConfigMaps()).AdmitUpdate(context.Background(), "", cm, cm.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	err := create(a.For(core.ConfigMaps()), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}})
	want := `configmaps "b" is forbidden: exceeded quota: q, requested: configmaps=1,count/configmaps=1, used: configmaps=1,count/configmaps=1, limited: configmaps=1,count/configmaps=1`
	if errText(err) != want {
		t.Fatalf("error = %q, want %q", errText(err), want)
	}
	if a.For(core.Events()) != nil || a.For(core.Namespaces()) != nil {
		t.Fatal("events and cluster-scoped kinds are never counted")
	}
}

func TestServiceTypeChangeIsCharged(t *testing.T) {
	f := newFake(rq("q", list("services.nodeports", "1"), list("services.nodeports", "0")))
	a := New(Options{Quotas: f})
	old := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", ResourceVersion: "7"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}, {Port: 81}}}}
	svc := old.DeepCopy()
	svc.Spec.Type = corev1.ServiceTypeNodePort
	err := a.For(core.Services()).AdmitUpdate(context.Background(), "", svc, old)
	want := `services "s" is forbidden: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1`
	if errText(err) != want {
		t.Fatalf("error = %q, want %q", errText(err), want)
	}
}

// create admits obj as the store does: after the kind's defaults, in the
// validating phase.
func create(k *Admitter, obj runtime.Object) error {
	k.desc.Strategy.Default(obj)
	if err := k.AdmitCreate(context.Background(), obj); err != nil {
		return err
	}
	return k.ValidateCreate(context.Background(), obj)
}
