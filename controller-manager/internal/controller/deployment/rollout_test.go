package deployment

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"coracle.dev/shared/golden"
)

// TestRolloutSequences plays whole rolling updates with the pure sizing
// functions against a simple world — a ReplicaSet's pods follow its spec
// at once, new pods become available one step after they appear — and
// checks each step against the bounds (never more than replicas+maxSurge
// pods, never fewer than replicas-maxUnavailable available) and against
// the recorded sequence in testdata (go test -run TestRolloutSequences
// -update rewrites it).
func TestRolloutSequences(t *testing.T) {
	tests := []struct {
		name               string
		replicas           int32
		surge, unavailable string
	}{
		{"replicas10_surge3_unavailable2", 10, "3", "2"},
		{"replicas4_surge1_unavailable0", 4, "1", "0"},
		{"replicas4_surge0_unavailable1", 4, "0", "1"},
		{"replicas3_surge25pct_unavailable25pct", 3, "25%", "25%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deploy(tt.replicas, tt.surge, tt.unavailable)
			oldRS := replicaSet("old", tt.replicas, tt.replicas, tt.replicas, 10)
			newRS := replicaSet("new", 0, 0, 0, 1)
			maxPods := tt.replicas + MaxSurge(d)
			minAvailable := tt.replicas - MaxUnavailable(d)
			var b strings.Builder
			fmt.Fprintf(&b, "replicas %d, maxSurge %s (%d), maxUnavailable %s (%d): at most %d pods, at least %d available\n",
				tt.replicas, tt.surge, MaxSurge(d), tt.unavailable, MaxUnavailable(d), maxPods, minAvailable)
			for step := 1; step <= 50; step++ {
				all := []*appsv1.ReplicaSet{oldRS, newRS}
				action := ""
				if up := NewRSReplicas(d, all, newRS); up != replicasOf(newRS) {
					action = fmt.Sprintf("scale new %d -> %d", replicasOf(newRS), up)
					newRS.Spec.Replicas = &up
				} else if sizes := ScaleDownOld(d, all, []*appsv1.ReplicaSet{oldRS}, newRS); len(sizes) > 0 {
					down := sizes["old"]
					action = fmt.Sprintf("scale old %d -> %d", replicasOf(oldRS), down)
					oldRS.Spec.Replicas = &down
				}
				if action == "" {
					fmt.Fprintf(&b, "step %2d: done\n", step)
					break
				}
				// The world: the pods that were there become available,
				// the pods follow the specs.
				for _, rs := range all {
					rs.Status.AvailableReplicas = min(rs.Status.Replicas, replicasOf(rs))
					rs.Status.ReadyReplicas = rs.Status.AvailableReplicas
					rs.Status.Replicas = replicasOf(rs)
				}
				pods := oldRS.Status.Replicas + newRS.Status.Replicas
				available := oldRS.Status.AvailableReplicas + newRS.Status.AvailableReplicas
				fmt.Fprintf(&b, "step %2d: %-20s old %2d (%2d avail)  new %2d (%2d avail)  pods %2d  available %2d\n",
					step, action, oldRS.Status.Replicas, oldRS.Status.AvailableReplicas, newRS.Status.Replicas, newRS.Status.AvailableReplicas, pods, available)
				if pods > maxPods || available < minAvailable {
					t.Errorf("step %d breaks the bounds: %d pods, %d available", step, pods, available)
				}
				// Then the new pods become available.
				newRS.Status.AvailableReplicas = newRS.Status.Replicas
				newRS.Status.ReadyReplicas = newRS.Status.Replicas
			}
			if replicasOf(newRS) != tt.replicas || replicasOf(oldRS) != 0 {
				t.Errorf("rollout did not finish: old %d new %d", replicasOf(oldRS), replicasOf(newRS))
			}
			golden.Assert(t, filepath.Join("testdata", "rollout_"+tt.name+".txt"), b.String())
		})
	}
}
