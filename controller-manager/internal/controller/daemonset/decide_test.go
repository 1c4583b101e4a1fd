package daemonset

import (
	"fmt"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func ds() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns"},
		Spec: appsv1.DaemonSetSpec{
			Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
}

func node(name string, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: corev1.NodeSpec{Taints: taints}}
}

func pod(name, node, hash string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Labels: map[string]string{HashLabel: hash}},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func TestNodeFit(t *testing.T) {
	withSelector := ds()
	withSelector.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	tests := []struct {
		name      string
		ds        *appsv1.DaemonSet
		node      *corev1.Node
		run, stay bool
	}{
		{"plain node", ds(), node("n", nil), true, true},
		{"node selector matches", withSelector, node("n", map[string]string{"disk": "ssd"}), true, true},
		{"node selector does not match", withSelector, node("n", map[string]string{"disk": "hdd"}), false, false},
		{"unreachable node is tolerated", ds(), node("n", nil, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}), true, true},
		{"cordoned node is tolerated", ds(), node("n", nil, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"other NoSchedule taint: no new pod, old may stay", ds(), node("n", nil, corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"other NoExecute taint: none at all", ds(), node("n", nil, corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoExecute}), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, stay := NodeFit(tt.ds, tt.node)
			if run != tt.run || stay != tt.stay {
				t.Errorf("NodeFit = %v, %v; want %v, %v", run, stay, tt.run, tt.stay)
			}
		})
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func TestDecide(t *testing.T) {
	surge := ds()
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	surge.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}
	onDelete := ds()
	onDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
	failed := pod("failed", "a", "new", false)
	failed.Status.Phase = corev1.PodFailed
	tests := []struct {
		name       string
		ds         *appsv1.DaemonSet
		nodes      []*corev1.Node
		pods       map[string][]*corev1.Pod
		wantCreate []string
		wantDelete []string
	}{
		{"a pod for every node", ds(), []*corev1.Node{node("a", nil), node("b", nil)}, nil, []string{"a", "b"}, nil},
		{"a new node gets its pod", ds(), []*corev1.Node{node("a", nil), node("b", nil)},
			map[string][]*corev1.Pod{"a": {pod("pa", "a", "new", true)}}, []string{"b"}, nil},
		{"surplus pods go", ds(), []*corev1.Node{node("a", nil)},
			map[string][]*corev1.Pod{"a": {pod("p1", "a", "new", true), pod("p2", "a", "new", true)}}, nil, []string{"p2"}},
		{"failed pod deleted before a new one", ds(), []*corev1.Node{node("a", nil)},
			map[string][]*corev1.Pod{"a": {failed}}, nil, []string{"failed"}},
		{"pod on a deleted node goes", ds(), []*corev1.Node{node("a", nil)},
			map[string][]*corev1.Pod{"a": {pod("pa", "a", "new", true)}, "gone": {pod("pg", "gone", "new", true)}}, nil, []string{"pg"}},
		{"rolling update: one old pod at a time", ds(), []*corev1.Node{node("a", nil), node("b", nil)},
			map[string][]*corev1.Pod{"a": {pod("oa", "a", "old", true)}, "b": {pod("ob", "b", "old", true)}}, nil, []string{"oa"}},
		{"rolling update: an unavailable old pod goes, and uses up maxUnavailable", ds(), []*corev1.Node{node("a", nil), node("b", nil)},
			map[string][]*corev1.Pod{"a": {pod("oa", "a", "old", true)}, "b": {pod("ob", "b", "old", false)}}, nil, []string{"ob"}},
		{"surge: new pod beside the old", surge, []*corev1.Node{node("a", nil), node("b", nil)},
			map[string][]*corev1.Pod{"a": {pod("oa", "a", "old", true)}, "b": {pod("ob", "b", "old", true)}}, []string{"a"}, nil},
		{"surge: old goes once the new is available", surge, []*corev1.Node{node("a", nil)},
			map[string][]*corev1.Pod{"a": {pod("oa", "a", "old", true), pod("na", "a", "new", true)}}, nil, []string{"oa"}},
		{"OnDelete leaves old pods", onDelete, []*corev1.Node{node("a", nil)},
			map[string][]*corev1.Pod{"a": {pod("oa", "a", "old", true)}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Decide(tt.ds, tt.nodes, tt.pods, "new", now)
			sort.Strings(plan.Create)
			if fmt.Sprint(plan.Create) != fmt.Sprint(tt.wantCreate) && (len(plan.Create)+len(tt.wantCreate)) > 0 {
				t.Errorf("create on %v, want %v", plan.Create, tt.wantCreate)
			}
			if got := names(plan.Delete); fmt.Sprint(got) != fmt.Sprint(tt.wantDelete) && (len(got)+len(tt.wantDelete)) > 0 {
				t.Errorf("delete %v, want %v", got, tt.wantDelete)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	d := ds()
	d.Spec.Template.Spec.NodeSelector = map[string]string{"run": "yes"}
	nodes := []*corev1.Node{node("a", map[string]string{"run": "yes"}), node("b", map[string]string{"run": "yes"}), node("c", nil)}
	st := Status(d, nodes, map[string][]*corev1.Pod{
		"a": {pod("pa", "a", "new", true)},
		"c": {pod("pc", "c", "old", true)},
	}, "new", now)
	want := appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 1, NumberMisscheduled: 1, NumberReady: 1,
		NumberAvailable: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 1}
	if st.DesiredNumberScheduled != want.DesiredNumberScheduled || st.CurrentNumberScheduled != want.CurrentNumberScheduled ||
		st.NumberMisscheduled != want.NumberMisscheduled || st.NumberReady != want.NumberReady || st.NumberAvailable != want.NumberAvailable ||
		st.UpdatedNumberScheduled != want.UpdatedNumberScheduled || st.NumberUnavailable != want.NumberUnavailable {
		t.Errorf("status = %+v, want %+v", st, want)
	}
}

func TestPinToNode(t *testing.T) {
	p := &corev1.Pod{}
	PinToNode(p, "n1")
	if TargetNode(p) != "n1" {
		t.Errorf("TargetNode = %q", TargetNode(p))
	}
	if len(p.Spec.Tolerations) != len(Tolerations(false)) {
		t.Errorf("tolerations %v", p.Spec.Tolerations)
	}
}
