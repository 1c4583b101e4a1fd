// Package job is the Job controller: it runs a Job's pods to completions
// at most parallelism at a time, replaces failed ones after an
// exponential back-off up to backoffLimit, stops at activeDeadlineSeconds,
// gives Indexed Jobs one pod per index (JOB_COMPLETION_INDEX), and ends
// with the Complete or Failed condition and its reason.
//
// Finished pods are counted with Kubernetes' tracking finalizer: a pod
// keeps batch.kubernetes.io/job-tracking until the Job has recorded its
// UID in status.uncountedTerminatedPods; the finalizer then goes, and
// once the cache shows it gone the UID moves into status.succeeded or
// status.failed. A pod is so counted exactly once, even if it is deleted
// or the controller restarts in between. A pod that holds the finalizer
// but whose Job is gone (deleted, its namespace too) or that no Job
// controls any more loses it through a second queue (orphan.go), or it
// would stay Terminating for ever.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	// written holds, per Job key, the Job as our last status write
	// returned it. The informer shows that write a moment later; a sync
	// in between must not start from the older copy, or it would count
	// a failed pod neither as recorded nor as uncounted (its finalizer
	// already gone) and replace it once too often.
	writtenMu sync.Mutex
	written   map[string]*batchv1.Job
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
		exp:    expectations.New(c.Clock), written: map[string]*batchv1.Job{},
		recorder: c.Recorder, clock: c.Clock,
		backoffBase: base, backoffMax: maxB,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.orphans = ctl.AddQueue(c, OrphanQueue, ctl.syncOrphan)
	return ctl, errors.Join(
		ctl.Watch(jobInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), ctl.ExpectedPods(kind, ctl.exp)),
		ctl.watchOrphans(podInf.Informer(), jobInf.Informer()),
	)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*batchv1.Job](key, c.jobs.Jobs)
	if err != nil {
		return err
	}
	if !ok {
		c.exp.Delete(key)
		c.writtenMu.Lock()
		delete(c.written, key)
		c.writtenMu.Unlock()
		return nil
	}
	ns, name := cached.Namespace, cached.Name
	j := c.newest(key, cached).DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil {
		return nil
	}
	all, err := c.owned.List(ns, j.UID)
	if err != nil {
		return err
	}
	mgr := claim.NewManager(j, kind, selector, claim.PodPatcher(c.client), func(ctx context.Context) (metav1.Object, error) {
		return c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	})
	pods, claimErr := claim.Claim(ctx, mgr, all)

	// Count finished pods first: that needs doing even for a finished Job.
	if err := c.track(ctx, j, pods); err != nil {
		return errors.Join(claimErr, err)
	}
	if done, _ := IsFinished(j); done {
		return claimErr
	}
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		return errors.Join(claimErr, c.suspend(ctx, j, pods))
	}
	now := c.clock.Now()
	if j.Status.StartTime == nil {
		j.Status.StartTime = &metav1.Time{Time: now}
	}
	st := c.state(j, pods, now)
	var plan Plan
	switch ft, sc := hasCondition(j, batchv1.JobFailureTarget), hasCondition(j, batchv1.JobSuccessCriteriaMet); {
	case ft != nil:
		// Decided already: finish what the decision started.
		plan = Plan{FailReason: ft.Reason, FailMessage: ft.Message, Delete: st.Active}
	case sc != nil:
		plan = Plan{Complete: true, Delete: st.Active}
	case c.exp.Satisfied(key) && j.DeletionTimestamp == nil:
		// A Job being deleted makes no pods: with propagationPolicy
		// Orphan the garbage collector releases its pods first, which
		// would otherwise look like pods to replace.
		plan = Decide(st, c.backoffBase, c.backoffMax)
	}
	manageErr := c.act(ctx, j, st, plan)
	if plan.RetryIn > 0 {
		c.EnqueueAfter(key, plan.RetryIn)
	}
	if err := c.updateStatus(ctx, j, st, plan, now); err != nil {
		return err
	}
	return errors.Join(claimErr, manageErr)
}

// track records finished pods in uncountedTerminatedPods, removes their
// finalizers, and moves those whose finalizers are gone into the counts.
func (c *Controller) track(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod) error {
	if j.Status.UncountedTerminatedPods == nil {
		j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	succ := sets.New(j.Status.UncountedTerminatedPods.Succeeded...)
	fail := sets.New(j.Status.UncountedTerminatedPods.Failed...)
	byUID := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		byUID[p.UID] = p
	}
	completions := -1
	if j.Spec.Completions != nil {
		completions = int(*j.Spec.Completions)
	}
	completed := ParseIndexes(j.Status.CompletedIndexes, completions)
	// 1. Finished pods still holding the finalizer: recorded.
	added := false
	for _, p := range pods {
		if !HasFinalizer(p) || succ.Has(p.UID) || fail.Has(p.UID) {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succ.Insert(p.UID)
			if i := Index(p); isIndexed(j) && i >= 0 {
				completed.Insert(i)
			}
			added = true
		case IsPodFailed(p):
			fail.Insert(p.UID)
			added = true
		}
	}
	if added {
		// j is replaced by what the write returns: set the fields on j.
		j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: sets.List(succ), Failed: sets.List(fail)}
		j.Status.CompletedIndexes = FormatIndexes(completed)
		if err := c.writeStatus(ctx, j); err != nil {
			return err
		}
	}
	// 2. Recorded pods: the finalizer goes.
	var errs []error
	for _, uid := range append(sets.List(succ), sets.List(fail)...) {
		if p, ok := byUID[uid]; ok && HasFinalizer(p) {
			if err := c.removeFinalizer(ctx, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// 3. Recorded pods whose finalizer the cache shows gone: counted.
	moved := false
	for _, uid := range sets.List(succ) {
		if p, ok := byUID[uid]; !ok || !HasFinalizer(p) {
			succ.Delete(uid)
			j.Status.Succeeded++
			moved = true
		}
	}
	for _, uid := range sets.List(fail) {
		if p, ok := byUID[uid]; !ok || !HasFinalizer(p) {
			fail.Delete(uid)
			j.Status.Failed++
			moved = true
		}
	}
	if moved {
		j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: sets.List(succ), Failed: sets.List(fail)}
		if err := c.writeStatus(ctx, j); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

// state gathers what Decide needs.
func (c *Controller) state(j *batchv1.Job, pods []*corev1.Pod, now time.Time) State {
	completions := -1
	if j.Spec.Completions != nil {
		completions = int(*j.Spec.Completions)
	}
	st := State{Job: j, Now: now, Completed: ParseIndexes(j.Status.CompletedIndexes, completions)}
	st.Succeeded = int(j.Status.Succeeded)
	st.Failed = int(j.Status.Failed)
	if u := j.Status.UncountedTerminatedPods; u != nil {
		st.Succeeded += len(u.Succeeded)
		st.Failed += len(u.Failed)
	}
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
		case IsPodFailed(p):
			if t := finishedAt(p); t.After(st.LastFailure) {
				st.LastFailure = t
			}
		default:
			st.Active = append(st.Active, p)
			for _, cs := range p.Status.ContainerStatuses {
				st.Restarts += int(cs.RestartCount)
			}
			for _, cs := range p.Status.InitContainerStatuses {
				st.Restarts += int(cs.RestartCount)
			}
		}
	}
	return st
}

// act creates and deletes pods per plan.
func (c *Controller) act(ctx context.Context, j *batchv1.Job, st State, plan Plan) error {
	key := j.Namespace + "/" + j.Name
	var errs []error
	if len(plan.Delete) > 0 {
		c.exp.Expect(key, 0, podcontrol.UIDs(plan.Delete))
		if err := podcontrol.DeletePods(ctx, c.podCtl, plan.Delete, j, func(p *corev1.Pod) { c.exp.DeletionObserved(key, p.UID) }); err != nil {
			errs = append(errs, err)
		}
	}
	if plan.Create > 0 {
		c.exp.Expect(key, plan.Create, nil)
		ref := metav1.NewControllerRef(j, kind)
		var mu sync.Mutex // guards next
		var next int
		indexes := plan.Indexes
		ok, err := podcontrol.SlowStartBatch(plan.Create, 1, func() error {
			index := -1
			if isIndexed(j) {
				mu.Lock()
				index = indexes[next]
				next++
				mu.Unlock()
			}
			_, err := c.podCtl.Create(ctx, j.Namespace, &j.Spec.Template, j, ref, func(p *corev1.Pod) {
				p.Finalizers = append(p.Finalizers, TrackingFinalizer)
				if index >= 0 {
					setIndex(p, j, index)
				}
			})
			return err
		})
		for i := ok; i < plan.Create; i++ {
			c.exp.CreationObserved(key)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setIndex makes p the pod of an Indexed Job's index: name, hostname,
// annotation, label and JOB_COMPLETION_INDEX.
func setIndex(p *corev1.Pod, j *batchv1.Job, index int) {
	v := strconv.Itoa(index)
	p.GenerateName = podcontrol.GenerateNamePrefix(j.Name + "-" + v)
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[IndexAnnotation] = v
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[IndexLabel] = v
	if p.Spec.Hostname == "" {
		p.Spec.Hostname = j.Name + "-" + v
	}
	env := corev1.EnvVar{Name: IndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", IndexAnnotation),
	}}}
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].Env = append(p.Spec.Containers[i].Env, env)
	}
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].Env = append(p.Spec.InitContainers[i].Env, env)
	}
}

// suspend deletes a suspended Job's active pods.
func (c *Controller) suspend(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod) error {
	active := podstate.Filter(pods, func(p *corev1.Pod) bool { return p.Status.Phase != corev1.PodSucceeded && !IsPodFailed(p) })
	err := c.act(ctx, j, State{}, Plan{Delete: active})
	now := metav1.NewTime(c.clock.Now())
	if hasCondition(j, batchv1.JobSuspended) == nil {
		setCondition(j, batchv1.JobCondition{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: ReasonSuspended, Message: "Job suspended", LastProbeTime: now, LastTransitionTime: now})
		c.recorder.Event(j, corev1.EventTypeNormal, ReasonSuspended, "Job suspended")
	}
	j.Status.Active = 0
	j.Status.Ready = ptr.To[int32](0)
	return errors.Join(err, c.writeStatus(ctx, j))
}

func setCondition(j *batchv1.Job, cond batchv1.JobCondition) {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == cond.Type {
			j.Status.Conditions[i] = cond
			return
		}
	}
	j.Status.Conditions = append(j.Status.Conditions, cond)
}

// updateStatus writes the counts and, when the plan ends the Job, the
// interim FailureTarget or SuccessCriteriaMet condition and, once no pod
// runs any more, Failed or Complete.
func (c *Controller) updateStatus(ctx context.Context, j *batchv1.Job, st State, plan Plan, now time.Time) error {
	t := metav1.NewTime(now)
	if c := hasCondition(j, batchv1.JobSuspended); c != nil {
		c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionFalse, ReasonResumed, "Job resumed", t
	}
	if plan.FailReason != "" && hasCondition(j, batchv1.JobFailureTarget) == nil {
		setCondition(j, batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: plan.FailReason, Message: plan.FailMessage, LastProbeTime: t, LastTransitionTime: t})
	}
	if plan.Complete && hasCondition(j, batchv1.JobSuccessCriteriaMet) == nil {
		setCondition(j, batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: ReasonCompletionsReached, Message: MessageCompletionsReached, LastProbeTime: t, LastTransitionTime: t})
	}
	var active, ready int32
	for _, p := range st.Active {
		if deleting(plan.Delete, p) {
			continue
		}
		active++
		if podstate.IsReady(p) {
			ready++
		}
	}
	j.Status.Active = active
	j.Status.Ready = &ready
	// Terminal conditions wait for every pod to be gone or counted.
	settled := active == 0 && len(plan.Delete) == 0 && (j.Status.UncountedTerminatedPods == nil ||
		len(j.Status.UncountedTerminatedPods.Succeeded)+len(j.Status.UncountedTerminatedPods.Failed) == 0)
	if ft := hasCondition(j, batchv1.JobFailureTarget); ft != nil && settled {
		setCondition(j, batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: ft.Reason, Message: ft.Message, LastProbeTime: t, LastTransitionTime: t})
		c.recorder.Event(j, corev1.EventTypeWarning, ft.Reason, ft.Message)
	} else if sc := hasCondition(j, batchv1.JobSuccessCriteriaMet); sc != nil && settled {
		setCondition(j, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: sc.Reason, Message: sc.Message, LastProbeTime: t, LastTransitionTime: t})
		j.Status.CompletionTime = &t
		c.recorder.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
	}
	return c.writeStatus(ctx, j)
}

func deleting(list []*corev1.Pod, p *corev1.Pod) bool {
	for _, d := range list {
		if d.UID == p.UID {
			return true
		}
	}
	return false
}

// writeStatus writes j's status if it differs from the cache's and keeps
// the written object in j.
func (c *Controller) writeStatus(ctx context.Context, j *batchv1.Job) error {
	cached, err := c.jobs.Jobs(j.Namespace).Get(j.Name)
	if err == nil && cached.ResourceVersion == j.ResourceVersion && statusEqual(cached.Status, j.Status) {
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
	c.writtenMu.Lock()
	c.written[j.Namespace+"/"+j.Name] = updated
	c.writtenMu.Unlock()
	return nil
}

// newest is the cache's copy of a Job, or the one our last status write
// returned if the cache has not caught up with it. resourceVersions are
// compared as the etcd revisions Coracle's apiserver makes them.
func (c *Controller) newest(key string, cached *batchv1.Job) *batchv1.Job {
	c.writtenMu.Lock()
	defer c.writtenMu.Unlock()
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
