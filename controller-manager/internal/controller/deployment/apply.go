package deployment

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rollout carries out one Plan for one Deployment: d is a private copy,
// kept up to date with what it writes, and rsList the Deployment's
// ReplicaSets as last read or written.
type rollout struct {
	c      *Controller
	d      *appsv1.Deployment
	rsList []*appsv1.ReplicaSet
}

// apply carries out p, in the order Plan gives; the status goes last.
func (r *rollout) apply(ctx context.Context, p Plan) error {
	if p.Pause != nil {
		SetCondition(&r.d.Status, *p.Pause)
		if err := r.writeStatus(ctx); err != nil {
			return err
		}
	}
	if placed, err := r.placeNewRS(ctx, p.NewRS); !placed || err != nil {
		return err
	}
	for _, s := range p.Scale {
		if rs := r.find(s.Name); rs != nil {
			if err := r.scaleTo(ctx, rs, s.Replicas, s.Op); err != nil {
				return err
			}
		}
	}
	if err := r.cleanup(ctx, p.CleanUp); err != nil {
		return err
	}
	newRS, old := r.newAndOld(p.NewRS.Name)
	if p.RolloutStatus {
		return r.syncRolloutStatus(ctx, newRS, old)
	}
	return r.syncStatus(ctx, newRS, old)
}

// placeNewRS updates or creates the new ReplicaSet and records its
// revision on the Deployment. It reports false when the sync must stop
// here: the new ReplicaSet exists already, and the cache, which did not
// show it, is behind; its arrival brings the Deployment back.
func (r *rollout) placeNewRS(ctx context.Context, p NewRSPlan) (bool, error) {
	d := r.d
	switch {
	case p.Update != nil:
		updated, err := r.c.client.AppsV1().ReplicaSets(p.Update.Namespace).Update(ctx, p.Update, metav1.UpdateOptions{})
		if err != nil {
			return false, fmt.Errorf("update replicaset %s: %w", p.Update.Name, err)
		}
		r.replace(updated)
		return true, nil
	case p.Create != nil:
		created, err := r.c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, p.Create, metav1.CreateOptions{})
		if err != nil {
			return false, r.createFailed(ctx, p.Create, err)
		}
		if size := replicasOf(created); size > 0 {
			r.c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScaling, "Scaled up replica set %s from 0 to %d", created.Name, size)
		}
		r.rsList = append(r.rsList, created)
	}
	if p.Revision == "" && p.Progressing == nil {
		return true, nil
	}
	if p.Revision != "" {
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[RevisionAnnotation] = p.Revision
	}
	if p.Progressing != nil {
		SetCondition(&d.Status, *p.Progressing)
	}
	return true, r.writeStatus(ctx)
}

// createFailed handles a failed creation of the new ReplicaSet rs: one
// that exists already is ours (the cache is behind: nil, and the sync
// stops) or a hash collision, counted so that the next sync tries the
// next hash; any other failure is recorded on the Deployment.
func (r *rollout) createFailed(ctx context.Context, rs *appsv1.ReplicaSet, err error) error {
	d := r.d
	switch {
	case apierrors.IsAlreadyExists(err):
		found, gerr := r.c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if ref := metav1.GetControllerOf(found); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&d.Spec.Template, &found.Spec.Template) {
			r.c.log.Debug("new replicaset exists but is not cached yet", zap.String("replicaset", d.Namespace+"/"+rs.Name))
			return nil
		}
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if werr := r.writeStatus(ctx); werr != nil {
			return werr
		}
		return fmt.Errorf("replicaset %s exists with another template; collision count now %d", rs.Name, *d.Status.CollisionCount)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return err
	}
	msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
	if hasProgressDeadline(d) {
		SetCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonFailedRSCreate, msg, r.c.clock.Now()))
		_ = r.writeStatus(ctx)
	}
	r.c.recorder.Event(d, corev1.EventTypeWarning, ReasonFailedRSCreate, msg)
	return err
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

// newAndOld are the new ReplicaSet, named newName, and the others, as
// last written.
func (r *rollout) newAndOld(newName string) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range r.rsList {
		if newName != "" && rs.Name == newName {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

// scaleTo sets a ReplicaSet's replicas (and size annotations) and
// records the event. op is "up", "down" or "" to work it out.
func (r *rollout) scaleTo(ctx context.Context, rs *appsv1.ReplicaSet, size int32, op string) error {
	d := r.d
	sizeChanged := replicasOf(rs) != size
	next := rs.DeepCopy()
	annotationsChanged := setSizeAnnotations(next, desired(d), desired(d)+MaxSurge(d))
	if !sizeChanged && !annotationsChanged {
		return nil
	}
	from := replicasOf(rs)
	next.Spec.Replicas = &size
	updated, err := r.c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("scale replicaset %s to %d: %w", rs.Name, size, err)
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
	return nil
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
	if !reflect.DeepEqual(r.d.Status, st) {
		r.d.Status = st
		if err := r.writeStatus(ctx); err != nil {
			return ignoreGone(err)
		}
	}
	if after := RecheckIn(r.d, st, now); after > 0 {
		r.c.EnqueueAfter(r.d.Namespace+"/"+r.d.Name, after)
	}
	return nil
}

// cleanup deletes old ReplicaSets beyond revisionHistoryLimit.
func (r *rollout) cleanup(ctx context.Context, list []*appsv1.ReplicaSet) error {
	var errs []error
	for _, rs := range list {
		err := r.c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete old replicaset %s: %w", rs.Name, err))
		}
	}
	return errors.Join(errs...)
}
