package deployment

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func deploy(replicas int32, surge, unavailable string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
			ProgressDeadlineSeconds: ptr.To[int32](60),
			Template:                corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1},
	}
}

// replicaSet makes a ReplicaSet: spec size, observed pods, available
// pods, age in minutes (older is created earlier).
func replicaSet(name string, spec, pods, available int32, age int) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(now.Add(-time.Duration(age) * time.Minute)),
			Annotations: map[string]string{}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(spec)},
		Status: appsv1.ReplicaSetStatus{Replicas: pods, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		name                   string
		surge, unavailable     string
		replicas               int32
		wantSurge, wantUnavail int32
	}{
		{"percentages: surge up, unavailable down", "25%", "25%", 3, 1, 0},
		{"both zero allows one unavailable", "0", "0", 3, 0, 1},
		{"absolute values", "2", "1", 10, 2, 1},
		{"half of three", "50%", "50%", 3, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, u := intstr.Parse(tt.surge), intstr.Parse(tt.unavailable)
			gs, gu := ResolveFenceposts(&s, &u, tt.replicas)
			if gs != tt.wantSurge || gu != tt.wantUnavail {
				t.Errorf("= %d, %d; want %d, %d", gs, gu, tt.wantSurge, tt.wantUnavail)
			}
		})
	}
}

func TestNewRSReplicas(t *testing.T) {
	recreate := deploy(3, "1", "0")
	recreate.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	tests := []struct {
		name string
		d    *appsv1.Deployment
		old  *appsv1.ReplicaSet
		new  *appsv1.ReplicaSet
		want int32
	}{
		{"surges by maxSurge", deploy(3, "1", "0"), replicaSet("old", 3, 3, 3, 10), replicaSet("new", 0, 0, 0, 1), 1},
		{"no room above replicas+maxSurge", deploy(3, "1", "0"), replicaSet("old", 3, 3, 3, 10), replicaSet("new", 1, 1, 0, 1), 1},
		{"an old scale-down not yet carried out still counts", deploy(3, "1", "1"), replicaSet("old", 2, 3, 3, 10), replicaSet("new", 1, 1, 1, 1), 1},
		{"grows once the old pods are gone", deploy(3, "1", "1"), replicaSet("old", 2, 2, 2, 10), replicaSet("new", 1, 1, 1, 1), 2},
		{"never beyond replicas", deploy(3, "5", "0"), replicaSet("old", 0, 0, 0, 10), replicaSet("new", 1, 1, 1, 1), 3},
		{"recreate goes straight to replicas", recreate, replicaSet("old", 0, 0, 0, 10), replicaSet("new", 0, 0, 0, 1), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewRSReplicas(tt.d, []*appsv1.ReplicaSet{tt.old, tt.new}, tt.new); got != tt.want {
				t.Errorf("NewRSReplicas = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestScaleDownOld(t *testing.T) {
	tests := []struct {
		name string
		d    *appsv1.Deployment
		old  []*appsv1.ReplicaSet
		new  *appsv1.ReplicaSet
		want map[string]int32
	}{
		{"down by maxUnavailable while new pods are not available", deploy(3, "1", "1"),
			[]*appsv1.ReplicaSet{replicaSet("old", 3, 3, 3, 10)}, replicaSet("new", 1, 1, 0, 1), map[string]int32{"old": 2}},
		{"nothing while availability is at its floor", deploy(3, "1", "0"),
			[]*appsv1.ReplicaSet{replicaSet("old", 3, 3, 3, 10)}, replicaSet("new", 1, 1, 0, 1), map[string]int32{}},
		{"down as new pods become available", deploy(3, "1", "0"),
			[]*appsv1.ReplicaSet{replicaSet("old", 3, 3, 3, 10)}, replicaSet("new", 1, 1, 1, 1), map[string]int32{"old": 2}},
		{"unhealthy old pods go first", deploy(4, "0", "1"),
			[]*appsv1.ReplicaSet{replicaSet("old", 4, 4, 2, 10)}, replicaSet("new", 0, 0, 0, 1), map[string]int32{"old": 3}},
		{"oldest ReplicaSet first", deploy(4, "0", "1"),
			[]*appsv1.ReplicaSet{replicaSet("newer", 2, 2, 2, 5), replicaSet("oldest", 2, 2, 2, 10)}, replicaSet("new", 0, 0, 0, 1), map[string]int32{"oldest": 1}},
		{"an available count above spec is not trusted", deploy(3, "1", "1"),
			[]*appsv1.ReplicaSet{replicaSet("old", 2, 3, 3, 10)}, replicaSet("new", 1, 1, 0, 1), map[string]int32{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := append(append([]*appsv1.ReplicaSet(nil), tt.old...), tt.new)
			got := ScaleDownOld(tt.d, all, tt.old, tt.new)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ScaleDownOld = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScale(t *testing.T) {
	annotated := func(rs *appsv1.ReplicaSet, desired, maxR int32) *appsv1.ReplicaSet {
		rs.Annotations[DesiredReplicasAnnotation] = strconv.Itoa(int(desired))
		rs.Annotations[MaxReplicasAnnotation] = strconv.Itoa(int(maxR))
		return rs
	}
	tests := []struct {
		name   string
		d      *appsv1.Deployment
		new    *appsv1.ReplicaSet
		old    []*appsv1.ReplicaSet
		want   map[string]int32
		wantOp string
	}{
		// Kubernetes' documented example: 10 replicas, maxSurge 3, a
		// rollout at 8 old + 5 new, scaled to 15: 5 more, 3 to the old
		// and 2 to the new.
		{"proportional during a rollout", deploy(15, "3", "2"),
			annotated(replicaSet("new", 5, 5, 0, 1), 10, 13),
			[]*appsv1.ReplicaSet{annotated(replicaSet("old", 8, 8, 8, 10), 10, 13)},
			map[string]int32{"old": 11, "new": 7}, "up"},
		{"one active ReplicaSet takes all", deploy(5, "1", "0"),
			annotated(replicaSet("new", 3, 3, 3, 1), 3, 4), []*appsv1.ReplicaSet{replicaSet("old", 0, 0, 0, 10)},
			map[string]int32{"new": 5}, ""},
		{"saturated new leaves the old at zero", deploy(3, "1", "0"),
			annotated(replicaSet("new", 3, 3, 3, 1), 3, 4), []*appsv1.ReplicaSet{annotated(replicaSet("old", 1, 1, 1, 10), 4, 5)},
			map[string]int32{"old": 0}, ""},
		{"scale to zero empties everything", deploy(0, "1", "0"),
			annotated(replicaSet("new", 2, 2, 0, 1), 3, 4), []*appsv1.ReplicaSet{annotated(replicaSet("old", 2, 2, 2, 10), 3, 4)},
			map[string]int32{"old": 0, "new": 0}, "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, op := Scale(tt.d, tt.new, tt.old)
			if !reflect.DeepEqual(got, tt.want) || op != tt.wantOp {
				t.Errorf("Scale = %v %q, want %v %q", got, op, tt.want, tt.wantOp)
			}
		})
	}
}

func TestRolloutStatus(t *testing.T) {
	progressingSince := func(d *appsv1.Deployment, reason string, ago time.Duration) *appsv1.Deployment {
		at := metav1.NewTime(now.Add(-ago))
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reason, LastUpdateTime: at, LastTransitionTime: at}}
		return d
	}
	tests := []struct {
		name       string
		d          *appsv1.Deployment
		rs         []*appsv1.ReplicaSet
		wantReason string
		wantStatus corev1.ConditionStatus
	}{
		{"complete rollout", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, time.Second),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 2, 2, 1)}, ReasonNewRSAvailable, corev1.ConditionTrue},
		{"progress refreshes the condition", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, 50*time.Second),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 1, 1, 1)}, ReasonReplicaSetUpdated, corev1.ConditionTrue},
		{"no progress past the deadline times out", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, 2*time.Minute),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 0, 0, 1)}, ReasonTimedOut, corev1.ConditionFalse},
		{"no progress within the deadline keeps going", progressingSince(deploy(2, "1", "0"), ReasonReplicaSetUpdated, 30*time.Second),
			[]*appsv1.ReplicaSet{replicaSet("new", 2, 0, 0, 1)}, ReasonReplicaSetUpdated, corev1.ConditionTrue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newRS := tt.rs[len(tt.rs)-1]
			st := CalculateStatus(tt.d, tt.rs, newRS, now)
			st = RolloutStatus(tt.d, st, newRS, now)
			c := Condition(st, appsv1.DeploymentProgressing)
			if c == nil || c.Reason != tt.wantReason || c.Status != tt.wantStatus {
				t.Fatalf("Progressing = %+v, want %s %s", c, tt.wantStatus, tt.wantReason)
			}
			if tt.wantReason == ReasonReplicaSetUpdated && progressing(tt.d, &st) && !c.LastUpdateTime.Time.Equal(now) {
				t.Errorf("lastUpdateTime not refreshed: %v", c.LastUpdateTime)
			}
		})
	}
}

func TestAvailableCondition(t *testing.T) {
	d := deploy(4, "1", "1")
	st := CalculateStatus(d, []*appsv1.ReplicaSet{replicaSet("a", 4, 4, 3, 1)}, nil, now)
	if c := Condition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("3 of 4 available with maxUnavailable 1: Available = %+v", c)
	}
	st = CalculateStatus(d, []*appsv1.ReplicaSet{replicaSet("a", 4, 4, 2, 1)}, nil, now)
	if c := Condition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonMinimumReplicasUnavailable {
		t.Errorf("2 of 4 available with maxUnavailable 1: Available = %+v", c)
	}
	if st.UnavailableReplicas != 2 {
		t.Errorf("unavailableReplicas = %d, want 2", st.UnavailableReplicas)
	}
}

func TestToCleanUp(t *testing.T) {
	d := deploy(1, "1", "0")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	var old []*appsv1.ReplicaSet
	for i, spec := range []int32{0, 0, 1, 0} {
		rs := replicaSet(fmt.Sprintf("rev%d", i+1), spec, spec, spec, 10-i)
		rs.Annotations[RevisionAnnotation] = strconv.Itoa(i + 1)
		old = append(old, rs)
	}
	var got []string
	for _, rs := range ToCleanUp(d, old) {
		got = append(got, rs.Name)
	}
	// Four old, keep one: the three lowest revisions, but rev3 still has
	// a pod.
	if fmt.Sprint(got) != "[rev1 rev2]" {
		t.Errorf("ToCleanUp = %v, want [rev1 rev2]", got)
	}
}

func TestReplicaSetAnnotationsOnRollback(t *testing.T) {
	d := deploy(1, "1", "0")
	d.Annotations = map[string]string{"team": "web", lastApplied: "{}"}
	rs := replicaSet("old", 0, 0, 0, 10)
	rs.Annotations[RevisionAnnotation] = "1"
	if !ReplicaSetAnnotations(d, rs, 3, true) {
		t.Fatal("no change reported")
	}
	if rs.Annotations[RevisionAnnotation] != "3" || fmt.Sprint(revisionHistory(rs)) != "[1]" {
		t.Errorf("revision %q history %v, want 3 and [1]", rs.Annotations[RevisionAnnotation], revisionHistory(rs))
	}
	if rs.Annotations["team"] != "web" || rs.Annotations[lastApplied] != "" {
		t.Errorf("annotations %v: want the Deployment's, without kubectl's", rs.Annotations)
	}
	if ReplicaSetAnnotations(d, rs, 3, true) {
		t.Error("second call changed something: not idempotent")
	}
}

func TestFindNewReplicaSetIgnoresHash(t *testing.T) {
	d := deploy(1, "1", "0")
	rs := replicaSet("web-abc", 1, 1, 1, 1)
	rs.Spec.Template = *d.Spec.Template.DeepCopy()
	rs.Spec.Template.Labels[HashLabel] = "abc"
	other := replicaSet("web-def", 1, 1, 1, 2)
	other.Spec.Template = *d.Spec.Template.DeepCopy()
	other.Spec.Template.Spec.Containers = []corev1.Container{{Name: "x", Image: "y"}}
	if got := FindNewReplicaSet(d, []*appsv1.ReplicaSet{other, rs}); got != rs {
		t.Errorf("FindNewReplicaSet = %v, want web-abc", got)
	}
	if ComputeHash(&d.Spec.Template, nil) == ComputeHash(&d.Spec.Template, ptr.To[int32](1)) {
		t.Error("collision count does not change the hash")
	}
}
