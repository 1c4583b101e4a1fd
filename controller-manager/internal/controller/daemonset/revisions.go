package daemonset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"coracle.dev/controller-manager/internal/controllerkit/history"
)

// A DaemonSet's templates are kept as ControllerRevisions
// (controllerkit/history), as Kubernetes' DaemonSet controller keeps
// them: the current revision holds the set's template and is the newest;
// its controller-revision-hash label is the hash new pods carry and
// updated pods are told by. Revisions of older templates stay, up to
// spec.revisionHistoryLimit of them beyond those live pods still run,
// for `kubectl rollout undo`.

// NewRevision is ds's template as revision number revision, named
// ds-hash for the template and collisionCount (which the set raises
// when the name it wants is taken by another template).
func NewRevision(ds *appsv1.DaemonSet, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	return history.New(history.Owner{Object: ds, Kind: kind, Template: &ds.Spec.Template, HashLabel: HashLabel}, revision, collisionCount)
}

// SplitHistory divides a set's revisions into those holding the
// template of proposed (normally one; more when a user made another)
// and the old ones.
func SplitHistory(revisions []*appsv1.ControllerRevision, proposed *appsv1.ControllerRevision) (current, old []*appsv1.ControllerRevision) {
	for _, r := range revisions {
		if history.Equal(r, proposed) {
			current = append(current, r)
		} else {
			old = append(old, r)
		}
	}
	return current, old
}

// KeepOf is the one of several revisions of the same template to keep:
// the highest numbered (the last of equals), as Kubernetes keeps it.
func KeepOf(current []*appsv1.ControllerRevision) *appsv1.ControllerRevision {
	var keep *appsv1.ControllerRevision
	for _, r := range current {
		if keep == nil || r.Revision >= keep.Revision {
			keep = r
		}
	}
	return keep
}

// ExpiredRevisions are the old revisions to delete to keep ds's
// revisionHistoryLimit (10 by default): as many as the old outnumber
// the limit, oldest first, passing over those a pod still runs, as
// Kubernetes' cleanupHistory does.
func ExpiredRevisions(ds *appsv1.DaemonSet, pods []*corev1.Pod, old []*appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	toKill := len(old) - limit
	if toKill <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, p := range pods {
		if h := p.Labels[HashLabel]; h != "" {
			live[h] = true
		}
	}
	sorted := append([]*appsv1.ControllerRevision(nil), old...)
	history.Sort(sorted)
	var out []*appsv1.ControllerRevision
	for _, r := range sorted {
		if toKill == 0 {
			break
		}
		if live[r.Labels[HashLabel]] {
			continue
		}
		out = append(out, r)
		toKill--
	}
	return out
}
