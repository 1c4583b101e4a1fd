// Package job is the Job controller, Kubernetes' (v1.37) in Coracle's
// shape: it runs a Job's pods to completions at most parallelism at a
// time (one pod per index for an Indexed Job, JOB_COMPLETION_INDEX),
// replaces failed ones after an exponential back-off up to backoffLimit
// (or backoffLimitPerIndex, index by index), applies the pod failure
// policy (FailJob, FailIndex, Ignore, Count) and the success policy,
// stops at activeDeadlineSeconds, and suspends and resumes.
//
// A Job that ends gets an interim condition first (FailureTarget or
// SuccessCriteriaMet), its running pods are deleted, and only once none
// is left uncounted or terminating the terminal one (Failed or
// Complete), with the same reason.
//
// Finished pods are counted with Kubernetes' tracking finalizer: a pod
// keeps batch.kubernetes.io/job-tracking until the Job has recorded it
// in status.uncountedTerminatedPods (an Indexed Job's successes: in
// completedIndexes); the finalizer then goes, and the UID moves into
// status.succeeded or status.failed. A pod is so counted exactly once,
// even if it is deleted or the controller restarts in between. A pod
// that holds the finalizer but whose Job is gone (deleted, its namespace
// too) or that no Job controls any more loses it through a second queue
// (orphan.go), or it would stay Terminating for ever.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
	"coracle.dev/controller-manager/internal/controllerkit/expectations"
	"coracle.dev/controller-manager/internal/controllerkit/podcontrol"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Name is the controller's name.
const Name = "job-controller"

// ControllerName is the spec.managedBy value of the Jobs this controller
// runs (unset means the same); a Job managed by another controller is
// left to it entirely.
const ControllerName = batchv1.JobControllerName

var kind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller is the Job controller.
type Controller struct {
	*controller.Base
	client      kubernetes.Interface
	jobs        batchlisters.JobLister
	pods        corelisters.PodLister
	owned       controller.OwnedPods
	podCtl      podcontrol.Interface
	exp         *expectations.Expectations
	recorder    record.EventRecorder
	clock       clock.PassiveClock
	backoffBase time.Duration
	backoffMax  time.Duration
	// orphans holds the keys of pods whose tracking finalizer no Job
	// will remove (orphan.go).
	orphans *controller.Queue[string]

	mu sync.Mutex // guards written, removing and backoffs
	// written holds, per Job key, the Job as our last status write
	// returned it. The informer shows that write a moment later; a sync
	// in between must not start from the older copy, or it would count
	// a failed pod neither as recorded nor as uncounted (its finalizer
	// already gone) and replace it once too often.
	written map[string]*batchv1.Job
	// removing holds, per Job key, the pods whose tracking finalizer we
	// removed and the cache still shows: they are counted already, or
	// were never to be (ignored failures, pods deleted on success), and
	// must not be looked at again as finished pods to record.
	removing map[string]sets.Set[types.UID]
	// backoffs holds each Job's back-off record (Kubernetes keeps it in
	// memory too: after a restart the back-off starts afresh).
	backoffs map[string]BackoffRecord
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	jobInf := c.Informers.Batch().V1().Jobs()
	podInf := c.Informers.Core().V1().Pods()
	owned, err := c.OwnedPods()
	if err != nil {
		return nil, err
	}
	base, maxB := c.Settings.JobBackoffBase, c.Settings.JobBackoffMax
	if base == 0 {
		base = 10 * time.Second
	}
	if maxB == 0 {
		maxB = 6 * time.Minute
	}
	ctl := &Controller{
		client: c.Client, jobs: jobInf.Lister(), pods: podInf.Lister(), owned: owned,
		podCtl: &podcontrol.Control{Client: c.Client, Recorder: c.Recorder},
		exp:    expectations.New(c.Clock), recorder: c.Recorder, clock: c.Clock,
		backoffBase: base, backoffMax: maxB,
		written: map[string]*batchv1.Job{}, removing: map[string]sets.Set[types.UID]{}, backoffs: map[string]BackoffRecord{},
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.orphans = ctl.AddQueue(c, OrphanQueue, ctl.syncOrphan)
	return ctl, errors.Join(
		ctl.Watch(jobInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), ctl.ExpectedPods(kind, ctl.exp, controller.Selecting(
			func(ns string) ([]*batchv1.Job, error) { return ctl.jobs.Jobs(ns).List(labels.Everything()) },
			func(j *batchv1.Job) *metav1.LabelSelector { return j.Spec.Selector }))),
		ctl.watchOrphans(podInf.Informer(), jobInf.Informer()),
	)
}

// managedElsewhere reports whether another controller runs j.
func managedElsewhere(j *batchv1.Job) bool {
	return j.Spec.ManagedBy != nil && *j.Spec.ManagedBy != ControllerName
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*batchv1.Job](key, c.jobs.Jobs)
	if err != nil {
		return err
	}
	if !ok {
		c.exp.Delete(key)
		c.forget(key)
		return nil
	}
	if managedElsewhere(cached) {
		return nil
	}
	ns, name := cached.Namespace, cached.Name
	j := c.newest(key, cached).DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil {
		return nil
	}
	if cm := j.Spec.CompletionMode; cm != nil && *cm != batchv1.NonIndexedCompletion && *cm != batchv1.IndexedCompletion {
		c.recorder.Event(j, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	// Check the expectations before listing: a pod that comes into the
	// cache after the list then still holds the next sync back.
	satisfied := c.exp.Satisfied(key)
	all, err := c.owned.List(ns, j.UID)
	if err != nil {
		return err
	}
	mgr := claim.NewManager(j, kind, selector, claim.PodPatcher(c.client), func(ctx context.Context) (metav1.Object, error) {
		return c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	})
	pods, claimErr := claim.Claim(ctx, mgr, all)
	if satisfied {
		if err := c.adoptFinalizers(ctx, j, pods); err != nil {
			claimErr = errors.Join(claimErr, err)
		}
	}

	if done, _ := IsFinished(j); done {
		// Counted for good: what still holds the finalizer (a pod
		// adopted late, one whose release failed) is let go uncounted.
		c.mu.Lock()
		delete(c.removing, key)
		delete(c.backoffs, key)
		c.mu.Unlock()
		return errors.Join(claimErr, c.releaseAll(ctx, pods))
	}
	removing := c.removingOf(key, pods)
	c.mu.Lock()
	backoff := c.backoffs[key]
	c.mu.Unlock()
	plan := Decide(State{
		Job: j, Pods: pods, Removing: removing, Satisfied: satisfied, Backoff: backoff,
		Now: c.clock.Now(), BackoffBase: c.backoffBase, BackoffMax: c.backoffMax,
	})
	if plan.RetryIn > 0 {
		c.EnqueueAfter(key, plan.RetryIn)
	}
	return errors.Join(claimErr, c.act(ctx, key, j, plan))
}

// act carries plan out (see Plan for the order).
func (c *Controller) act(ctx context.Context, key string, j *batchv1.Job, plan Plan) error {
	prev := *j.Status.DeepCopy()
	st := plan.Status
	var errs []error
	if len(plan.Delete) > 0 {
		failed, failedReady, err := c.deletePods(ctx, key, j, plan.Delete, !plan.Finishing)
		if err != nil && plan.Finishing {
			// The Job may end only with all its pods going: try again,
			// deciding afresh from what the cache then shows.
			return err
		}
		errs = append(errs, err)
		st.Active += failed
		*st.Terminating -= failed
		*st.Ready += failedReady
	}
	if len(plan.Create) > 0 {
		failed, err := c.createPods(ctx, key, j, plan.Create)
		errs = append(errs, err)
		st.Active -= failed
	}
	if plan.Event != "" {
		msg := "Job suspended"
		if plan.Event == EventReasonResumed {
			msg = "Job resumed"
		}
		c.recorder.Event(j, corev1.EventTypeNormal, plan.Event, msg)
	}

	j.Status = st
	if err := c.writeStatus(ctx, j, &prev); err != nil {
		return errors.Join(append(errs, err)...)
	}
	c.mu.Lock()
	c.backoffs[key] = plan.Backoff
	c.mu.Unlock()

	// Recorded (or ignored) pods lose the finalizer; those recorded are
	// counted at once.
	removed, err := c.removeFinalizersOf(ctx, key, plan.RemoveFinalizers)
	errs = append(errs, err)
	if u := j.Status.UncountedTerminatedPods; u != nil && removed.Len() > 0 {
		var succ, fail []types.UID
		for _, uid := range u.Succeeded {
			if removed.Has(uid) {
				j.Status.Succeeded++
			} else {
				succ = append(succ, uid)
			}
		}
		for _, uid := range u.Failed {
			if removed.Has(uid) {
				j.Status.Failed++
			} else {
				fail = append(fail, uid)
			}
		}
		j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: succ, Failed: fail}
	}

	// The Job ends once nothing is left uncounted or terminating.
	finished := false
	if u := j.Status.UncountedTerminatedPods; plan.Final != nil && !plan.Capped && ptr.Deref(j.Status.Terminating, 0) == 0 &&
		(u == nil || len(u.Succeeded)+len(u.Failed) == 0) {
		final := *plan.Final
		setCondition(&j.Status, final.Type, final.Status, final.Reason, final.Message, final.LastTransitionTime.Time)
		if final.Type == batchv1.JobComplete {
			j.Status.CompletionTime = &final.LastTransitionTime
		}
		finished = true
	}
	if err := c.writeStatus(ctx, j, &prev); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if finished {
		c.recordFinished(j, plan.Final)
	}
	return errors.Join(errs...)
}

// recordFinished records the events of a Job that ended.
func (c *Controller) recordFinished(j *batchv1.Job, final *batchv1.JobCondition) {
	if final.Type != batchv1.JobComplete {
		c.recorder.Event(j, corev1.EventTypeWarning, final.Reason, final.Message)
		return
	}
	if j.Spec.Completions != nil && j.Status.Succeeded > *j.Spec.Completions {
		c.recorder.Event(j, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
	}
	c.recorder.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
}

// deletePods deletes pods, after taking off their tracking finalizer if
// dropFinalizer (pods deleted to run fewer are never counted). It
// returns how many deletions, and of ready pods, failed.
func (c *Controller) deletePods(ctx context.Context, key string, j *batchv1.Job, pods []*corev1.Pod, dropFinalizer bool) (int32, int32, error) {
	c.exp.Expect(key, 0, podcontrol.UIDs(pods))
	var failed, failedReady atomic.Int32
	err := podcontrol.Parallel(len(pods), func(i int) error {
		p := pods[i]
		err := func() error {
			if dropFinalizer {
				if err := c.removeFinalizer(ctx, p); err != nil {
					return err
				}
				c.markRemoving(key, p.UID)
			}
			return c.podCtl.Delete(ctx, p.Namespace, p.Name, p.UID, j)
		}()
		if err != nil {
			// The informer will never show this deletion.
			c.exp.DeletionObserved(key, p.UID)
			failed.Add(1)
			if podstate.IsReady(p) {
				failedReady.Add(1)
			}
		}
		return err
	})
	return failed.Load(), failedReady.Load(), err
}

// createPods creates pods from the Job's template, with the tracking
// finalizer, in slow-start batches. It returns how many were not made.
func (c *Controller) createPods(ctx context.Context, key string, j *batchv1.Job, pods []NewPod) (int32, error) {
	c.exp.Expect(key, len(pods), nil)
	ref := metav1.NewControllerRef(j, kind)
	var next atomic.Int32
	ok, err := podcontrol.SlowStartBatch(len(pods), 1, func() error {
		np := pods[next.Add(1)-1]
		_, err := c.podCtl.Create(ctx, j.Namespace, &j.Spec.Template, j, ref, func(p *corev1.Pod) {
			if !HasFinalizer(p) {
				p.Finalizers = append(p.Finalizers, TrackingFinalizer)
			}
			if np.Index >= 0 {
				setIndex(p, j, np.Index)
			}
			if np.PerIndex {
				p.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(np.Failures))
				if np.IgnoredFails > 0 {
					p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(np.IgnoredFails))
				}
			}
		})
		if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// A namespace going away takes the Job with it.
			return nil
		}
		return err
	})
	// Pods not made will never show up in the informer.
	for i := ok; i < len(pods); i++ {
		c.exp.CreationObserved(key)
	}
	return int32(len(pods) - ok), err
}

// adoptFinalizers gives the tracking finalizer to active pods the Job
// controls without it (pods it adopted): as Kubernetes, which adds it in
// the adoption patch, the Job counts every pod of its own. It runs only
// with the expectations satisfied: a pod this controller deletes loses
// the finalizer just before, and must not get it back from a cache that
// has not seen the deletion yet.
func (c *Controller) adoptFinalizers(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod) error {
	if done, _ := IsFinished(j); done || j.DeletionTimestamp != nil {
		return nil
	}
	var errs []error
	for i, p := range pods {
		if HasFinalizer(p) || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"uid": p.UID, "finalizers": []string{TrackingFinalizer},
		}})
		if err != nil {
			return err
		}
		updated, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("add tracking finalizer to pod %s/%s: %w", p.Namespace, p.Name, err))
			}
			continue
		}
		pods[i] = updated
	}
	return errors.Join(errs...)
}

// releaseAll takes the tracking finalizer off every pod of pods that
// holds it.
func (c *Controller) releaseAll(ctx context.Context, pods []*corev1.Pod) error {
	return podcontrol.Parallel(len(pods), func(i int) error { return c.removeFinalizer(ctx, pods[i]) })
}

// removeFinalizersOf takes the tracking finalizer off pods, concurrently,
// and returns the UIDs of those that no longer hold it.
func (c *Controller) removeFinalizersOf(ctx context.Context, key string, pods []*corev1.Pod) (sets.Set[types.UID], error) {
	done := make([]bool, len(pods))
	err := podcontrol.Parallel(len(pods), func(i int) error {
		if err := c.removeFinalizer(ctx, pods[i]); err != nil {
			return err
		}
		done[i] = true
		return nil
	})
	removed := sets.New[types.UID]()
	for i, ok := range done {
		if ok {
			removed.Insert(pods[i].UID)
			c.markRemoving(key, pods[i].UID)
		}
	}
	return removed, err
}

// removeFinalizer takes the tracking finalizer, and only it, off p, as
// Kubernetes' Job controller does: the strategic merge patch names the
// value to drop, so the apiserver applies it to the pod as it is then,
// whatever other finalizers came or went meanwhile. The UID in the patch
// is a precondition: a pod of the same name made since is left alone.
func (c *Controller) removeFinalizer(ctx context.Context, p *corev1.Pod) error {
	if !HasFinalizer(p) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":                                 p.UID,
		"$deleteFromPrimitiveList/finalizers": []string{TrackingFinalizer},
	}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		// A conflict (another pod of the name) is retried from the cache.
		return fmt.Errorf("remove tracking finalizer of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func (c *Controller) markRemoving(key string, uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removing[key] == nil {
		c.removing[key] = sets.New[types.UID]()
	}
	c.removing[key].Insert(uid)
}

// removingOf is the Job's removing set, less the pods the cache now
// shows without the finalizer, or not at all.
func (c *Controller) removingOf(key string, pods []*corev1.Pod) sets.Set[types.UID] {
	c.mu.Lock()
	defer c.mu.Unlock()
	holding := sets.New[types.UID]()
	for _, p := range pods {
		if HasFinalizer(p) {
			holding.Insert(p.UID)
		}
	}
	r := c.removing[key].Intersection(holding)
	if r.Len() == 0 {
		delete(c.removing, key)
	} else {
		c.removing[key] = r
	}
	return r.Clone()
}

// forget drops what the controller keeps in memory of a Job.
func (c *Controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.written, key)
	delete(c.removing, key)
	delete(c.backoffs, key)
}

// writeStatus writes j's status unless it is prev, the status j had
// when last read or written, and then keeps the written object in j and
// its status in prev.
func (c *Controller) writeStatus(ctx context.Context, j *batchv1.Job, prev *batchv1.JobStatus) error {
	if statusEqual(*prev, j.Status) {
		return nil
	}
	updated, err := c.client.BatchV1().Jobs(j.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update job %s/%s status: %w", j.Namespace, j.Name, err)
	}
	updated.DeepCopyInto(j)
	*prev = *updated.Status.DeepCopy()
	c.mu.Lock()
	c.written[j.Namespace+"/"+j.Name] = updated
	c.mu.Unlock()
	return nil
}

// newest is the cache's copy of a Job, or the one our last status write
// returned if the cache has not caught up with it. resourceVersions are
// compared as the etcd revisions Coracle's apiserver makes them.
func (c *Controller) newest(key string, cached *batchv1.Job) *batchv1.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[key]
	if !ok {
		return cached
	}
	wrv, err1 := strconv.ParseUint(w.ResourceVersion, 10, 64)
	crv, err2 := strconv.ParseUint(cached.ResourceVersion, 10, 64)
	if err1 != nil || err2 != nil || cached.UID != w.UID || crv >= wrv {
		delete(c.written, key)
		return cached
	}
	return w
}

func statusEqual(a, b batchv1.JobStatus) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}
