package deployment

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// rollout is one sync of one Deployment: d is a private copy, kept up
// to date with what this sync writes.
type rollout struct {
	c      *Controller
	d      *appsv1.Deployment
	rsList []*appsv1.ReplicaSet
}

func (r *rollout) now() metav1.Time { return metav1.NewTime(r.c.clock.Now()) }

// replicaSets finds the new and old ReplicaSets and brings the revision
// annotations up to date; with create it creates the new ReplicaSet when
// there is none.
func (r *rollout) replicaSets(ctx context.Context, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := FindNewReplicaSet(r.d, r.rsList)
	old := FindOldReplicaSets(r.rsList, existing)
	newRevision := MaxRevision(old) + 1
	newRS, err := r.newReplicaSet(ctx, existing, old, newRevision, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, old, nil
}

func (r *rollout) newReplicaSet(ctx context.Context, existing *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, newRevision int64, create bool) (*appsv1.ReplicaSet, error) {
	d := r.d
	if existing != nil {
		rs := existing.DeepCopy()
		changed := ReplicaSetAnnotations(d, rs, newRevision, true)
		if changed || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := r.c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("update replicaset %s: %w", rs.Name, err)
			}
			r.replace(updated)
			return updated, nil
		}
		needsUpdate := r.setRevision(rs.Annotations[RevisionAnnotation])
		if hasProgressDeadline(d) && Condition(d.Status, appsv1.DeploymentProgressing) == nil {
			SetCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonFoundNewReplicaSet,
				fmt.Sprintf("Found new replica set %q", rs.Name), r.c.clock.Now()))
			needsUpdate = true
		}
		if needsUpdate {
			if err := r.writeStatus(ctx); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	hash := ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	template := *d.Spec.Template.DeepCopy()
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[HashLabel] = hash
	selector := d.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[HashLabel] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, kind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	size := NewRSReplicas(d, append(append([]*appsv1.ReplicaSet(nil), old...), rs), rs)
	rs.Spec.Replicas = &size
	ReplicaSetAnnotations(d, rs, newRevision, false)

	created, err := r.c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExisted := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExisted = true
		found, gerr := r.c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if ref := metav1.GetControllerOf(found); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&d.Spec.Template, &found.Spec.Template) {
			created, err = found, nil
			break
		}
		// A hash collision: another template took the name. Count it
		// and try again with the next hash.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if werr := r.writeStatus(ctx); werr != nil {
			return nil, werr
		}
		return nil, fmt.Errorf("replicaset %s exists with another template; collision count now %d", rs.Name, *d.Status.CollisionCount)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			SetCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonFailedRSCreate, msg, r.c.clock.Now()))
			_ = r.writeStatus(ctx)
		}
		r.c.recorder.Event(d, corev1.EventTypeWarning, ReasonFailedRSCreate, msg)
		return nil, err
	}
	if !alreadyExisted && size > 0 {
		r.c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScaling, "Scaled up replica set %s from 0 to %d", created.Name, size)
	}
	needsUpdate := r.setRevision(strconv.FormatInt(newRevision, 10))
	if !alreadyExisted && hasProgressDeadline(d) {
		SetCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), r.c.clock.Now()))
		needsUpdate = true
	}
	r.rsList = append(r.rsList, created)
	if needsUpdate {
		if err := r.writeStatus(ctx); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// setRevision sets the Deployment's revision annotation; it reports
// whether it changed.
func (r *rollout) setRevision(rev string) bool {
	if rev == "" || r.d.Annotations[RevisionAnnotation] == rev {
		return false
	}
	if r.d.Annotations == nil {
		r.d.Annotations = map[string]string{}
	}
	r.d.Annotations[RevisionAnnotation] = rev
	return true
}

// writeStatus writes the Deployment's status (and annotations) and keeps
// the written object.
func (r *rollout) writeStatus(ctx context.Context) error {
	updated, err := r.c.client.AppsV1().Deployments(r.d.Namespace).UpdateStatus(ctx, r.d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update deployment %s/%s status: %w", r.d.Namespace, r.d.Name, err)
	}
	r.d = updated
	return nil
}

// replace swaps rs into the list after a write.
func (r *rollout) replace(rs *appsv1.ReplicaSet) {
	for i := range r.rsList {
		if r.rsList[i].UID == rs.UID {
			r.rsList[i] = rs
		}
	}
}

func (r *rollout) find(name string) *appsv1.ReplicaSet {
	for _, rs := range r.rsList {
		if rs.Name == name {
			return rs
		}
	}
	return nil
}

// scaleTo sets a ReplicaSet's replicas (and size annotations) and
// records the event. op is "up", "down" or "" to work it out.
func (r *rollout) scaleTo(ctx context.Context, rs *appsv1.ReplicaSet, size int32, op string) (*appsv1.ReplicaSet, bool, error) {
	d := r.d
	sizeChanged := replicasOf(rs) != size
	next := rs.DeepCopy()
	annotationsChanged := setSizeAnnotations(next, desired(d), desired(d)+MaxSurge(d))
	if !sizeChanged && !annotationsChanged {
		return rs, false, nil
	}
	from := replicasOf(rs)
	next.Spec.Replicas = &size
	updated, err := r.c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("scale replicaset %s to %d: %w", rs.Name, size, err)
	}
	r.replace(updated)
	if sizeChanged {
		if op == "" {
			op = "down"
			if size > from {
				op = "up"
			}
		}
		r.c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScaling, "Scaled %s replica set %s from %d to %d", op, rs.Name, from, size)
		r.c.log.Debug("scaled replicaset", zap.String("replicaset", rs.Namespace+"/"+rs.Name), zap.Int32("from", from), zap.Int32("to", size))
	}
	return updated, sizeChanged, nil
}

func (r *rollout) checkPausedConditions(ctx context.Context) error {
	d := r.d
	if !hasProgressDeadline(d) {
		return nil
	}
	cur := Condition(d.Status, appsv1.DeploymentProgressing)
	if cur != nil && cur.Reason == ReasonTimedOut {
		return nil
	}
	pausedShown := cur != nil && cur.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !pausedShown:
		SetCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", r.c.clock.Now()))
	case !d.Spec.Paused && pausedShown:
		SetCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", r.c.clock.Now()))
	default:
		return nil
	}
	return r.writeStatus(ctx)
}

// scaleAndSync handles a paused Deployment or a scaling event: resize
// the ReplicaSets, no rollout.
func (r *rollout) scaleAndSync(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	sizes, op := Scale(r.d, newRS, old)
	for _, rs := range append(append([]*appsv1.ReplicaSet(nil), old...), newRS) {
		if rs == nil {
			continue
		}
		if size, ok := sizes[rs.Name]; ok {
			if _, _, err := r.scaleTo(ctx, rs, size, op); err != nil {
				return err
			}
		}
	}
	newRS, old = r.refresh(newRS, old)
	if r.d.Spec.Paused {
		if err := r.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return r.syncStatus(ctx, newRS, old)
}

// refresh returns the latest written versions of newRS and old.
func (r *rollout) refresh(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	if newRS != nil {
		newRS = r.find(newRS.Name)
	}
	out := make([]*appsv1.ReplicaSet, 0, len(old))
	for _, rs := range old {
		out = append(out, r.find(rs.Name))
	}
	return newRS, out
}

func all(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		out = append(out, newRS)
	}
	return out
}

// syncStatus writes the status without the Progressing estimate.
func (r *rollout) syncStatus(ctx context.Context, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	st := CalculateStatus(r.d, all(newRS, old), newRS, r.c.clock.Now())
	if reflect.DeepEqual(r.d.Status, st) {
		return nil
	}
	r.d.Status = st
	return ignoreGone(r.writeStatus(ctx))
}

func (r *rollout) syncStatusOnly(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	return r.syncStatus(ctx, newRS, old)
}

// syncRolloutStatus writes the status with the Progressing condition and
// asks to be woken when the progress deadline would pass.
func (r *rollout) syncRolloutStatus(ctx context.Context, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	now := r.c.clock.Now()
	allRS := all(newRS, old)
	st := CalculateStatus(r.d, allRS, newRS, now)
	st = RolloutStatus(r.d, st, newRS, now)
	if c := replicaFailure(allRS, newRS); c != nil {
		SetCondition(&st, *c)
	} else {
		RemoveCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	if reflect.DeepEqual(r.d.Status, st) {
		if after := RecheckIn(r.d, st, now); after > 0 {
			r.c.queue.AddAfter(r.d.Namespace+"/"+r.d.Name, after)
		}
		return nil
	}
	r.d.Status = st
	if err := r.writeStatus(ctx); err != nil {
		return ignoreGone(err)
	}
	if after := RecheckIn(r.d, st, now); after > 0 {
		r.c.queue.AddAfter(r.d.Namespace+"/"+r.d.Name, after)
	}
	return nil
}

// replicaFailure lifts a ReplicaSet's ReplicaFailure to the Deployment,
// the new ReplicaSet's first.
func replicaFailure(allRS []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	conv := func(rs *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{
					Type: appsv1.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason, Message: c.Message,
					LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime,
				}
			}
		}
		return nil
	}
	if newRS != nil {
		if c := conv(newRS); c != nil {
			return c
		}
	}
	for _, rs := range allRS {
		if c := conv(rs); c != nil {
			return c
		}
	}
	return nil
}

// rolling is one step of a RollingUpdate: grow the new ReplicaSet as far
// as maxSurge allows, else shrink the old ones as far as maxUnavailable
// allows, else, when complete, clean up old revisions.
func (r *rollout) rolling(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, true)
	if err != nil {
		return err
	}
	allRS := all(newRS, old)
	d := r.d

	// Scale up, if we can.
	scaled := false
	switch {
	case replicasOf(newRS) > desired(d):
		_, scaled, err = r.scaleTo(ctx, newRS, desired(d), "down")
	case replicasOf(newRS) < desired(d):
		_, scaled, err = r.scaleTo(ctx, newRS, NewRSReplicas(d, allRS, newRS), "up")
	}
	if err != nil {
		return err
	}
	if scaled {
		newRS, old = r.refresh(newRS, old)
		return r.syncRolloutStatus(ctx, newRS, old)
	}

	// Scale down, if we can.
	sizes := ScaleDownOld(d, allRS, activeOnly(old), newRS)
	scaledDown := false
	for _, rs := range byCreationCopy(old) {
		size, ok := sizes[rs.Name]
		if !ok {
			continue
		}
		_, changed, err := r.scaleTo(ctx, rs, size, "down")
		if err != nil {
			return err
		}
		scaledDown = scaledDown || changed
	}
	newRS, old = r.refresh(newRS, old)
	if !scaledDown && complete(d, &d.Status) {
		if err := r.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, newRS, old)
}

func activeOnly(list []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range list {
		if isActive(rs) {
			out = append(out, rs)
		}
	}
	return out
}

func byCreationCopy(list []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), list...)
	byCreation(out)
	return out
}

// recreate is one step of a Recreate rollout: old ReplicaSets to zero;
// once their pods are all gone, the new ReplicaSet to replicas.
func (r *rollout) recreate(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	scaledDown := false
	for _, rs := range activeOnly(old) {
		_, changed, err := r.scaleTo(ctx, rs, 0, "down")
		if err != nil {
			return err
		}
		scaledDown = scaledDown || changed
	}
	if scaledDown {
		newRS, old = r.refresh(newRS, old)
		return r.syncRolloutStatus(ctx, newRS, old)
	}
	podMap, err := r.c.podsByReplicaSet(r.d, r.rsList)
	if err != nil {
		return err
	}
	if oldPodsRunning(newRS, old, podMap) {
		return r.syncRolloutStatus(ctx, newRS, old)
	}
	if newRS == nil {
		if newRS, old, err = r.replicaSets(ctx, true); err != nil {
			return err
		}
	}
	if _, _, err := r.scaleTo(ctx, newRS, desired(r.d), "up"); err != nil {
		return err
	}
	newRS, old = r.refresh(newRS, old)
	if complete(r.d, &r.d.Status) {
		if err := r.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, newRS, old)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet is still
// there and not finished (terminating pods count: Recreate means no
// overlap).
func oldPodsRunning(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, podMap map[types.UID][]*corev1.Pod) bool {
	for _, rs := range old {
		if rs.Status.Replicas > 0 {
			return true
		}
	}
	for uid, pods := range podMap {
		if newRS != nil && newRS.UID == uid {
			continue
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
				return true
			}
		}
	}
	return false
}

// cleanup deletes old ReplicaSets beyond revisionHistoryLimit.
func (r *rollout) cleanup(ctx context.Context, old []*appsv1.ReplicaSet) error {
	var errs []error
	for _, rs := range ToCleanUp(r.d, old) {
		err := r.c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete old replicaset %s: %w", rs.Name, err))
		}
	}
	return errors.Join(errs...)
}
