// Package statefulset is the StatefulSet controller: pods name-0 …
// name-(N-1) with stable hostnames in the subdomain of the governing
// (headless) Service, one PersistentVolumeClaim per pod and claim
// template (kept, or deleted with its pod or the set, as the set's
// persistentVolumeClaimRetentionPolicy says: retention.go),
// OrderedReady (one at a time, in order, halting at an unhealthy pod)
// or Parallel pod management, and RollingUpdate with a partition and
// maxUnavailable, or OnDelete. Failed pods are deleted and recreated.
//
// The set's templates are kept as ControllerRevisions (revisions.go):
// pods below the partition are created from the current revision's
// template, the others from the update revision's, so a pod deleted
// during a canary comes back at the revision it had.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
	"coracle.dev/controller-manager/internal/controllerkit/history"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Name is the controller's name.
const Name = "statefulset-controller"

// Event reasons, as Kubernetes records them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
	ReasonFailedDelete     = "FailedDelete"
)

var kind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller is the StatefulSet controller.
type Controller struct {
	*controller.Base
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	revisions appslisters.ControllerRevisionLister
	owned     controller.OwnedPods
	claims    corelisters.PersistentVolumeClaimLister
	recorder  record.EventRecorder
	clock     clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	setInf := c.Informers.Apps().V1().StatefulSets()
	revInf := c.Informers.Apps().V1().ControllerRevisions()
	podInf := c.Informers.Core().V1().Pods()
	owned, err := c.OwnedPods()
	if err != nil {
		return nil, err
	}
	pvcInf := c.Informers.Core().V1().PersistentVolumeClaims()
	ctl := &Controller{
		client: c.Client, sets: setInf.Lister(), revisions: revInf.Lister(), owned: owned,
		claims: pvcInf.Lister(), recorder: c.Recorder, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.WaitFor(revInf.Informer())
	// A pod waits for a claim of an older pod of its name to go (under
	// whenScaled Delete): the claim's deletion queues the sets whose
	// selector its labels (copied from the set's) match.
	selecting := controller.Selecting(func(ns string) ([]*appsv1.StatefulSet, error) {
		return ctl.sets.StatefulSets(ns).List(labels.Everything())
	}, func(s *appsv1.StatefulSet) *metav1.LabelSelector { return s.Spec.Selector })
	return ctl, errors.Join(
		ctl.Watch(setInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), ctl.Owners(kind)),
		ctl.Watch(pvcInf.Informer(), controller.Handlers[*corev1.PersistentVolumeClaim]{Delete: func(pvc *corev1.PersistentVolumeClaim) {
			for _, key := range selecting(pvc) {
				ctl.Enqueue(key)
			}
		}}),
	)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*appsv1.StatefulSet](key, c.sets.StatefulSets)
	if !ok {
		return err
	}
	ns, name := cached.Namespace, cached.Name
	set := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		// An invalid selector is the user's to fix; retrying won't help.
		return nil
	}
	recheck := func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	all, err := c.owned.List(ns, set.UID)
	if err != nil {
		return err
	}
	var members []*corev1.Pod
	for _, p := range all {
		// Only pods named as members are adopted.
		if Ordinal(set, p) >= 0 {
			members = append(members, p)
		}
	}
	pods, claimErr := claim.Claim(ctx, claim.NewManager(set, kind, selector, claim.PodPatcher(c.client), recheck), members)
	now := c.clock.Now()

	if set.DeletionTimestamp != nil {
		// Only the status, until the garbage collector is done.
		cc := int32(0)
		if set.Status.CollisionCount != nil {
			cc = *set.Status.CollisionCount
		}
		st := Status(set, pods, set.Status.CurrentRevision, set.Status.UpdateRevision, cc, now)
		return errors.Join(claimErr, c.writeStatus(ctx, set, st))
	}

	h, err := c.history(ctx, set, selector, recheck)
	if err != nil {
		return errors.Join(claimErr, err)
	}
	plan := Decide(set, pods, h.update.Name, now)
	replaced, actErr := c.act(ctx, set, plan, h)
	st := Status(set, pods, h.current.Name, h.update.Name, h.collisionCount, now)
	// The pods deleted for the update no longer run the current
	// revision, though the cache still shows them.
	st.CurrentReplicas -= int32(replaced)
	statusErr := c.writeStatus(ctx, set, st)
	truncErr := c.truncate(ctx, set, pods, h)
	if d := nextAvailable(set, pods, now); d > 0 {
		c.EnqueueAfter(key, d)
	}
	return errors.Join(claimErr, actErr, statusErr, truncErr)
}

// writeStatus writes st if it differs from set's status.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	if reflect.DeepEqual(st, set.Status) {
		return nil
	}
	next := set.DeepCopy()
	next.Status = st
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update statefulset %s/%s status: %w", set.Namespace, set.Name, err)
	}
	return nil
}

// nextAvailable is how long until the first ready pod that is not yet
// available for minReadySeconds becomes so: OrderedReady waits for it.
func nextAvailable(set *appsv1.StatefulSet, pods []*corev1.Pod, now time.Time) time.Duration {
	var soonest time.Duration
	for _, p := range pods {
		if d := podstate.AvailableIn(p, set.Spec.MinReadySeconds, now); d > 0 && (soonest == 0 || d < soonest) {
			soonest = d
		}
	}
	if soonest > 0 {
		// The condition's time has a second's precision.
		soonest += time.Second
	}
	return soonest
}

// act applies plan and returns how many pods it deleted for the update.
func (c *Controller) act(ctx context.Context, set *appsv1.StatefulSet, plan Plan, h setHistory) (int, error) {
	var errs []error
	if len(plan.Create) > 0 {
		currentTemplate, err := history.TemplateOf(h.current)
		if err != nil {
			return 0, err
		}
		for _, i := range plan.Create {
			template, revision := &set.Spec.Template, h.update.Name
			if UsesCurrentRevision(set, i) {
				template, revision = currentTemplate, h.current.Name
			}
			if err := c.create(ctx, set, NewPod(set, template, i, revision)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Claims first: a condemned pod deleted before its claims name it
	// their owner would leave them behind for good. So, as in
	// Kubernetes, a failure here holds back the scale-down and the
	// update; a failed pod in range is still replaced.
	var claimErrs []error
	for _, p := range plan.Claims {
		if err := c.updateClaimOwners(ctx, set, p, nil); err != nil {
			claimErrs = append(claimErrs, err)
		}
	}
	if len(claimErrs) > 0 {
		errs = append(errs, claimErrs...)
		for _, p := range plan.Delete {
			if inRange(set, p) {
				if err := c.delete(ctx, set, p); err != nil {
					errs = append(errs, err)
				}
			}
		}
		return 0, errors.Join(errs...)
	}
	for _, p := range plan.Delete {
		if err := c.delete(ctx, set, p); err != nil {
			errs = append(errs, err)
		}
	}
	replaced := 0
	for _, p := range plan.Update {
		if err := c.delete(ctx, set, p); err != nil {
			errs = append(errs, err)
			continue
		}
		replaced++
	}
	return replaced, errors.Join(errs...)
}

func (c *Controller) delete(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone already, or replaced by another pod of the same name.
		return nil
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedDelete, "delete Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulDelete, "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

// create makes the claims of pod that are missing, then pod, then
// gives its claims the owners the set's retention policy wants. A pod
// is not created on a claim of an older pod of its name, nor on one
// being deleted: it waits for the claim to go.
func (c *Controller) create(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	claims := NewClaims(set, Ordinal(set, pod))
	// The claims made here, which the cache may not show yet.
	fresh := map[string]*corev1.PersistentVolumeClaim{}
	for _, pvc := range claims {
		if old, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(pvc.Name); err == nil && podClaimIsStale(set, pod, old) {
			return fmt.Errorf("claim %s of pod %s belongs to an older pod: %w", pvc.Name, pod.Name, controller.ErrWaiting)
		}
	}
	for _, pvc := range claims {
		if old, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(pvc.Name); err == nil {
			if old.DeletionTimestamp != nil {
				err := fmt.Errorf("pvc %s is being deleted", pvc.Name)
				c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
				return fmt.Errorf("create pod %s: %w: %w", pod.Name, controller.ErrWaiting, err)
			}
			continue
		}
		made, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, pvc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "create Claim %s for Pod %s in StatefulSet %s failed error: %v", pvc.Name, pod.Name, set.Name, err)
			return fmt.Errorf("create claim %s: %w", pvc.Name, err)
		}
		if err == nil {
			c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "create Claim %s Pod %s in StatefulSet %s success", pvc.Name, pod.Name, set.Name)
			fresh[made.Name] = made
		}
	}
	created, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return c.updateClaimOwners(ctx, set, created, fresh)
}

// updateClaimOwners gives the claims of pod the owner references set's
// retention policy wants (Kubernetes' UpdatePodClaimForRetentionPolicy).
// A claim not there yet is skipped: it is made with its pod. fresh are
// claims just made, which the cache may not show yet.
func (c *Controller) updateClaimOwners(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, fresh map[string]*corev1.PersistentVolumeClaim) error {
	var errs []error
	for _, t := range set.Spec.VolumeClaimTemplates {
		name := ClaimName(set, t.Name, Ordinal(set, pod))
		cached, ok := fresh[name]
		var err error
		if !ok {
			cached, err = c.claims.PersistentVolumeClaims(set.Namespace).Get(name)
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if isClaimOwnerUpToDate(cached, set, pod) {
			continue
		}
		if hasUnexpectedController(cached, set, pod) {
			// Kubernetes' words, its misspelling included.
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonConflictingController, "PersistentVolumeClaim %s has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim", name)
		}
		// The cache may lag behind our own last update of the claim: on
		// a conflict, decide again on the claim as it is.
		claim := cached.DeepCopy()
		err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			updateClaimOwnerRefForSetAndPod(claim, set, pod)
			_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
			if !apierrors.IsConflict(err) {
				return err
			}
			live, getErr := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Get(ctx, name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			if isClaimOwnerUpToDate(live, set, pod) {
				return nil
			}
			claim = live
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update claim %s owner references for its retention policy: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// setHistory is a set's revisions, sorted, with its current and update
// revision and the collision count that named the latter.
type setHistory struct {
	revisions       []*appsv1.ControllerRevision
	current, update *appsv1.ControllerRevision
	collisionCount  int32
}

// history claims set's ControllerRevisions and finds (making it if
// need be) the revision of its template.
func (c *Controller) history(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector, recheck func(context.Context) (metav1.Object, error)) (setHistory, error) {
	var h setHistory
	listed, err := c.revisions.ControllerRevisions(set.Namespace).List(selector)
	if err != nil {
		return h, err
	}
	patch := func(ctx context.Context, namespace, name string, patch []byte) error {
		_, err := c.client.AppsV1().ControllerRevisions(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
	revisions, err := claim.Claim(ctx, claim.NewManager(set, kind, selector, patch, recheck), listed)
	if err != nil {
		return h, err
	}
	history.Sort(revisions)
	if set.Status.CollisionCount != nil {
		h.collisionCount = *set.Status.CollisionCount
	}
	proposed, err := NewRevision(set, history.Next(revisions), &h.collisionCount)
	if err != nil {
		return h, err
	}
	update, step := ChooseUpdateRevision(revisions, proposed)
	switch step {
	case RollBack:
		update, err = history.Renumber(ctx, c.client, update, proposed.Revision)
	case CreateRevision:
		update, err = history.Create(ctx, c.client, set.Namespace, &h.collisionCount, func(cc *int32) (*appsv1.ControllerRevision, error) {
			return NewRevision(set, proposed.Revision, cc)
		})
		if err == nil {
			revisions = append(revisions, update)
		}
	}
	if err != nil {
		return h, err
	}
	h.revisions, h.update = revisions, update
	h.current = CurrentRevision(set, revisions, update)
	return h, nil
}

// truncate deletes the revisions beyond the set's history limit.
func (c *Controller) truncate(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, h setHistory) error {
	var errs []error
	for _, r := range ExpiredRevisions(set, pods, h.revisions, h.current.Name, h.update.Name) {
		if err := history.Delete(ctx, c.client, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
