package deployment

import (
	"reflect"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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
