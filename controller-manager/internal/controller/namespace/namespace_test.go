package namespace

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	discoveryfake "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var (
	pods       = Resource{GroupVersionResource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, List: true, DeleteCollection: true}
	configMaps = Resource{GroupVersionResource: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, List: true, DeleteCollection: true}
	secrets    = Resource{GroupVersionResource: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, List: true, DeleteCollection: true}
	policies   = Resource{GroupVersionResource: schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}, List: true, DeleteCollection: true}
	// metricsPods are pods of another group: not the pods that go first.
	metricsPods = Resource{GroupVersionResource: schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}, List: true}
)

func TestWaves(t *testing.T) {
	tests := []struct {
		name string
		in   []Resource
		want [][]Resource
	}{
		{"nothing, no waves", nil, nil},
		{"pods go first and alone", []Resource{policies, configMaps, pods, secrets},
			[][]Resource{{pods}, {configMaps, secrets, policies}}},
		{"no pods, one wave", []Resource{secrets, configMaps}, [][]Resource{{configMaps, secrets}}},
		{"only pods, one wave", []Resource{pods}, [][]Resource{{pods}}},
		{"pods of another group wait with the rest", []Resource{metricsPods, pods, configMaps},
			[][]Resource{{pods}, {configMaps, metricsPods}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Waves(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Waves = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	podsGR := schema.GroupResource{Resource: "pods"}
	deploymentsGR := schema.GroupResource{Group: "apps", Resource: "deployments"}
	tests := []struct {
		name         string
		r            Remaining
		wantFinalize bool
		// wantTrue are the conditions that must be True, with their
		// reason and message; the others must be False with upstream's
		// all-is-well reason.
		wantTrue map[corev1.NamespaceConditionType][2]string
	}{
		{"empty namespace is finalized", Remaining{}, true, nil},
		{"pods held by a finalizer wait, named", Remaining{Resources: map[schema.GroupResource]int{podsGR: 1}, Finalizers: map[string]int{"e2e.example.com/finalizer": 1}}, false,
			map[corev1.NamespaceConditionType][2]string{
				corev1.NamespaceContentRemaining:    {"SomeResourcesRemain", "Some resources are remaining: pods. has 1 resource instances"},
				corev1.NamespaceFinalizersRemaining: {"SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: e2e.example.com/finalizer in 1 resource instances"},
			}},
		{"remaining content is listed sorted", Remaining{Resources: map[schema.GroupResource]int{podsGR: 2, deploymentsGR: 3}}, false,
			map[corev1.NamespaceConditionType][2]string{
				corev1.NamespaceContentRemaining: {"SomeResourcesRemain", "Some resources are remaining: deployments.apps has 3 resource instances, pods. has 2 resource instances"},
			}},
		{"discovery failure waits", Remaining{DiscoveryFailed: "boom"}, false,
			map[corev1.NamespaceConditionType][2]string{corev1.NamespaceDeletionDiscoveryFailure: {"DiscoveryFailed", "boom"}}},
		{"group version parsing failure waits", Remaining{GroupVersionFailed: "unexpected GroupVersion string: a/b/c"}, false,
			map[corev1.NamespaceConditionType][2]string{corev1.NamespaceDeletionGVParsingFailure: {"GroupVersionParsingFailed", "unexpected GroupVersion string: a/b/c"}}},
		{"deletion failures are counted and sorted", Remaining{DeleteFailed: []string{"zzz", "aaa"}}, false,
			map[corev1.NamespaceConditionType][2]string{corev1.NamespaceDeletionContentFailure: {"ContentDeletionFailed", "Failed to delete all resource types, 2 remaining: aaa, zzz"}}},
	}
	ok := map[corev1.NamespaceConditionType]string{}
	for _, ct := range conditionTypes {
		ok[ct.t] = ct.reason
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := metav1.Now()
			plan := Decide(tt.r, now)
			if plan.Finalize != tt.wantFinalize {
				t.Errorf("Finalize = %v, want %v", plan.Finalize, tt.wantFinalize)
			}
			if len(plan.Conditions) != len(conditionTypes) {
				t.Fatalf("%d conditions, want one of each of %d types", len(plan.Conditions), len(conditionTypes))
			}
			for i, c := range plan.Conditions {
				if c.Type != conditionTypes[i].t {
					t.Errorf("condition %d is %s, want %s", i, c.Type, conditionTypes[i].t)
				}
				if !c.LastTransitionTime.Equal(&now) {
					t.Errorf("condition %s lastTransitionTime = %v, want %v", c.Type, c.LastTransitionTime, now)
				}
				if want, bad := tt.wantTrue[c.Type]; bad {
					if c.Status != corev1.ConditionTrue || c.Reason != want[0] || c.Message != want[1] {
						t.Errorf("condition %s = %s %q %q, want True %q %q", c.Type, c.Status, c.Reason, c.Message, want[0], want[1])
					}
					continue
				}
				if c.Status != corev1.ConditionFalse || c.Reason != ok[c.Type] || c.Message == "" {
					t.Errorf("condition %s = %s %q %q, want False %q with a message", c.Type, c.Status, c.Reason, c.Message, ok[c.Type])
				}
			}
		})
	}
}

func TestMergeConditions(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Minute))
	cond := func(t corev1.NamespaceConditionType, s corev1.ConditionStatus, msg string, at metav1.Time) corev1.NamespaceCondition {
		return corev1.NamespaceCondition{Type: t, Status: s, Reason: "R", Message: msg, LastTransitionTime: at}
	}
	other := corev1.NamespaceCondition{Type: "Other", Status: corev1.ConditionTrue}
	tests := []struct {
		name        string
		have, want  []corev1.NamespaceCondition
		wantOut     []corev1.NamespaceCondition
		wantChanged bool
	}{
		{"new conditions are added, others kept",
			[]corev1.NamespaceCondition{other},
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "a", now)},
			[]corev1.NamespaceCondition{other, cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "a", now)}, true},
		{"same status, reason and message: nothing to write",
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "a", then)},
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "a", now)},
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "a", then)}, false},
		{"a new message keeps the transition time",
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "a", then)},
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "b", now)},
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "b", then)}, true},
		{"a new status is a transition",
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "a", then)},
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionFalse, "a", now)},
			[]corev1.NamespaceCondition{cond(corev1.NamespaceContentRemaining, corev1.ConditionFalse, "a", now)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			haveCopy := append([]corev1.NamespaceCondition(nil), tt.have...)
			out, changed := mergeConditions(tt.have, tt.want)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if !reflect.DeepEqual(out, tt.wantOut) {
				t.Errorf("conditions = %v, want %v", out, tt.wantOut)
			}
			if !reflect.DeepEqual(tt.have, haveCopy) {
				t.Errorf("mergeConditions changed its input: %v", tt.have)
			}
		})
	}
}

func TestGraceLeft(t *testing.T) {
	deleted := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := func(phase corev1.PodPhase, grace int64) unstructured.Unstructured {
		return unstructured.Unstructured{Object: map[string]any{
			"spec":   map[string]any{"terminationGracePeriodSeconds": grace},
			"status": map[string]any{"phase": string(phase)},
		}}
	}
	tests := []struct {
		name  string
		pods  []unstructured.Unstructured
		after time.Duration
		want  int64
	}{
		{"no pods", nil, 0, 0},
		{"the longest grace period of running pods", []unstructured.Unstructured{pod(corev1.PodRunning, 30), pod(corev1.PodPending, 60)}, 10 * time.Second, 60},
		{"finished pods do not count", []unstructured.Unstructured{pod(corev1.PodSucceeded, 60), pod(corev1.PodFailed, 90), pod(corev1.PodRunning, 5)}, time.Second, 5},
		{"over once the namespace is deleted that long", []unstructured.Unstructured{pod(corev1.PodRunning, 30)}, 30 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := graceLeft(tt.pods, deleted, deleted.Add(tt.after)); got != tt.want {
				t.Errorf("graceLeft = %d, want %d", got, tt.want)
			}
		})
	}
}

// staticDiscovery answers ServerPreferredNamespacedResources with lists
// (the fake's answers nothing).
type staticDiscovery struct {
	*discoveryfake.FakeDiscovery
	lists []*metav1.APIResourceList
}

func (d staticDiscovery) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return d.lists, nil
}

// emulateDeleteCollection gives the fake the collection delete it lacks,
// as the apiserver's: objects with finalizers are marked deleted, the
// others go.
func emulateDeleteCollection(t *testing.T, dyn *dynamicfake.FakeDynamicClient, kinds map[schema.GroupVersionResource]string, now metav1.Time) {
	tracker := dyn.Tracker()
	dyn.PrependReactor("delete-collection", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		gvr, ns := a.GetResource(), a.GetNamespace()
		list, err := tracker.List(gvr, gvr.GroupVersion().WithKind(kinds[gvr]), ns)
		if err != nil {
			return true, nil, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return true, nil, err
		}
		for _, obj := range items {
			m, err := meta.Accessor(obj)
			if err != nil {
				return true, nil, err
			}
			if len(m.GetFinalizers()) == 0 {
				err = tracker.Delete(gvr, ns, m.GetName())
			} else if m.GetDeletionTimestamp() == nil {
				m.SetDeletionTimestamp(&now)
				err = tracker.Update(gvr, obj, ns)
			}
			if err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
}

// A pass deletes nothing but pods while a pod remains, even one already
// terminating; once the pod is gone, the next pass deletes the rest.
func TestDeleteContentPodsFirst(t *testing.T) {
	ctx := context.Background()
	deleted := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	obj := func(apiVersion, kind, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace("doomed")
		u.SetName(name)
		return u
	}
	held := obj("v1", "Pod", "held")
	held.SetFinalizers([]string{"e2e.example.com/finalizer"})
	held.SetDeletionTimestamp(&deleted)
	fresh := obj("v1", "Pod", "fresh")
	cm := obj("v1", "ConfigMap", "cm")
	policy := obj("networking.k8s.io/v1", "NetworkPolicy", "fence")
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		pods.GroupVersionResource:       "PodList",
		configMaps.GroupVersionResource: "ConfigMapList",
		policies.GroupVersionResource:   "NetworkPolicyList",
	}, held, fresh, cm, policy)
	emulateDeleteCollection(t, dyn, map[schema.GroupVersionResource]string{
		pods.GroupVersionResource:       "Pod",
		configMaps.GroupVersionResource: "ConfigMap",
		policies.GroupVersionResource:   "NetworkPolicy",
	}, deleted)
	verbs := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "watch"}
	disc := staticDiscovery{FakeDiscovery: &discoveryfake.FakeDiscovery{Fake: &clienttesting.Fake{}}, lists: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Namespaced: true, Verbs: verbs},
			{Name: "pods", Namespaced: true, Verbs: verbs},
			{Name: "pods/status", Namespaced: true, Verbs: metav1.Verbs{"get", "patch", "update"}},
		}},
		{GroupVersion: "networking.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "networkpolicies", Namespaced: true, Verbs: verbs}}},
	}}
	c := &Controller{dynamic: dyn, discovery: disc, log: zap.NewNop(), clock: clocktesting.NewFakePassiveClock(deleted.Add(time.Hour))}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed", DeletionTimestamp: &deleted}}
	names := func(r Resource) []string {
		list, err := dyn.Resource(r.GroupVersionResource).Namespace("doomed").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range list.Items {
			out = append(out, it.GetName())
		}
		return out
	}

	r := c.deleteContent(ctx, ns)
	if got := names(pods); !reflect.DeepEqual(got, []string{"held"}) {
		t.Errorf("pods after the first pass = %v, want only the held one", got)
	}
	if got, want := r.Resources, map[schema.GroupResource]int{pods.GroupResource(): 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("remaining = %v, want %v", got, want)
	}
	if len(r.DeleteFailed) > 0 {
		t.Errorf("failures: %v", r.DeleteFailed)
	}
	if got := names(configMaps); len(got) != 1 {
		t.Errorf("configmaps = %v while a pod remains, want them kept", got)
	}
	if got := names(policies); len(got) != 1 {
		t.Errorf("networkpolicies = %v while a pod remains, want them kept", got)
	}
	if plan := Decide(r, deleted); plan.Finalize {
		t.Errorf("plan finalizes while a pod remains")
	}

	// The pod's finalizer is done with it.
	if err := dyn.Resource(pods.GroupVersionResource).Namespace("doomed").Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r = c.deleteContent(ctx, ns)
	if len(r.Resources) > 0 || len(r.DeleteFailed) > 0 {
		t.Errorf("second pass left %v, failed %v", r.Resources, r.DeleteFailed)
	}
	for _, res := range []Resource{pods, configMaps, policies} {
		if got := names(res); len(got) != 0 {
			t.Errorf("%s left after the second pass: %v", res.Resource, got)
		}
	}
	if plan := Decide(r, deleted); !plan.Finalize {
		t.Errorf("plan does not finalize an empty namespace: %v", plan.Conditions)
	}
}

// Pods left with nothing to explain them (no finalizer, no grace period
// still running) are reported as a failure, as upstream does.
func TestDeleteContentUnexpectedPods(t *testing.T) {
	ctx := context.Background()
	deleted := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	stuck := &unstructured.Unstructured{}
	stuck.SetAPIVersion("v1")
	stuck.SetKind("Pod")
	stuck.SetNamespace("doomed")
	stuck.SetName("stuck")
	stuck.SetDeletionTimestamp(&deleted)
	if err := unstructured.SetNestedField(stuck.Object, int64(30), "spec", "terminationGracePeriodSeconds"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(stuck.Object, "Running", "status", "phase"); err != nil {
		t.Fatal(err)
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		pods.GroupVersionResource: "PodList",
	}, stuck)
	disc := staticDiscovery{FakeDiscovery: &discoveryfake.FakeDiscovery{Fake: &clienttesting.Fake{}}, lists: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Verbs: metav1.Verbs{"delete", "deletecollection", "list"}}}},
	}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed", DeletionTimestamp: &deleted}}
	for _, tt := range []struct {
		after      time.Duration
		wantFailed bool
	}{{10 * time.Second, false}, {time.Minute, true}} {
		c := &Controller{dynamic: dyn, discovery: disc, log: zap.NewNop(), clock: clocktesting.NewFakePassiveClock(deleted.Add(tt.after))}
		r := c.deleteContent(ctx, ns)
		if failed := len(r.DeleteFailed) > 0; failed != tt.wantFailed {
			t.Errorf("%v after the deletion: failures %v, want failure: %v", tt.after, r.DeleteFailed, tt.wantFailed)
		}
		if tt.wantFailed && !strings.HasPrefix(r.DeleteFailed[0], "failed to delete pods for namespace: doomed, err: unexpected items still remain") {
			t.Errorf("failure = %q", r.DeleteFailed[0])
		}
	}
}
