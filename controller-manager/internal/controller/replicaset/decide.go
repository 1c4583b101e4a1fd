package replicaset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// BurstReplicas caps the pods one sync creates or deletes, as Kubernetes
// does, so that one huge scale does not starve every other ReplicaSet.
const BurstReplicas = 500

// Plan is what a sync does to the pods of a ReplicaSet.
type Plan struct {
	// Create is how many pods to create.
	Create int
	// Delete are the pods to delete, in order.
	Delete []*corev1.Pod
}

// Decide is the pure part of a ReplicaSet's sync: given its active pods,
// how many to create or which to delete to reach spec.replicas, at most
// BurstReplicas at a time, deleting the pods Kubernetes would delete
// first (unscheduled, then not ready, then newest; see
// podstate.SortForDeletion).
func Decide(rs *appsv1.ReplicaSet, active []*corev1.Pod) Plan {
	want := int(replicas(rs))
	diff := len(active) - want
	switch {
	case diff < 0:
		return Plan{Create: min(-diff, BurstReplicas)}
	case diff > 0:
		pods := append([]*corev1.Pod(nil), active...)
		podstate.SortForDeletion(pods)
		return Plan{Delete: pods[:min(diff, BurstReplicas)]}
	}
	return Plan{}
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// Condition reasons of ReplicaFailure.
const (
	ReasonFailedCreate = "FailedCreate"
	ReasonFailedDelete = "FailedDelete"
)

// Status computes the ReplicaSet's status from its active pods at now.
// manageErr, with failedReason, is the error of the sync's creates or
// deletes, reported as the ReplicaFailure condition.
func Status(rs *appsv1.ReplicaSet, active []*corev1.Pod, manageErr error, failedReason string, now time.Time) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	template := labels.Set(rs.Spec.Template.Labels)
	var fully, ready, available int32
	for _, p := range active {
		if template.AsSelectorPreValidated().Matches(labels.Set(p.Labels)) {
			fully++
		}
		if podstate.IsReady(p) {
			ready++
			if podstate.IsAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	st.Replicas = int32(len(active))
	st.FullyLabeledReplicas = fully
	st.ReadyReplicas = ready
	st.AvailableReplicas = available
	st.ObservedGeneration = rs.Generation

	var conds []appsv1.ReplicaSetCondition
	var existing *appsv1.ReplicaSetCondition
	for i := range st.Conditions {
		if st.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
			existing = &st.Conditions[i]
			continue
		}
		conds = append(conds, st.Conditions[i])
	}
	if manageErr != nil {
		c := appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			Reason: failedReason, Message: manageErr.Error(), LastTransitionTime: metav1.NewTime(now),
		}
		if existing != nil && existing.Status == corev1.ConditionTrue {
			c.LastTransitionTime = existing.LastTransitionTime
		}
		conds = append(conds, c)
	}
	st.Conditions = conds
	return st
}
