package job

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

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

	ReasonBackoffLimitExceeded = batchv1.JobReasonBackoffLimitExceeded
	ReasonDeadlineExceeded     = batchv1.JobReasonDeadlineExceeded
	ReasonCompletionsReached   = batchv1.JobReasonCompletionsReached
	MessageBackoffLimit        = "Job has reached the specified backoff limit"
	MessageDeadline            = "Job was active longer than specified deadline"
	MessageCompletionsReached  = "Reached expected number of succeeded pods"
	ReasonSuspended            = "JobSuspended"
	ReasonResumed              = "JobResumed"
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

// IsPodFailed is Kubernetes' rule: Failed, or being deleted before it
// succeeded (the pod will never finish on its own).
func IsPodFailed(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

// HasFinalizer reports whether pod is still to be counted.
func HasFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == TrackingFinalizer {
			return true
		}
	}
	return false
}

// Orphaned reports whether p holds the tracking finalizer although no
// Job will ever count it, so that the finalizer must go now, as
// Kubernetes' orphan pod queue has it: p has no controller (the garbage
// collector orphaned it, or it never had one), or its controller is a
// Job but job, the Job of that name (nil if there is none), is gone or
// is another Job of the same name (another UID). A pod of an existing
// Job is that Job's to count and release, finished or not (track); a pod
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

// Index is an Indexed Job pod's completion index, -1 if none.
func Index(p *corev1.Pod) int {
	v, ok := p.Annotations[IndexAnnotation]
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
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

// ParseIndexes reads a completedIndexes string ("1,3-5").
func ParseIndexes(s string, completions int) sets.Set[int] {
	out := sets.New[int]()
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b && (completions <= 0 || i < completions); i++ {
			out.Insert(i)
		}
	}
	return out
}

// FormatIndexes writes indexes as completedIndexes holds them: sorted,
// consecutive ones as ranges ("1,3-5").
func FormatIndexes(idx sets.Set[int]) string {
	list := sets.List(idx)
	var parts []string
	for i := 0; i < len(list); {
		j := i
		for j+1 < len(list) && list[j+1] == list[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", list[i], list[j]))
		} else {
			parts = append(parts, strconv.Itoa(list[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// State is what a Job's sync sees: its counts so far and its pods.
type State struct {
	Job *batchv1.Job
	// Active are the pods running or to run: not finished, not deleted.
	Active []*corev1.Pod
	// Succeeded and Failed count the finished pods, counted or about to be.
	Succeeded, Failed int
	// Completed are the indexes done, for Indexed Jobs.
	Completed sets.Set[int]
	// Restarts sums the container restarts of active pods (they count
	// against backoffLimit with restartPolicy OnFailure).
	Restarts int
	// LastFailure is when the most recent pod failed.
	LastFailure time.Time
	Now         time.Time
}

// Plan is what one sync does.
type Plan struct {
	// FailReason and FailMessage, if set, fail the Job.
	FailReason, FailMessage string
	// Complete finishes the Job successfully.
	Complete bool
	// Create is how many pods to create, with Indexes for Indexed Jobs.
	Create  int
	Indexes []int
	// Delete are the pods to delete.
	Delete []*corev1.Pod
	// RetryIn asks for another look later (back-off, deadline), 0 if not.
	RetryIn time.Duration
}

// Backoff is the delay before a new pod after failures failures.
func Backoff(failures int, base, max time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := base
	for i := 1; i < failures; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	return min(d, max)
}

// Decide is the pure part of a Job's sync: fail it (deadline or backoff
// limit), complete it, or create and delete pods toward min(parallelism,
// completions left), honouring the back-off after failures.
func Decide(s State, backoffBase, backoffMax time.Duration) Plan {
	j := s.Job
	var plan Plan
	if d := j.Spec.ActiveDeadlineSeconds; d != nil && j.Status.StartTime != nil {
		deadline := j.Status.StartTime.Add(time.Duration(*d) * time.Second)
		if !s.Now.Before(deadline) {
			return Plan{FailReason: ReasonDeadlineExceeded, FailMessage: MessageDeadline, Delete: s.Active}
		}
		plan.RetryIn = deadline.Sub(s.Now)
	}
	if s.Failed > backoffLimit(j) || pastBackoffLimitOnFailure(j, s.Restarts) {
		return Plan{FailReason: ReasonBackoffLimitExceeded, FailMessage: MessageBackoffLimit, Delete: s.Active}
	}

	completions := -1
	if j.Spec.Completions != nil {
		completions = int(*j.Spec.Completions)
	}
	succeeded := s.Succeeded
	if isIndexed(j) {
		succeeded = s.Completed.Len()
	}
	switch {
	case completions >= 0 && succeeded >= completions:
		return Plan{Complete: true, Delete: s.Active}
	case completions < 0 && succeeded > 0 && len(s.Active) == 0:
		return Plan{Complete: true}
	}

	want := parallelism(j)
	if completions >= 0 {
		want = min(want, completions-succeeded)
	} else if succeeded > 0 {
		// Some pod succeeded: no new ones, let the others finish.
		want = len(s.Active)
	}
	want = max(want, 0)
	active := s.Active
	if isIndexed(j) {
		// A pod of an index already done, or a second pod of one index,
		// goes.
		seen := sets.New[int]()
		var keep []*corev1.Pod
		for _, p := range active {
			i := Index(p)
			if i < 0 || (completions >= 0 && i >= completions) || s.Completed.Has(i) || seen.Has(i) {
				plan.Delete = append(plan.Delete, p)
				continue
			}
			seen.Insert(i)
			keep = append(keep, p)
		}
		active = keep
	}
	switch {
	case len(active) > want:
		sorted := append([]*corev1.Pod(nil), active...)
		if isIndexed(j) {
			// Highest indexes go first.
			sort.SliceStable(sorted, func(a, b int) bool { return Index(sorted[a]) > Index(sorted[b]) })
		} else {
			podstate.SortForDeletion(sorted)
		}
		plan.Delete = append(plan.Delete, sorted[:len(active)-want]...)
	case len(active) < want:
		if wait := s.LastFailure.Add(Backoff(s.Failed, backoffBase, backoffMax)).Sub(s.Now); !s.LastFailure.IsZero() && s.Failed > 0 && wait > 0 {
			if plan.RetryIn == 0 || wait < plan.RetryIn {
				plan.RetryIn = wait
			}
			return plan
		}
		n := want - len(active)
		if isIndexed(j) {
			taken := sets.New[int]()
			for _, p := range active {
				taken.Insert(Index(p))
			}
			for i := 0; i < completions && len(plan.Indexes) < n; i++ {
				if !taken.Has(i) && !s.Completed.Has(i) {
					plan.Indexes = append(plan.Indexes, i)
				}
			}
			n = len(plan.Indexes)
		}
		plan.Create = min(n, 500)
		if isIndexed(j) {
			plan.Indexes = plan.Indexes[:plan.Create]
		}
	}
	return plan
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure, container
// restarts count against the limit (any restart, with a limit of 0).
func pastBackoffLimitOnFailure(j *batchv1.Job, restarts int) bool {
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	if backoffLimit(j) == 0 {
		return restarts > 0
	}
	return restarts >= backoffLimit(j)
}

// finishedAt is when a failed pod failed, as well as its status tells.
func finishedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time
	}
	if t.IsZero() {
		for _, c := range p.Status.Conditions {
			if c.LastTransitionTime.After(t) {
				t = c.LastTransitionTime.Time
			}
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}
