package deployment

import (
	"fmt"
	"reflect"
	"strings"
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

// The Decide tests' world: a Deployment "web" of the template app=web
// whose ReplicaSets are "new" (its template) and "old" (another).

func withSelector(d *appsv1.Deployment) *appsv1.Deployment {
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	return d
}

// ofTemplate gives rs d's template, as the Deployment's new ReplicaSet
// at revision 2.
func ofTemplate(d *appsv1.Deployment, rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	rs.Spec.Template = *d.Spec.Template.DeepCopy()
	rs.Spec.Template.Labels[HashLabel] = rs.Name
	rs.Annotations[RevisionAnnotation] = "2"
	return rs
}

// ofOldTemplate gives rs another template, at revision rev.
func ofOldTemplate(rs *appsv1.ReplicaSet, rev string) *appsv1.ReplicaSet {
	rs.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "version": "old"}}}
	rs.Annotations[RevisionAnnotation] = rev
	return rs
}

// sized marks rs as sized for d: its size annotations are d's.
func sized(d *appsv1.Deployment, rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	setSizeAnnotations(rs, desired(d), desired(d)+MaxSurge(d))
	return rs
}

// summary writes a plan in one line, for the table below.
func summary(p Plan) string {
	parts := []string{string(p.Step)}
	if p.Pause != nil {
		parts = append(parts, "pause="+p.Pause.Reason)
	}
	if p.NewRS.Update != nil {
		parts = append(parts, "update "+p.NewRS.Update.Name)
	}
	if p.NewRS.Create != nil {
		parts = append(parts, fmt.Sprintf("create(%d)", replicasOf(p.NewRS.Create)))
	}
	if p.NewRS.Revision != "" {
		parts = append(parts, "revision="+p.NewRS.Revision)
	}
	if p.NewRS.Progressing != nil {
		parts = append(parts, "progressing="+p.NewRS.Progressing.Reason)
	}
	for _, r := range p.Scale {
		name := r.Name
		if p.NewRS.Create != nil && name == p.NewRS.Create.Name {
			name = "created"
		}
		parts = append(parts, fmt.Sprintf("%s->%d%s", name, r.Replicas, r.Op))
	}
	for _, rs := range p.CleanUp {
		parts = append(parts, "delete "+rs.Name)
	}
	if p.RolloutStatus {
		parts = append(parts, "rollout status")
	}
	return strings.Join(parts, " ")
}

func TestDecide(t *testing.T) {
	rolling := func(replicas int32, surge, unavailable string) *appsv1.Deployment {
		return withSelector(deploy(replicas, surge, unavailable))
	}
	recreate := func(replicas int32) *appsv1.Deployment {
		d := rolling(replicas, "1", "0")
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		return d
	}
	deleting := rolling(3, "1", "0")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	paused := rolling(3, "1", "0")
	paused.Spec.Paused = true
	paused.Spec.RevisionHistoryLimit = ptr.To[int32](0)
	resumed := rolling(3, "1", "0")
	resumed.Status.Conditions = []appsv1.DeploymentCondition{newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "", now)}
	scaled := rolling(15, "3", "2")
	done := rolling(3, "1", "0")
	done.Spec.RevisionHistoryLimit = ptr.To[int32](0)
	done.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}
	annotated := rolling(3, "1", "0")
	annotated.Annotations = map[string]string{"team": "web"}
	oldPod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}

	tests := []struct {
		name string
		d    *appsv1.Deployment
		rs   func(d *appsv1.Deployment) []*appsv1.ReplicaSet
		pods map[types.UID][]*corev1.Pod
		want string
	}{
		{"being deleted: the status only, nothing created", deleting,
			func(*appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 3, 3, 3, 10), "1")}
			}, nil, "deleting"},
		{"paused: the pause is shown, sizes stay, old revisions go", paused,
			func(d *appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 0, 0, 0, 10), "1"), sized(d, ofTemplate(d, replicaSet("new", 3, 3, 3, 1)))}
			}, nil, "scale pause=DeploymentPaused revision=2 delete old"},
		{"resumed: the resume is shown and the rollout goes on", resumed,
			func(d *appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 3, 3, 3, 10), "1"), sized(d, ofTemplate(d, replicaSet("new", 0, 0, 0, 1)))}
			}, nil, "rolling pause=DeploymentResumed revision=2 new->1up rollout status"},
		{"replicas changed mid-rollout: every ReplicaSet grows in proportion", scaled,
			func(d *appsv1.Deployment) []*appsv1.ReplicaSet {
				old := ofOldTemplate(replicaSet("old", 8, 8, 8, 10), "1")
				setSizeAnnotations(old, 10, 13)
				newRS := ofTemplate(d, replicaSet("new", 5, 5, 0, 1))
				setSizeAnnotations(newRS, 10, 13)
				return []*appsv1.ReplicaSet{old, newRS}
			}, nil, "scale revision=2 progressing=FoundNewReplicaSet old->11up new->7up"},
		{"rolling with no new ReplicaSet: it is created at maxSurge, revision after the old", rolling(3, "1", "0"),
			func(*appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 3, 3, 3, 10), "1")}
			}, nil, "rolling create(1) revision=2 progressing=NewReplicaSetCreated rollout status"},
		{"rolling: the new ReplicaSet grows first, the old wait", rolling(3, "1", "0"),
			func(d *appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 3, 3, 3, 10), "1"), sized(d, ofTemplate(d, replicaSet("new", 0, 0, 0, 1)))}
			}, nil, "rolling revision=2 progressing=FoundNewReplicaSet new->1up rollout status"},
		{"rolling: the old shrink as new pods become available", rolling(3, "1", "0"),
			func(d *appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{sized(d, ofOldTemplate(replicaSet("old", 3, 3, 3, 10), "1")), sized(d, ofTemplate(d, replicaSet("new", 1, 1, 1, 1)))}
			}, nil, "rolling revision=2 progressing=FoundNewReplicaSet old->2down rollout status"},
		{"rolling: a complete rollout cleans up old revisions", done,
			func(d *appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 0, 0, 0, 10), "1"), sized(d, ofTemplate(d, replicaSet("new", 3, 3, 3, 1)))}
			}, nil, "rolling revision=2 progressing=FoundNewReplicaSet delete old rollout status"},
		{"a new ReplicaSet missing the Deployment's annotations is updated first", annotated,
			func(d *appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 3, 3, 3, 10), "1"), sized(d, ofTemplate(d, replicaSet("new", 0, 0, 0, 1)))}
			}, nil, "rolling update new new->1up rollout status"},
		{"recreate: the old go to zero first", recreate(3),
			func(*appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 3, 3, 3, 10), "1")}
			}, nil, "recreate old->0down rollout status"},
		{"recreate: nothing new while an old pod runs", recreate(3),
			func(*appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 0, 0, 0, 10), "1")}
			}, map[types.UID][]*corev1.Pod{"old": {oldPod}}, "recreate rollout status"},
		{"recreate: once the old pods are gone the new ReplicaSet is created at replicas", recreate(3),
			func(*appsv1.Deployment) []*appsv1.ReplicaSet {
				return []*appsv1.ReplicaSet{ofOldTemplate(replicaSet("old", 0, 0, 0, 10), "1")}
			}, nil, "recreate create(3) revision=2 progressing=NewReplicaSetCreated rollout status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsList := tt.rs(tt.d)
			before := tt.d.DeepCopy()
			got := summary(Decide(State{Deployment: tt.d, ReplicaSets: rsList, Pods: tt.pods, Now: now}))
			if got != tt.want {
				t.Errorf("Decide =\n  %s\nwant\n  %s", got, tt.want)
			}
			if !reflect.DeepEqual(before, tt.d) {
				t.Error("Decide changed the Deployment it was given")
			}
		})
	}
}
