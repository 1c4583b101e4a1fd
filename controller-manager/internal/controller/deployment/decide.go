package deployment

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// State is what one sync of a Deployment sees.
type State struct {
	// Deployment is the Deployment, as the cache has it.
	Deployment *appsv1.Deployment
	// ReplicaSets are the ReplicaSets it owns.
	ReplicaSets []*appsv1.ReplicaSet
	// Pods are its pods by the UID of their ReplicaSet: Recreate waits
	// for the old ones to be gone. Nil for the other strategies.
	Pods map[types.UID][]*corev1.Pod
	Now  time.Time
}

// Step is the branch a sync takes.
type Step string

// Steps.
const (
	// StepDeleting: the Deployment is being deleted; its status is kept
	// up to date, nothing else.
	StepDeleting Step = "deleting"
	// StepScale: the Deployment is paused, or its replicas changed since
	// its ReplicaSets were sized; they are resized, nothing rolls.
	StepScale Step = "scale"
	// StepRolling and StepRecreate: one step of a rollout by the
	// Deployment's strategy.
	StepRolling  Step = "rolling"
	StepRecreate Step = "recreate"
)

// Plan is what one sync does, in this order: set the pause condition;
// bring the new ReplicaSet into place; resize ReplicaSets; delete old
// ones; write the Deployment's status.
type Plan struct {
	Step Step
	// Pause, if set, is the Progressing condition that pausing or
	// resuming the Deployment sets.
	Pause *appsv1.DeploymentCondition
	// NewRS is what becomes of the new ReplicaSet, the one with the
	// Deployment's template.
	NewRS NewRSPlan
	// Scale resizes ReplicaSets, in order.
	Scale []Resize
	// CleanUp are old ReplicaSets to delete, beyond revisionHistoryLimit.
	CleanUp []*appsv1.ReplicaSet
	// RolloutStatus: the status written last carries the Progressing
	// condition of a rollout; else only the counts and Available.
	RolloutStatus bool
}

// NewRSPlan is what a sync does about the new ReplicaSet before sizing.
type NewRSPlan struct {
	// Name is the new ReplicaSet's, "" if there is none (and none is
	// created).
	Name string
	// Update is the existing new ReplicaSet with its annotations and
	// minReadySeconds brought up to date; nil if they are.
	Update *appsv1.ReplicaSet
	// Create is the new ReplicaSet to create: there is none and the step
	// rolls out.
	Create *appsv1.ReplicaSet
	// Revision, if set, is the Deployment's revision annotation once
	// the new ReplicaSet is in place.
	Revision string
	// Progressing, if set, is the condition that says so:
	// FoundNewReplicaSet, or NewReplicaSetCreated once it is created.
	Progressing *appsv1.DeploymentCondition
}

// Resize sets a ReplicaSet's replicas, and the size annotations that
// proportional scaling reads back.
type Resize struct {
	Name     string
	Replicas int32
	// Op is "up" or "down" for the event; "" works it out.
	Op string
}

// Decide is the pure part of a Deployment's sync. A Deployment being
// deleted only has its status kept up to date; a paused one, or one
// whose replicas changed mid-rollout, has its ReplicaSets resized in
// proportion; otherwise one step of its strategy rolls it out:
// RollingUpdate grows the new ReplicaSet as far as maxSurge allows, else
// shrinks the old ones as far as maxUnavailable allows; Recreate scales
// the old ones to zero and, once their pods are gone, the new one to
// replicas. A finished rollout cleans up old revisions.
func Decide(s State) Plan {
	// Conditions set on the way are seen by the decisions after them,
	// as the writes that carry them out will be.
	d := s.Deployment.DeepCopy()
	if d.DeletionTimestamp != nil {
		p := Plan{Step: StepDeleting}
		p.NewRS, _, _ = decideNewRS(d, s.ReplicaSets, false, s.Now)
		return p
	}
	p := Plan{Pause: pauseCondition(d, s.Now)}
	if p.Pause != nil {
		SetCondition(&d.Status, *p.Pause)
	}
	existing := FindNewReplicaSet(d, s.ReplicaSets)
	switch {
	case d.Spec.Paused || IsScalingEvent(d, all(existing, FindOldReplicaSets(s.ReplicaSets, existing))):
		p.Step = StepScale
		decideScale(&p, d, s)
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		p.Step, p.RolloutStatus = StepRecreate, true
		decideRecreate(&p, d, s, existing)
	default:
		p.Step, p.RolloutStatus = StepRolling, true
		decideRolling(&p, d, s)
	}
	return p
}

// pauseCondition is the Progressing condition that shows a pause or a
// resume not yet shown; nil if there is none to set. A rollout past its
// deadline keeps saying so.
func pauseCondition(d *appsv1.Deployment, now time.Time) *appsv1.DeploymentCondition {
	if !hasProgressDeadline(d) {
		return nil
	}
	cur := Condition(d.Status, appsv1.DeploymentProgressing)
	if cur != nil && cur.Reason == ReasonTimedOut {
		return nil
	}
	pausedShown := cur != nil && cur.Reason == ReasonPaused
	var c appsv1.DeploymentCondition
	switch {
	case d.Spec.Paused && !pausedShown:
		c = newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", now)
	case !d.Spec.Paused && pausedShown:
		c = newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", now)
	default:
		return nil
	}
	return &c
}

// decideNewRS finds the new ReplicaSet and brings its revision up to
// date, or, with create, plans it when there is none. It returns the
// new ReplicaSet (as it will be created, if it will be) and the old ones.
func decideNewRS(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool, now time.Time) (NewRSPlan, *appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	existing := FindNewReplicaSet(d, rsList)
	old := FindOldReplicaSets(rsList, existing)
	newRevision := MaxRevision(old) + 1
	var p NewRSPlan
	var progressing appsv1.DeploymentCondition
	switch {
	case existing != nil:
		p.Name = existing.Name
		rs := existing.DeepCopy()
		if ReplicaSetAnnotations(d, rs, newRevision, true) || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			// The Deployment follows once the ReplicaSet's update is seen.
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			p.Update = rs
			return p, existing, old
		}
		p.Revision = rs.Annotations[RevisionAnnotation]
		if hasProgressDeadline(d) && Condition(d.Status, appsv1.DeploymentProgressing) == nil {
			progressing = newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonFoundNewReplicaSet,
				fmt.Sprintf("Found new replica set %q", rs.Name), now)
			p.Progressing = &progressing
		}
	case !create:
		return p, nil, old
	default:
		p.Create = NewReplicaSet(d, old, newRevision)
		p.Name = p.Create.Name
		p.Revision = strconv.FormatInt(newRevision, 10)
		if hasProgressDeadline(d) {
			progressing = newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetCreated,
				fmt.Sprintf("Created new replica set %q", p.Name), now)
			p.Progressing = &progressing
		}
	}
	if p.Revision == d.Annotations[RevisionAnnotation] {
		p.Revision = ""
	}
	newRS := existing
	if newRS == nil {
		newRS = p.Create
	}
	return p, newRS, old
}

// decideScale resizes the ReplicaSets of a paused Deployment, or of one
// whose replicas changed, per Scale; a paused one cleans up too.
func decideScale(p *Plan, d *appsv1.Deployment, s State) {
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	p.NewRS, newRS, old = decideNewRS(d, s.ReplicaSets, false, s.Now)
	sizes, op := Scale(d, newRS, old)
	for _, rs := range all(newRS, old) {
		if size, ok := sizes[rs.Name]; ok {
			p.resize(d, rs, size, op)
		}
	}
	if d.Spec.Paused {
		p.CleanUp = cleanUp(d, old, p.Scale)
	}
}

// decideRolling is one step of a RollingUpdate: grow the new ReplicaSet,
// if it may grow; else shrink the old ones as far as they may shrink;
// else, once the rollout is complete, clean up.
func decideRolling(p *Plan, d *appsv1.Deployment, s State) {
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	p.NewRS, newRS, old = decideNewRS(d, s.ReplicaSets, true, s.Now)
	allRS := all(newRS, old)
	// A new ReplicaSet whose size changes is this step: the old wait.
	newResized := false
	switch {
	case replicasOf(newRS) > desired(d):
		p.resize(d, newRS, desired(d), "down")
		newResized = true
	case replicasOf(newRS) < desired(d):
		size := NewRSReplicas(d, allRS, newRS)
		p.resize(d, newRS, size, "up")
		newResized = size != replicasOf(newRS)
	}
	if newResized {
		return
	}
	sizes := ScaleDownOld(d, allRS, activeOnly(old), newRS)
	shrinks := false
	for _, rs := range byCreationCopy(old) {
		if size, ok := sizes[rs.Name]; ok {
			p.resize(d, rs, size, "down")
			shrinks = shrinks || size != replicasOf(rs)
		}
	}
	if !shrinks && complete(d, &d.Status) {
		p.CleanUp = cleanUp(d, old, p.Scale)
	}
}

// decideRecreate is one step of a Recreate rollout: the old ReplicaSets
// to zero; once their pods are all gone (terminating ones too: Recreate
// means no overlap), the new ReplicaSet, created if need be, to
// replicas; then clean up.
func decideRecreate(p *Plan, d *appsv1.Deployment, s State, existing *appsv1.ReplicaSet) {
	old := FindOldReplicaSets(s.ReplicaSets, existing)
	active := activeOnly(old)
	for _, rs := range active {
		p.resize(d, rs, 0, "down")
	}
	oldGone := len(active) == 0 && !oldPodsRunning(existing, old, s.Pods)
	var newRS *appsv1.ReplicaSet
	p.NewRS, newRS, old = decideNewRS(d, s.ReplicaSets, oldGone, s.Now)
	if !oldGone {
		return
	}
	p.resize(d, newRS, desired(d), "up")
	if complete(d, &d.Status) {
		p.CleanUp = cleanUp(d, old, p.Scale)
	}
}

// resize adds to the plan the resize of rs to size, unless it would
// change nothing: neither its size nor its size annotations.
func (p *Plan) resize(d *appsv1.Deployment, rs *appsv1.ReplicaSet, size int32, op string) {
	if replicasOf(rs) == size && !setSizeAnnotations(rs.DeepCopy(), desired(d), desired(d)+MaxSurge(d)) {
		return
	}
	p.Scale = append(p.Scale, Resize{Name: rs.Name, Replicas: size, Op: op})
}

// oldPodsRunning reports whether any pod of an old ReplicaSet is still
// there and not finished.
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

// cleanUp is ToCleanUp of old less the ReplicaSets the plan resizes: a
// resize moves a ReplicaSet's generation past its observed one, which
// keeps it.
func cleanUp(d *appsv1.Deployment, old []*appsv1.ReplicaSet, resized []Resize) []*appsv1.ReplicaSet {
	sizes := map[string]int32{}
	for _, r := range resized {
		sizes[r.Name] = r.Replicas
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range ToCleanUp(d, old) {
		if size, ok := sizes[rs.Name]; ok && size != replicasOf(rs) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

// all is old and, if there is one, the new ReplicaSet.
func all(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		out = append(out, newRS)
	}
	return out
}
