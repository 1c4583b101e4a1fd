package job

import (
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Names Kubernetes gives these.
const (
	// TrackingFinalizer holds a Job's pod until the Job has counted it.
	TrackingFinalizer = batchv1.JobTrackingFinalizer
	// IndexAnnotation and IndexLabel carry an Indexed Job pod's index.
	IndexAnnotation = batchv1.JobCompletionIndexAnnotation
	IndexLabel      = batchv1.JobCompletionIndexAnnotation
	// IndexEnv is the environment variable with the index.
	IndexEnv = "JOB_COMPLETION_INDEX"

	ReasonBackoffLimitExceeded     = batchv1.JobReasonBackoffLimitExceeded
	ReasonDeadlineExceeded         = batchv1.JobReasonDeadlineExceeded
	ReasonCompletionsReached       = batchv1.JobReasonCompletionsReached
	ReasonPodFailurePolicy         = batchv1.JobReasonPodFailurePolicy
	ReasonFailedIndexes            = batchv1.JobReasonFailedIndexes
	ReasonMaxFailedIndexesExceeded = batchv1.JobReasonMaxFailedIndexesExceeded
	ReasonSuccessPolicy            = batchv1.JobReasonSuccessPolicy
	MessageBackoffLimit            = "Job has reached the specified backoff limit"
	MessageDeadline                = "Job was active longer than specified deadline"
	MessageCompletionsReached      = "Reached expected number of succeeded pods"
	MessageFailedIndexes           = "Job has failed indexes"
	MessageMaxFailedIndexes        = "Job has exceeded the specified maximal number of failed indexes"
	// The Suspended condition's reasons, and the events' when it changes.
	ReasonSuspended      = "JobSuspended"
	ReasonResumed        = "JobResumed"
	EventReasonSuspended = "Suspended"
	EventReasonResumed   = "Resumed"

	// MaxUncountedPods bounds status.uncountedTerminatedPods, and so the
	// finalizers one sync removes, as Kubernetes does: the status stays
	// small and one big Job does not starve the others.
	MaxUncountedPods = 500
	// MaxPodCreateDeletePerSync bounds the pods one sync creates or
	// deletes.
	MaxPodCreateDeletePerSync = 500
)

// IsFinished reports whether the Job has a Complete or Failed condition.
func IsFinished(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// isPodFailed is Kubernetes' rule: Failed, or, unless the Job replaces
// only failed pods, being deleted before it succeeded (such a pod may
// never reach a phase of its own).
func isPodFailed(p *corev1.Pod, j *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailed(j) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

// isTerminating reports whether p is being deleted and has not finished.
func isTerminating(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil && !podstate.IsTerminal(p)
}

func onlyReplaceFailed(j *batchv1.Job) bool {
	return j.Spec.PodReplacementPolicy != nil && *j.Spec.PodReplacementPolicy == batchv1.Failed
}

// HasFinalizer reports whether pod is still to be counted.
func HasFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, TrackingFinalizer)
}

// Orphaned reports whether p holds the tracking finalizer although no
// Job will ever count it, so that the finalizer must go now, as
// Kubernetes' orphan pod queue has it: p has no controller (the garbage
// collector orphaned it, or it never had one), or its controller is a
// Job but job, the Job of that name (nil if there is none), is gone or
// is another Job of the same name (another UID). A pod of an existing
// Job is that Job's to count and release, finished or not (sync); a pod
// controlled by anything but a batch/v1 Job is its controller's.
func Orphaned(p *corev1.Pod, job *batchv1.Job) bool {
	if !HasFinalizer(p) {
		return false
	}
	ref := metav1.GetControllerOfNoCopy(p)
	switch {
	case ref == nil:
		return true
	case ref.APIVersion != batchv1.SchemeGroupVersion.String() || ref.Kind != kind.Kind:
		return false
	}
	return job == nil || job.UID != ref.UID
}

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func hasBackoffLimitPerIndex(j *batchv1.Job) bool {
	return isIndexed(j) && j.Spec.BackoffLimitPerIndex != nil
}

func suspended(j *batchv1.Job) bool {
	return j.Spec.Suspend != nil && *j.Spec.Suspend
}

// completionsOf is spec.completions, -1 if unset (a work queue).
func completionsOf(j *batchv1.Job) int {
	if j.Spec.Completions == nil {
		return -1
	}
	return int(*j.Spec.Completions)
}

func parallelism(j *batchv1.Job) int {
	if j.Spec.Parallelism == nil {
		return 1
	}
	return int(*j.Spec.Parallelism)
}

func backoffLimit(j *batchv1.Job) int {
	if j.Spec.BackoffLimit == nil {
		return 6
	}
	return int(*j.Spec.BackoffLimit)
}

// State is what a Job's sync sees.
type State struct {
	// Job is a copy of the Job, its status as last written.
	Job *batchv1.Job
	// Pods are the pods the Job controls.
	Pods []*corev1.Pod
	// Removing are the pods whose tracking finalizer this controller took
	// off and the cache does not show so yet: they count as without it.
	Removing sets.Set[types.UID]
	// Satisfied reports whether the cache shows every pod this controller
	// created and deleted: only then may the sync create or delete more.
	Satisfied bool
	// Backoff is the Job's back-off record.
	Backoff BackoffRecord
	Now     time.Time
	// BackoffBase and BackoffMax bound the back-off of new pods.
	BackoffBase, BackoffMax time.Duration
}

// NewPod is a pod to create: of Index (-1: not an Indexed Job), with the
// index's failure counts if the Job has backoffLimitPerIndex.
type NewPod struct {
	Index                  int
	PerIndex               bool
	Failures, IgnoredFails int32
}

// Plan is what one sync does, in this order: delete Delete (the
// finalizer first unless Finishing: such pods are never counted), create
// Create, write Status, take the finalizer off RemoveFinalizers, count
// those of them status.uncountedTerminatedPods holds, and, if Final is
// set and no pod is left uncounted or terminating, add Final.
type Plan struct {
	// Status is the Job's status with this sync's decisions, as if every
	// deletion and creation succeeds.
	Status batchv1.JobStatus
	// Interim is the FailureTarget or SuccessCriteriaMet condition this
	// sync adds to Status, nil if none.
	Interim *batchv1.JobCondition
	// Final is the Failed or Complete condition that ends the Job once no
	// pod is left uncounted or terminating, nil if the Job goes on.
	Final *batchv1.JobCondition
	// Delete are active pods to delete; Finishing says they go because
	// the Job ends (they keep their finalizer to be counted).
	Delete    []*corev1.Pod
	Finishing bool
	// DeleteReady is how many of Delete are ready.
	DeleteReady int32
	Create      []NewPod
	// RemoveFinalizers are the pods whose tracking finalizer goes.
	RemoveFinalizers []*corev1.Pod
	// Capped says not every finished pod was recorded this sync
	// (MaxUncountedPods): the Job may not end yet.
	Capped bool
	// Event is a Suspended or Resumed event to record, "" if none.
	Event string
	// RetryIn asks for another sync later (back-off, deadline), 0 if not.
	RetryIn time.Duration
	// Backoff is the Job's back-off record after this sync.
	Backoff BackoffRecord
}

// Decide is the pure part of a Job's sync, Kubernetes' Job controller
// (v1.37) in one function. In order: a SuccessCriteriaMet or
// FailureTarget condition already set stands; else the pod failure
// policy's FailJob, the backoff limit, the active deadline, the failed
// indexes of backoffLimitPerIndex and the success policy may end the
// Job; else pods are created and deleted toward min(parallelism,
// completions left), and the Job may reach its completions. Finished
// pods are recorded in status.uncountedTerminatedPods (or, for an
// Indexed Job's successes, completedIndexes) and lose their finalizer.
func Decide(s State) Plan {
	j := s.Job
	st := *j.Status.DeepCopy()
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	plan := Plan{Backoff: s.Backoff}
	indexed := isIndexed(j)
	completions := completionsOf(j)
	processed := func(p *corev1.Pod) bool { return !HasFinalizer(p) || s.Removing.Has(p.UID) }

	// Recorded pods whose finalizer is gone are counted.
	withFinalizer := sets.New[types.UID]()
	for _, p := range s.Pods {
		if !processed(p) {
			withFinalizer.Insert(p.UID)
		}
	}
	uncountedSucceeded := sets.New[types.UID]()
	for _, uid := range st.UncountedTerminatedPods.Succeeded {
		if withFinalizer.Has(uid) {
			uncountedSucceeded.Insert(uid)
		} else {
			st.Succeeded++
		}
	}
	uncountedFailed := sets.New[types.UID]()
	for _, uid := range st.UncountedTerminatedPods.Failed {
		if withFinalizer.Has(uid) {
			uncountedFailed.Insert(uid)
		} else {
			st.Failed++
		}
	}

	var active []*corev1.Pod
	var ready, terminating int32
	var newSucceeded, newFailed []*corev1.Pod
	for _, p := range s.Pods {
		if podstate.IsActive(p) {
			active = append(active, p)
			if podstate.IsReady(p) {
				ready++
			}
		}
		if isTerminating(p) {
			terminating++
		}
		if processed(p) || uncountedSucceeded.Has(p.UID) || uncountedFailed.Has(p.UID) || (indexed && !validIndex(p, completions)) {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			newSucceeded = append(newSucceeded, p)
		case isPodFailed(p, j):
			newFailed = append(newFailed, p)
		}
	}
	succeeded := int(st.Succeeded) + len(newSucceeded) + uncountedSucceeded.Len()
	failed := int(st.Failed) + uncountedFailed.Len()
	for _, p := range newFailed {
		if MatchPodFailurePolicy(j.Spec.PodFailurePolicy, p).Count {
			failed++
		}
	}
	if st.StartTime == nil && !suspended(j) {
		st.StartTime = &metav1.Time{Time: s.Now}
	}
	plan.Backoff = s.Backoff.Next(newSucceeded, newFailed)

	// What ends the Job, if anything; newInterim marks a condition this
	// sync decides.
	var finished *batchv1.JobCondition
	newInterim := false
	decide := func(t batchv1.JobConditionType, reason, message string) {
		finished = condition(t, reason, message, s.Now)
		newInterim = true
	}
	if c := hasCondition(j, batchv1.JobSuccessCriteriaMet); c != nil {
		finished = c
	} else if c := hasCondition(j, batchv1.JobFailureTarget); c != nil {
		finished = c
	} else if msg, ok := failJobMessage(j, s.Pods); ok {
		decide(batchv1.JobFailureTarget, ReasonPodFailurePolicy, msg)
	}
	if finished == nil {
		switch {
		case failed > backoffLimit(j) || pastBackoffLimitOnFailure(j, s.Pods):
			decide(batchv1.JobFailureTarget, ReasonBackoffLimitExceeded, MessageBackoffLimit)
		case pastDeadline(j, st.StartTime, s.Now):
			decide(batchv1.JobFailureTarget, ReasonDeadlineExceeded, MessageDeadline)
		case j.Spec.ActiveDeadlineSeconds != nil && !suspended(j) && st.StartTime != nil:
			plan.RetryIn = st.StartTime.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds) * time.Second).Sub(s.Now)
		}
	}

	var prevSucceededIdx, succeededIdx, failedIdx sets.Set[int]
	var delayed map[int]*corev1.Pod
	if indexed {
		prevSucceededIdx = ParseIndexes(j.Status.CompletedIndexes, completions)
		succeededIdx = prevSucceededIdx.Clone()
		for _, p := range s.Pods {
			if p.Status.Phase == corev1.PodSucceeded && HasFinalizer(p) && validIndex(p, completions) {
				succeededIdx.Insert(Index(p))
			}
		}
		succeeded = succeededIdx.Len()
		if hasBackoffLimitPerIndex(j) {
			failedIdx = sets.New[int]()
			if j.Status.FailedIndexes != nil {
				failedIdx = ParseIndexes(*j.Status.FailedIndexes, completions)
			}
			for _, p := range s.Pods {
				if HasFinalizer(p) && validIndex(p, completions) && indexFailed(j, p) {
					failedIdx.Insert(Index(p))
				}
			}
			if finished == nil {
				switch {
				case j.Spec.MaxFailedIndexes != nil && failedIdx.Len() > int(*j.Spec.MaxFailedIndexes):
					decide(batchv1.JobFailureTarget, ReasonMaxFailedIndexesExceeded, MessageMaxFailedIndexes)
				case failedIdx.Len() > 0 && failedIdx.Len()+succeededIdx.Len() >= completions:
					decide(batchv1.JobFailureTarget, ReasonFailedIndexes, MessageFailedIndexes)
				}
			}
			delayed = delayedPerIndex(j, s.Pods, processed, succeededIdx, failedIdx, indexesOf(active))
		}
		if finished == nil {
			if msg, ok := MatchSuccessPolicy(j.Spec.SuccessPolicy, completions, succeededIdx); ok {
				decide(batchv1.JobSuccessCriteriaMet, ReasonSuccessPolicy, msg)
			}
		}
	}

	nActive := int32(len(active))
	if finished != nil {
		// The Job ends: its active pods go, and count as failed if it
		// failed.
		plan.Delete, plan.Finishing = active, true
		for _, p := range active {
			if podstate.IsReady(p) {
				plan.DeleteReady++
			}
		}
		if !s.Satisfied {
			// A pod created or deleted a moment ago may not be in the
			// cache yet: count and end nothing before it is.
			finished, newInterim = nil, false
		}
		nActive = 0
		terminating += int32(len(active))
		ready -= plan.DeleteReady
	} else {
		managed := false
		if s.Satisfied && j.DeletionTimestamp == nil {
			managed = true
			m := manage(s, &plan, active, succeeded, terminating, succeededIdx, failedIdx, delayed)
			nActive = int32(len(active) - len(plan.Delete) + len(plan.Create))
			terminating += int32(len(plan.Delete))
			ready -= m
		}
		complete := succeeded >= completions && nActive == 0
		if completions < 0 {
			complete = succeeded > 0 && nActive == 0
		}
		switch {
		case complete:
			decide(batchv1.JobSuccessCriteriaMet, ReasonCompletionsReached, MessageCompletionsReached)
		case managed && suspended(j):
			if setCondition(&st, batchv1.JobSuspended, corev1.ConditionTrue, ReasonSuspended, "Job suspended", s.Now) {
				plan.Event = EventReasonSuspended
				// A suspended Job's deadline starts again when resumed.
				st.StartTime = nil
			}
		case managed:
			if setCondition(&st, batchv1.JobSuspended, corev1.ConditionFalse, ReasonResumed, "Job resumed", s.Now) {
				plan.Event = EventReasonResumed
				st.StartTime = &metav1.Time{Time: s.Now}
			}
		}
	}
	st.Active = nActive
	st.Ready = ptr.To(max(ready, 0))
	st.Terminating = ptr.To(terminating)

	// Finished pods are recorded and their finalizers go.
	sorted := s.Pods
	if indexed {
		sorted = append([]*corev1.Pod(nil), s.Pods...)
		slices.SortStableFunc(sorted, func(a, b *corev1.Pod) int { return Index(a) - Index(b) })
	}
	failing := finished != nil && finished.Type == batchv1.JobFailureTarget
	var newSucceededIdx []int
	for _, p := range sorted {
		if processed(p) {
			continue
		}
		considerFailed := isPodFailed(p, j)
		if !canRemoveFinalizer(j, p, considerFailed, finished != nil, delayed) {
			continue
		}
		plan.RemoveFinalizers = append(plan.RemoveFinalizers, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !uncountedFailed.Has(p.UID):
			if indexed {
				if validIndex(p, completions) && !prevSucceededIdx.Has(Index(p)) {
					newSucceededIdx = append(newSucceededIdx, Index(p))
				}
			} else {
				uncountedSucceeded.Insert(p.UID)
			}
		case considerFailed || failing:
			// Once the Job has failed, its pods that have not finished
			// count as failed.
			if !uncountedFailed.Has(p.UID) && (!indexed || validIndex(p, completions)) &&
				MatchPodFailurePolicy(j.Spec.PodFailurePolicy, p).Count {
				uncountedFailed.Insert(p.UID)
			}
		}
		if len(newSucceededIdx)+uncountedSucceeded.Len()+uncountedFailed.Len() >= MaxUncountedPods {
			plan.Capped = true
			break
		}
	}
	st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{
		Succeeded: keepOrder(st.UncountedTerminatedPods.Succeeded, uncountedSucceeded),
		Failed:    keepOrder(st.UncountedTerminatedPods.Failed, uncountedFailed),
	}
	if indexed {
		succeededIdx.Insert(newSucceededIdx...)
		st.Succeeded = int32(succeededIdx.Len())
		st.CompletedIndexes = FormatIndexes(succeededIdx)
		st.FailedIndexes = nil
		if failedIdx != nil {
			st.FailedIndexes = ptr.To(FormatIndexes(failedIdx))
		}
	}

	if finished != nil {
		if newInterim {
			plan.Interim = finished
			st.Conditions = append(st.Conditions, *finished)
		}
		final := batchv1.JobFailed
		if finished.Type == batchv1.JobSuccessCriteriaMet {
			final = batchv1.JobComplete
		}
		plan.Final = condition(final, finished.Reason, finished.Message, s.Now)
	}
	plan.Status = st
	return plan
}

// manage creates and deletes pods toward what the Job wants running, as
// Kubernetes' manageJob: a suspended Job runs none; one sync either
// deletes or creates; a Job that replaces only failed pods waits for its
// terminating ones; new pods wait out the back-off of the Job, or of
// their index. It returns how many of the pods it deletes are ready.
func manage(s State, plan *Plan, active []*corev1.Pod, succeeded int, terminating int32, succeededIdx, failedIdx sets.Set[int], delayed map[int]*corev1.Pod) int32 {
	j := s.Job
	readyOf := func(pods []*corev1.Pod) int32 {
		var n int32
		for _, p := range pods {
			if podstate.IsReady(p) {
				n++
			}
		}
		return n
	}
	if suspended(j) {
		plan.Delete = activePodsForRemoval(j, active, len(active))
		return readyOf(plan.Delete)
	}
	completions := completionsOf(j)
	want := parallelism(j)
	switch {
	case completions < 0 && succeeded > 0:
		// A work queue with a success: no new pods, the others finish.
		want = len(active)
	case completions >= 0:
		want = max(min(completions-succeeded, want), 0)
	}
	rm := activePodsForRemoval(j, active, max(len(active)-want, 0))
	if len(rm) > MaxPodCreateDeletePerSync {
		rm = rm[:MaxPodCreateDeletePerSync]
	}
	if len(rm) > 0 {
		plan.Delete = rm
		return readyOf(rm)
	}
	diff := want - len(active)
	if onlyReplaceFailed(j) {
		diff -= int(terminating)
	}
	if diff <= 0 {
		return 0
	}
	perIndex := hasBackoffLimitPerIndex(j)
	if !perIndex {
		if wait := s.Backoff.Remaining(s.Now, s.BackoffBase, s.BackoffMax); wait > 0 {
			plan.RetryIn = minRetry(plan.RetryIn, wait)
			return 0
		}
	}
	diff = min(diff, MaxPodCreateDeletePerSync)
	if !isIndexed(j) {
		for range diff {
			plan.Create = append(plan.Create, NewPod{Index: -1})
		}
		return 0
	}
	taken := succeededIdx.Union(indexesOf(active))
	if onlyReplaceFailed(j) {
		taken = taken.Union(indexesOf(podstate.Filter(s.Pods, isTerminating)))
	}
	if failedIdx != nil {
		taken = taken.Union(failedIdx)
	}
	var wait time.Duration
	for _, i := range firstPending(taken, diff, completions) {
		np := NewPod{Index: i}
		if perIndex {
			last := delayed[i]
			if w := indexRemaining(s.Now, s.BackoffBase, s.BackoffMax, last); w > 0 {
				wait = minRetry(wait, w)
				continue
			}
			np.PerIndex = true
			np.Failures, np.IgnoredFails = replacementCounts(j, last)
		}
		plan.Create = append(plan.Create, np)
	}
	if len(plan.Create) == 0 && wait > 0 {
		plan.RetryIn = minRetry(plan.RetryIn, wait)
	}
	return 0
}

func minRetry(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// delayedPerIndex are, per index of a Job with backoffLimitPerIndex, the
// last failed pod of an index that is neither done, failed nor running:
// its finalizer stays until its replacement is made, which takes its
// failure count from it.
func delayedPerIndex(j *batchv1.Job, pods []*corev1.Pod, processed func(*corev1.Pod) bool, succeededIdx, failedIdx, activeIdx sets.Set[int]) map[int]*corev1.Pod {
	out := map[int]*corev1.Pod{}
	completions := completionsOf(j)
	for _, p := range pods {
		if processed(p) || !isPodFailed(p, j) || !validIndex(p, completions) {
			continue
		}
		i := Index(p)
		if succeededIdx.Has(i) || failedIdx.Has(i) || activeIdx.Has(i) {
			continue
		}
		last, ok := out[i]
		if !ok {
			out[i] = p
			continue
		}
		lc, li := failureCounts(last)
		pc, pi := failureCounts(p)
		if lc+li <= pc+pi && !finishedAt(p).Before(finishedAt(last)) {
			out[i] = p
		}
	}
	return out
}

// canRemoveFinalizer reports whether p's tracking finalizer may go this
// sync: the Job is being deleted or ends, p succeeded, or p failed and
// is not the pod its index's replacement still has to read its failure
// count from.
func canRemoveFinalizer(j *batchv1.Job, p *corev1.Pod, considerFailed, finishing bool, delayed map[int]*corev1.Pod) bool {
	if j.DeletionTimestamp != nil || finishing || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !considerFailed {
		return false
	}
	if d, ok := delayed[Index(p)]; ok && d.UID == p.UID {
		return false
	}
	return true
}

// failJobMessage is the message of the first failed pod the pod failure
// policy fails the Job for.
func failJobMessage(j *batchv1.Job, pods []*corev1.Pod) (string, bool) {
	if j.Spec.PodFailurePolicy == nil {
		return "", false
	}
	for _, p := range pods {
		if !isPodFailed(p, j) {
			continue
		}
		if m := MatchPodFailurePolicy(j.Spec.PodFailurePolicy, p); m.Action == batchv1.PodFailurePolicyActionFailJob {
			return m.FailJobMessage, true
		}
	}
	return "", false
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure, the container
// restarts of pods still pending or running count against the limit (any
// restart, with a limit of 0).
func pastBackoffLimitOnFailure(j *batchv1.Job, pods []*corev1.Pod) bool {
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	restarts := 0
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += int(cs.RestartCount)
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += int(cs.RestartCount)
		}
	}
	if backoffLimit(j) == 0 {
		return restarts > 0
	}
	return restarts >= backoffLimit(j)
}

// pastDeadline reports whether a running Job has been active longer than
// activeDeadlineSeconds.
func pastDeadline(j *batchv1.Job, start *metav1.Time, now time.Time) bool {
	if j.Spec.ActiveDeadlineSeconds == nil || start == nil || suspended(j) {
		return false
	}
	return now.Sub(start.Time) >= time.Duration(*j.Spec.ActiveDeadlineSeconds)*time.Second
}

func condition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	ts := metav1.NewTime(now)
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: ts, LastTransitionTime: ts}
}

// setCondition sets the condition of type t as Kubernetes'
// ensureJobConditionStatus does, reporting whether it changed: a missing
// condition is not added as False.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	c := condition(t, reason, message, now)
	c.Status = status
	for i := range st.Conditions {
		old := &st.Conditions[i]
		if old.Type != t {
			continue
		}
		if old.Status == status && old.Reason == reason && old.Message == message {
			return false
		}
		*old = *c
		return true
	}
	if status == corev1.ConditionFalse {
		return false
	}
	st.Conditions = append(st.Conditions, *c)
	return true
}

// keepOrder lists the UIDs of set, those of old first in their order:
// an unchanged set writes an unchanged status.
func keepOrder(old []types.UID, set sets.Set[types.UID]) []types.UID {
	var out []types.UID
	seen := sets.New[types.UID]()
	for _, uid := range old {
		if set.Has(uid) && !seen.Has(uid) {
			out = append(out, uid)
			seen.Insert(uid)
		}
	}
	for _, uid := range sets.List(set) {
		if !seen.Has(uid) {
			out = append(out, uid)
		}
	}
	return out
}
