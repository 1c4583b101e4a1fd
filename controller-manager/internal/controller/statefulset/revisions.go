package statefulset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"coracle.dev/controller-manager/internal/controllerkit/history"
)

// RevisionHashLabel is the label of a ControllerRevision that holds the
// hash in its name, as Kubernetes' controller history sets it.
const RevisionHashLabel = "controller.kubernetes.io/hash"

// A StatefulSet's history is a list of ControllerRevisions
// (controllerkit/history). The update revision is the set's template
// now; the current revision (status.currentRevision) the one the set's
// pods ran before the update began, which the pods below the partition
// keep and are recreated at.

// NewRevision is set's template as revision number revision, named for
// the template and collisionCount (which the set raises when the name it
// wants is taken by another template), labelled with the template's labels and
// carrying the set's annotations, and owned by set.
func NewRevision(set *appsv1.StatefulSet, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	return history.New(history.Owner{Object: set, Kind: kind, Template: &set.Spec.Template, HashLabel: RevisionHashLabel}, revision, collisionCount)
}

// RevisionStep is how a sync comes by the update revision.
type RevisionStep int

// Revision steps.
const (
	// KeepRevision: the newest revision is the set's template already.
	KeepRevision RevisionStep = iota
	// RollBack: an older revision holds the template; it becomes the
	// newest by taking the next number.
	RollBack
	// CreateRevision: the template is new.
	CreateRevision
)

// ChooseUpdateRevision is the pure part of finding the update revision
// among sorted revisions for proposed, the set's template as the next
// revision: the revision to use and what to do with it (for RollBack,
// the existing revision to renumber to proposed.Revision; for
// CreateRevision, proposed itself).
func ChooseUpdateRevision(sorted []*appsv1.ControllerRevision, proposed *appsv1.ControllerRevision) (*appsv1.ControllerRevision, RevisionStep) {
	var latestEqual *appsv1.ControllerRevision
	for _, r := range sorted {
		if history.Equal(r, proposed) {
			latestEqual = r
		}
	}
	switch {
	case latestEqual == nil:
		return proposed, CreateRevision
	case latestEqual == sorted[len(sorted)-1]:
		return latestEqual, KeepRevision
	default:
		return latestEqual, RollBack
	}
}

// CurrentRevision is the revision status.currentRevision names, or
// update when there is none (a new set, or a lost revision).
func CurrentRevision(set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision, update *appsv1.ControllerRevision) *appsv1.ControllerRevision {
	for _, r := range revisions {
		if r.Name == set.Status.CurrentRevision {
			return r
		}
	}
	return update
}

// ExpiredRevisions are the revisions of sorted to delete to keep the
// set's revisionHistoryLimit: the oldest of those neither current, nor
// update, nor run by a pod.
func ExpiredRevisions(set *appsv1.StatefulSet, pods []*corev1.Pod, sorted []*appsv1.ControllerRevision, current, update string) []*appsv1.ControllerRevision {
	live := map[string]bool{current: true, update: true}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var history []*appsv1.ControllerRevision
	for _, r := range sorted {
		if !live[r.Name] {
			history = append(history, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if limit < 0 || len(history) <= limit {
		return nil
	}
	return history[:len(history)-limit]
}
