package eviction

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// fakeStore keeps pods and budgets in memory with resourceVersions, as
// the stores behind the Pods and Budgets interfaces do.
type fakeStore struct {
	rv      int
	pods    map[string]*corev1.Pod
	budgets map[string]*policyv1.PodDisruptionBudget
	// deleted are the pods deleted, as they were when deleted; dryDeletes
	// counts deletes made as dry runs.
	deleted    []*corev1.Pod
	dryDeletes int
	// beforeBudgetWrite, when set, runs before each budget status write:
	// another writer's change landing first.
	beforeBudgetWrite func(s *fakeStore)
	budgetWrites      int
	// beforePodWrite, when set, runs before each pod status write.
	beforePodWrite func(s *fakeStore)
}

func newStore(pods []*corev1.Pod, budgets ...*policyv1.PodDisruptionBudget) *fakeStore {
	s := &fakeStore{rv: 100, pods: map[string]*corev1.Pod{}, budgets: map[string]*policyv1.PodDisruptionBudget{}}
	for _, p := range pods {
		s.pods[p.Name] = p.DeepCopy()
	}
	for _, b := range budgets {
		s.budgets[b.Name] = b.DeepCopy()
	}
	return s
}

func (s *fakeStore) nextRV() string { s.rv++; return strconv.Itoa(s.rv) }

type fakePods struct{ s *fakeStore }

func (f fakePods) Get(_ context.Context, _, name string) (*corev1.Pod, error) {
	p, ok := f.s.pods[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}
	return p.DeepCopy(), nil
}

func (f fakePods) UpdateStatus(ctx context.Context, ns, name string, change func(*corev1.Pod) error) (*corev1.Pod, error) {
	if f.s.beforePodWrite != nil {
		f.s.beforePodWrite(f.s)
	}
	p, err := f.Get(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if err := change(p); err != nil {
		return nil, err
	}
	p.ResourceVersion = f.s.nextRV()
	f.s.pods[name] = p
	return p.DeepCopy(), nil
}

func (f fakePods) Delete(_ context.Context, _, name string, opts *metav1.DeleteOptions) error {
	p, ok := f.s.pods[name]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}
	if pre := opts.Preconditions; pre != nil && pre.ResourceVersion != nil && *pre.ResourceVersion != p.ResourceVersion {
		return apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, name, errors.New("resourceVersion precondition failed"))
	}
	if len(opts.DryRun) > 0 {
		f.s.dryDeletes++
		return nil
	}
	f.s.deleted = append(f.s.deleted, p)
	delete(f.s.pods, name)
	return nil
}

type fakeBudgets struct{ s *fakeStore }

func (f fakeBudgets) List(_ context.Context, ns string) ([]*policyv1.PodDisruptionBudget, error) {
	var out []*policyv1.PodDisruptionBudget
	for _, b := range f.s.budgets {
		if b.Namespace == ns {
			out = append(out, b.DeepCopy())
		}
	}
	return out, nil
}

func (f fakeBudgets) Get(_ context.Context, _, name string) (*policyv1.PodDisruptionBudget, error) {
	b, ok := f.s.budgets[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, name)
	}
	return b.DeepCopy(), nil
}

func (f fakeBudgets) UpdateStatus(_ context.Context, pdb *policyv1.PodDisruptionBudget) error {
	if f.s.beforeBudgetWrite != nil {
		f.s.beforeBudgetWrite(f.s)
	}
	cur := f.s.budgets[pdb.Name]
	if cur.ResourceVersion != pdb.ResourceVersion {
		return apierrors.NewConflict(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, pdb.Name, errors.New("the object has been modified"))
	}
	next := cur.DeepCopy()
	next.Status = pdb.Status
	next.ResourceVersion = f.s.nextRV()
	f.s.budgets[pdb.Name] = next
	f.s.budgetWrites++
	return nil
}

func evictor(s *fakeStore) *Evictor {
	return &Evictor{Pods: fakePods{s}, Budgets: fakeBudgets{s}, Now: func() time.Time { return t0 },
		Retry: wait.Backoff{Steps: 5, Duration: time.Millisecond, Factor: 1}}
}

func eviction(name string, opts *metav1.DeleteOptions) *policyv1.Eviction {
	return &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, DeleteOptions: opts}
}

// wasEvicted fails t unless pod name was deleted carrying the Eviction
// API's DisruptionTarget condition.
func wasEvicted(t *testing.T, s *fakeStore, name string) {
	t.Helper()
	for _, p := range s.deleted {
		if p.Name != name {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "EvictionByEvictionAPI" {
				return
			}
		}
		t.Fatalf("pod %s deleted without a DisruptionTarget condition: %+v", name, p.Status.Conditions)
	}
	t.Fatalf("pod %s not deleted", name)
}

func TestEvict(t *testing.T) {
	running := newPod("web-1", corev1.PodRunning, true)
	unready := newPod("web-1", corev1.PodRunning, false)
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		budgets []*policyv1.PodDisruptionBudget
		setup   func(s *fakeStore)
		opts    *metav1.DeleteOptions
		dryRun  []string
		// check inspects the store after a successful eviction; code and
		// cause are the refusal expected instead.
		check func(t *testing.T, s *fakeStore)
		code  int32
		cause string
	}{
		{name: "a pod no budget covers goes", pods: []*corev1.Pod{running},
			check: func(t *testing.T, s *fakeStore) { wasEvicted(t, s, "web-1") }},
		{name: "a budget with room is charged, then the pod goes", pods: []*corev1.Pod{running},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 1, 2, 1)},
			check: func(t *testing.T, s *fakeStore) {
				wasEvicted(t, s, "web-1")
				st := s.budgets["web"].Status
				if st.DisruptionsAllowed != 0 || !st.DisruptedPods["web-1"].Time.Equal(t0) {
					t.Errorf("budget status %+v", st)
				}
			}},
		{name: "a spent budget refuses with a 429", pods: []*corev1.Pod{running},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 1, 1)},
			code:    http.StatusTooManyRequests, cause: "The disruption budget web needs 1 healthy pods and has 1 currently"},
		{name: "two budgets are a 500", pods: []*corev1.Pod{running},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 1, 2, 1), newBudget("web-too", 1, 2, 1)},
			code:    http.StatusInternalServerError},
		{name: "a pending pod goes whatever its budget says", pods: []*corev1.Pod{newPod("web-1", corev1.PodPending, false)},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 1, 1)},
			check:   func(t *testing.T, s *fakeStore) { wasEvicted(t, s, "web-1") }},
		{name: "a pending pod that changes meanwhile is judged again", pods: []*corev1.Pod{newPod("web-1", corev1.PodPending, false)},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 1, 1)},
			setup: func(s *fakeStore) {
				// The pod starts and becomes ready just after it was read.
				s.beforePodWrite = func(s *fakeStore) {
					s.beforePodWrite = nil
					p := s.pods["web-1"]
					p.Status = running.Status
					p.ResourceVersion = s.nextRV()
				}
			},
			code: http.StatusTooManyRequests, cause: "The disruption budget web needs 1 healthy pods and has 1 currently"},
		{name: "a finished pod goes", pods: []*corev1.Pod{newPod("web-1", corev1.PodSucceeded, false)},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 1, 1)},
			check:   func(t *testing.T, s *fakeStore) { wasEvicted(t, s, "web-1") }},
		{name: "an unready pod of a healthy budget goes uncharged", pods: []*corev1.Pod{unready, newPod("web-2", corev1.PodRunning, true)},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 1, 1)},
			check: func(t *testing.T, s *fakeStore) {
				wasEvicted(t, s, "web-1")
				if s.budgetWrites != 0 {
					t.Errorf("the budget was charged")
				}
			}},
		{name: "an unready pod that becomes ready meanwhile is a 429", pods: []*corev1.Pod{unready},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 1, 1)},
			setup: func(s *fakeStore) {
				s.beforePodWrite = func(s *fakeStore) { s.pods["web-1"].ResourceVersion = s.nextRV() }
			},
			code: http.StatusTooManyRequests, cause: "The disruption budget web is still being processed by the server."},
		{name: "an unready pod of an unhealthy budget is charged like any", pods: []*corev1.Pod{unready},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 0, 1)},
			code:    http.StatusTooManyRequests, cause: "The disruption budget web needs 1 healthy pods and has 0 currently"},
		{name: "a budget spent by a concurrent eviction is read again and refuses", pods: []*corev1.Pod{running},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 1, 2, 1)},
			setup: func(s *fakeStore) {
				s.beforeBudgetWrite = func(s *fakeStore) {
					s.beforeBudgetWrite = nil
					b := s.budgets["web"]
					b.Status.DisruptionsAllowed, b.Status.CurrentHealthy = 0, 1
					b.ResourceVersion = s.nextRV()
				}
			},
			code: http.StatusTooManyRequests, cause: "The disruption budget web needs 1 healthy pods and has 1 currently"},
		{name: "a budget written concurrently is read again and charged", pods: []*corev1.Pod{running},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 1, 2, 1)},
			setup: func(s *fakeStore) {
				s.beforeBudgetWrite = func(s *fakeStore) {
					s.beforeBudgetWrite = nil
					b := s.budgets["web"]
					b.Status.DisruptionsAllowed, b.Status.CurrentHealthy = 2, 3
					b.ResourceVersion = s.nextRV()
				}
			},
			check: func(t *testing.T, s *fakeStore) {
				wasEvicted(t, s, "web-1")
				if got := s.budgets["web"].Status.DisruptionsAllowed; got != 1 {
					t.Errorf("disruptionsAllowed = %d, want 1", got)
				}
			}},
		{name: "a dry run changes nothing", pods: []*corev1.Pod{running}, dryRun: []string{metav1.DryRunAll},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 1, 2, 1)},
			check: func(t *testing.T, s *fakeStore) {
				if s.budgetWrites != 0 || len(s.deleted) != 0 || s.dryDeletes != 1 || len(s.pods["web-1"].Status.Conditions) != 1 {
					t.Errorf("dry run wrote: %d budget writes, %d deletes, %d dry deletes, conditions %v",
						s.budgetWrites, len(s.deleted), s.dryDeletes, s.pods["web-1"].Status.Conditions)
				}
			}},
		{name: "a dry run still refuses what it would refuse", pods: []*corev1.Pod{running},
			opts:    &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}},
			budgets: []*policyv1.PodDisruptionBudget{newBudget("web", 0, 1, 1)},
			code:    http.StatusTooManyRequests, cause: "The disruption budget web needs 1 healthy pods and has 1 currently"},
		{name: "dry runs that disagree are refused", pods: []*corev1.Pod{running},
			opts: &metav1.DeleteOptions{DryRun: []string{"All", "All"}}, dryRun: []string{metav1.DryRunAll},
			code: http.StatusInternalServerError},
		{name: "an unknown dry run value is refused", pods: []*corev1.Pod{running},
			opts: &metav1.DeleteOptions{DryRun: []string{"Some"}}, code: http.StatusBadRequest},
		{name: "ignoring store read errors is refused", pods: []*corev1.Pod{running},
			opts: &metav1.DeleteOptions{IgnoreStoreReadErrorWithClusterBreakingPotential: ptr.To(true)},
			code: http.StatusUnprocessableEntity},
		{name: "a stale resourceVersion precondition is a conflict", pods: []*corev1.Pod{running},
			opts: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To("9")}},
			code: http.StatusConflict},
		{name: "a current resourceVersion precondition evicts", pods: []*corev1.Pod{running},
			opts:  &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To("10")}},
			check: func(t *testing.T, s *fakeStore) { wasEvicted(t, s, "web-1") }},
		{name: "another pod's UID is a conflict", pods: []*corev1.Pod{running},
			opts: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(types.UID("other"))}},
			code: http.StatusConflict},
		{name: "a missing pod is a 404", code: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(tt.pods, tt.budgets...)
			if tt.setup != nil {
				tt.setup(s)
			}
			err := evictor(s).Evict(context.Background(), eviction("web-1", tt.opts), tt.dryRun)
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, s)
				return
			}
			if tt.cause != "" {
				wantRefusal(t, err, tt.code, tt.cause)
			} else if got := apierrors.ReasonForError(err); err == nil || statusCode(err) != tt.code {
				t.Fatalf("error %v (%s), want a %d", err, got, tt.code)
			}
			if len(s.deleted) != 0 {
				t.Errorf("refused, yet deleted %d pods", len(s.deleted))
			}
		})
	}
}

func statusCode(err error) int32 {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return 0
	}
	return st.Status().Code
}

func TestMultipleBudgetsMessage(t *testing.T) {
	s := newStore([]*corev1.Pod{newPod("web-1", corev1.PodRunning, true)}, newBudget("a", 1, 2, 1), newBudget("b", 1, 2, 1))
	err := evictor(s).Evict(context.Background(), eviction("web-1", nil), nil)
	if err == nil || err.Error() != multipleBudgetsMessage {
		t.Errorf("error %v, want %q", err, multipleBudgetsMessage)
	}
}
