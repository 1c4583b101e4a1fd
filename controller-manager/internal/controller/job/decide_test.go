package job

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const (
	base = 10 * time.Second
	maxB = 6 * time.Minute
)

func job(completions *int32, parallelism int32, backoff int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "ns"},
		Spec: batchv1.JobSpec{Completions: completions, Parallelism: ptr.To(parallelism), BackoffLimit: ptr.To(backoff),
			PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
			Template:             corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}}},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: now.Add(-time.Minute)}},
	}
}

func indexed(j *batchv1.Job) *batchv1.Job {
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	return j
}

// perIndex gives j backoffLimitPerIndex limit (and, as the apiserver
// defaults it, an unbounded backoffLimit).
func perIndex(j *batchv1.Job, limit int32) *batchv1.Job {
	j.Spec.BackoffLimitPerIndex = ptr.To(limit)
	j.Spec.BackoffLimit = ptr.To[int32](1<<31 - 1)
	return indexed(j)
}

// withPolicy gives j a pod failure policy, and the podReplacementPolicy
// the apiserver defaults with one.
func withPolicy(j *batchv1.Job, rules ...batchv1.PodFailurePolicyRule) *batchv1.Job {
	j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules}
	j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	return j
}

func onExit(action batchv1.PodFailurePolicyAction, codes ...int32) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
		Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: codes}}
}

func onDisruption(action batchv1.PodFailurePolicyAction) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
		{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}
}

type podOpt func(*corev1.Pod)

// pod is a running, not ready pod named (and with the UID) name, holding
// the tracking finalizer.
func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Finalizers: []string{TrackingFinalizer},
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
}

func idx(i int) podOpt {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[IndexAnnotation] = fmt.Sprint(i)
	}
}

func failures(n int) podOpt {
	return func(p *corev1.Pod) { p.Annotations[batchv1.JobIndexFailureCountAnnotation] = fmt.Sprint(n) }
}

// exited ends the pod's container with code, ago before now.
func exited(code int32, ago time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodSucceeded
		if code != 0 {
			p.Status.Phase = corev1.PodFailed
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.NewTime(now.Add(-ago))}}}}
	}
}

func succeeded(p *corev1.Pod) { exited(0, time.Hour)(p) }

func disrupted(p *corev1.Pod) {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue})
}

func deleting(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Second)} }

func counted(p *corev1.Pod) { p.Finalizers = nil }

func succeededSoFar(j *batchv1.Job, n int32) *batchv1.Job {
	return withStatus(j, func(s *batchv1.JobStatus) { s.Succeeded = n })
}

func withStatus(j *batchv1.Job, f func(*batchv1.JobStatus)) *batchv1.Job {
	f(&j.Status)
	return j
}

// summary writes what a plan does in one line, pods by name.
func summary(p Plan) string {
	names := func(pods []*corev1.Pod) string {
		var out []string
		for _, x := range pods {
			out = append(out, x.Name)
		}
		return strings.Join(out, ",")
	}
	var create []string
	for _, np := range p.Create {
		s := fmt.Sprint(np.Index)
		if np.PerIndex {
			s += fmt.Sprintf("(f%d/i%d)", np.Failures, np.IgnoredFails)
		}
		create = append(create, s)
	}
	cond := func(c *batchv1.JobCondition) string {
		if c == nil {
			return "-"
		}
		return string(c.Type) + "/" + c.Reason
	}
	st := p.Status
	u := st.UncountedTerminatedPods
	out := fmt.Sprintf("create=[%s] delete=[%s] unfinalize=[%s] interim=%s final=%s active=%d ready=%d terminating=%d succeeded=%d failed=%d uncounted=[%v|%v]",
		strings.Join(create, ","), names(p.Delete), names(p.RemoveFinalizers), cond(p.Interim), cond(p.Final),
		st.Active, ptr.Deref(st.Ready, -1), ptr.Deref(st.Terminating, -1), st.Succeeded, st.Failed, u.Succeeded, u.Failed)
	if st.CompletedIndexes != "" || st.FailedIndexes != nil {
		out += fmt.Sprintf(" completed=%q", st.CompletedIndexes)
	}
	if st.FailedIndexes != nil {
		out += fmt.Sprintf(" failedIndexes=%q", *st.FailedIndexes)
	}
	if p.RetryIn > 0 {
		out += fmt.Sprintf(" retry=%v", p.RetryIn)
	}
	return out
}

func TestDecide(t *testing.T) {
	deadline := job(ptr.To[int32](5), 2, 6)
	deadline.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
	onFailure := job(ptr.To[int32](1), 1, 2)
	onFailure.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	restarted := pod("a", func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: 2}}
	})
	suspendedJob := job(ptr.To[int32](4), 2, 6)
	suspendedJob.Spec.Suspend = ptr.To(true)
	resumed := withStatus(job(ptr.To[int32](1), 1, 6), func(s *batchv1.JobStatus) {
		s.StartTime = nil
		s.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: ReasonSuspended, Message: "Job suspended"}}
	})
	succeededIndexes := func(rule batchv1.SuccessPolicyRule) *batchv1.Job {
		j := indexed(job(ptr.To[int32](5), 2, 6))
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{rule}}
		return j
	}
	tests := []struct {
		name      string
		state     State
		unsatisfy bool
		want      string
	}{
		{"starts parallelism pods", State{Job: job(ptr.To[int32](5), 2, 6)},
			false, "create=[-1,-1] delete=[] unfinalize=[] interim=- final=- active=2 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"status.ready counts the ready active pods", State{Job: job(ptr.To[int32](5), 3, 6), Pods: []*corev1.Pod{pod("a", ready), pod("b", ready), pod("c")}},
			false, "create=[] delete=[] unfinalize=[] interim=- final=- active=3 ready=2 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"no more than completions left", State{Job: succeededSoFar(job(ptr.To[int32](5), 3, 6), 4), Pods: []*corev1.Pod{pod("a", succeeded, counted), pod("b", succeeded, counted), pod("c", succeeded, counted), pod("d", succeeded, counted)}},
			false, "create=[-1] delete=[] unfinalize=[] interim=- final=- active=1 ready=0 terminating=0 succeeded=4 failed=0 uncounted=[[]|[]]"},
		{"expectations not satisfied: nothing created", State{Job: job(ptr.To[int32](5), 2, 6)},
			true, "create=[] delete=[] unfinalize=[] interim=- final=- active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"too many running after a parallelism cut: the finalizer goes with them", State{Job: job(ptr.To[int32](5), 1, 6), Pods: []*corev1.Pod{pod("a", ready), pod("b")}},
			false, "create=[] delete=[b] unfinalize=[] interim=- final=- active=1 ready=1 terminating=1 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"a finished pod is recorded and loses its finalizer", State{Job: job(ptr.To[int32](2), 1, 6), Pods: []*corev1.Pod{pod("a", succeeded)}},
			false, "create=[-1] delete=[] unfinalize=[a] interim=- final=- active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[a]|[]]"},
		{"a recorded pod without its finalizer is counted", State{Job: withStatus(job(ptr.To[int32](2), 1, 6), func(s *batchv1.JobStatus) {
			s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}}
		}), Pods: []*corev1.Pod{pod("a", succeeded, counted), pod("b")}},
			false, "create=[] delete=[] unfinalize=[] interim=- final=- active=1 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[]|[]]"},
		{"a pod whose finalizer removal the cache does not show yet is not recorded again", State{Job: job(ptr.To[int32](2), 1, 6),
			Pods: []*corev1.Pod{pod("a", succeeded), pod("b")}, Removing: sets.New[types.UID]("a")},
			false, "create=[] delete=[] unfinalize=[] interim=- final=- active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"completions reached: SuccessCriteriaMet, then Complete", State{Job: succeededSoFar(job(ptr.To[int32](2), 2, 6), 1), Pods: []*corev1.Pod{pod("a", succeeded, counted), pod("b", succeeded)}},
			false, "create=[] delete=[] unfinalize=[b] interim=SuccessCriteriaMet/CompletionsReached final=Complete/CompletionsReached active=0 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[b]|[]]"},
		{"work queue: one success and none running completes", State{Job: succeededSoFar(job(nil, 3, 6), 1), Pods: []*corev1.Pod{pod("a", succeeded, counted)}},
			false, "create=[] delete=[] unfinalize=[] interim=SuccessCriteriaMet/CompletionsReached final=Complete/CompletionsReached active=0 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[]|[]]"},
		{"work queue: one success stops new pods", State{Job: succeededSoFar(job(nil, 3, 6), 1), Pods: []*corev1.Pod{pod("a", succeeded, counted), pod("b")}},
			false, "create=[] delete=[] unfinalize=[] interim=- final=- active=1 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[]|[]]"},
		{"a SuccessCriteriaMet Job with nothing left completes", State{Job: withStatus(job(ptr.To[int32](1), 1, 6), func(s *batchv1.JobStatus) {
			s.Succeeded = 1
			s.Conditions = []batchv1.JobCondition{*condition(batchv1.JobSuccessCriteriaMet, ReasonCompletionsReached, MessageCompletionsReached, now)}
		})}, false, "create=[] delete=[] unfinalize=[] interim=- final=Complete/CompletionsReached active=0 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[]|[]]"},
		{"backoff limit exceeded: the running pods go and count as failed", State{Job: withStatus(job(ptr.To[int32](5), 2, 1), func(s *batchv1.JobStatus) { s.Failed = 1 }), Pods: []*corev1.Pod{pod("a", exited(1, time.Hour), counted), pod("b", exited(1, time.Hour)), pod("c")}},
			false, "create=[] delete=[c] unfinalize=[b,c] interim=FailureTarget/BackoffLimitExceeded final=Failed/BackoffLimitExceeded active=0 ready=0 terminating=1 succeeded=0 failed=1 uncounted=[[]|[b c]]"},
		{"at the backoff limit still retries after the back-off", State{Job: withStatus(job(ptr.To[int32](1), 1, 2), func(s *batchv1.JobStatus) { s.Failed = 2 }),
			Backoff: BackoffRecord{FailuresAfterLastSuccess: 2, LastFailure: now.Add(-time.Second)}},
			false, "create=[] delete=[] unfinalize=[] interim=- final=- active=0 ready=0 terminating=0 succeeded=0 failed=2 uncounted=[[]|[]] retry=19s"},
		{"back-off over: create", State{Job: withStatus(job(ptr.To[int32](1), 1, 2), func(s *batchv1.JobStatus) { s.Failed = 2 }),
			Backoff: BackoffRecord{FailuresAfterLastSuccess: 2, LastFailure: now.Add(-time.Minute)}},
			false, "create=[-1] delete=[] unfinalize=[] interim=- final=- active=1 ready=0 terminating=0 succeeded=0 failed=2 uncounted=[[]|[]]"},
		{"OnFailure restarts count against the limit", State{Job: onFailure, Pods: []*corev1.Pod{restarted}},
			false, "create=[] delete=[a] unfinalize=[a] interim=FailureTarget/BackoffLimitExceeded final=Failed/BackoffLimitExceeded active=0 ready=0 terminating=1 succeeded=0 failed=0 uncounted=[[]|[a]]"},
		{"active deadline passed", State{Job: deadline, Pods: []*corev1.Pod{pod("a", ready)}},
			false, "create=[] delete=[a] unfinalize=[a] interim=FailureTarget/DeadlineExceeded final=Failed/DeadlineExceeded active=0 ready=0 terminating=1 succeeded=0 failed=0 uncounted=[[]|[a]]"},
		{"a FailureTarget Job fails once its pods are gone", State{Job: withStatus(job(ptr.To[int32](1), 1, 6), func(s *batchv1.JobStatus) {
			s.Failed = 1
			s.Conditions = []batchv1.JobCondition{*condition(batchv1.JobFailureTarget, ReasonPodFailurePolicy, "m", now)}
		}), Pods: []*corev1.Pod{pod("a", exited(1, time.Hour), counted)}},
			false, "create=[] delete=[] unfinalize=[] interim=- final=Failed/PodFailurePolicy active=0 ready=0 terminating=0 succeeded=0 failed=1 uncounted=[[]|[]]"},
		{"suspended: pods go uncounted", State{Job: suspendedJob, Pods: []*corev1.Pod{pod("a", ready), pod("b")}},
			false, "create=[] delete=[b,a] unfinalize=[] interim=- final=- active=0 ready=0 terminating=2 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"resumed: pods again", State{Job: resumed},
			false, "create=[-1] delete=[] unfinalize=[] interim=- final=- active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]]"},

		// Pod failure policy.
		{"FailJob on an exit code fails the Job", State{Job: withPolicy(job(ptr.To[int32](4), 2, 6), onExit(batchv1.PodFailurePolicyActionFailJob, 1)),
			Pods: []*corev1.Pod{pod("a", exited(1, time.Second)), pod("b", ready)}},
			false, "create=[] delete=[b] unfinalize=[a,b] interim=FailureTarget/PodFailurePolicy final=Failed/PodFailurePolicy active=0 ready=0 terminating=1 succeeded=0 failed=0 uncounted=[[]|[a b]]"},
		{"Ignore on DisruptionTarget: not counted, the index runs again", State{Job: withPolicy(indexed(job(ptr.To[int32](3), 3, 0)), onDisruption(batchv1.PodFailurePolicyActionIgnore)),
			Pods: []*corev1.Pod{pod("a", idx(0), disrupted, exited(137, time.Hour)), pod("b", idx(1), ready), pod("c", idx(2), ready)}},
			false, "create=[0] delete=[] unfinalize=[a] interim=- final=- active=3 ready=2 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"Ignore: an evicted pod still terminating holds its index back", State{Job: withPolicy(indexed(job(ptr.To[int32](3), 3, 0)), onDisruption(batchv1.PodFailurePolicyActionIgnore)),
			Pods: []*corev1.Pod{pod("a", idx(0), disrupted, deleting), pod("b", idx(1), ready), pod("c", idx(2), ready)}},
			false, "create=[] delete=[] unfinalize=[] interim=- final=- active=2 ready=2 terminating=1 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"Count: a failure like any other", State{Job: withPolicy(job(ptr.To[int32](1), 1, 0), onExit(batchv1.PodFailurePolicyActionCount, 3)),
			Pods: []*corev1.Pod{pod("a", exited(3, time.Hour))}},
			false, "create=[] delete=[] unfinalize=[a] interim=FailureTarget/BackoffLimitExceeded final=Failed/BackoffLimitExceeded active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[a]]"},
		{"no rule matches: counted", State{Job: withPolicy(job(ptr.To[int32](1), 1, 6), onExit(batchv1.PodFailurePolicyActionFailJob, 42)),
			Pods: []*corev1.Pod{pod("a", exited(1, time.Hour))}},
			false, "create=[-1] delete=[] unfinalize=[a] interim=- final=- active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[a]]"},

		// backoffLimitPerIndex.
		{"FailIndex fails the index at once; all indexes done fails the Job", State{
			Job:  perIndex(withPolicy(job(ptr.To[int32](2), 2, 6), onExit(batchv1.PodFailurePolicyActionFailIndex, 1)), 1),
			Pods: []*corev1.Pod{pod("a", idx(0), failures(0), succeeded), pod("b", idx(1), failures(0), exited(1, time.Second))}},
			false, `create=[] delete=[] unfinalize=[a,b] interim=FailureTarget/FailedIndexes final=Failed/FailedIndexes active=0 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[]|[b]] completed="0" failedIndexes="1"`},
		{"a failed index within its limit gets a pod with the count, the failed one waits for it", State{
			Job:  perIndex(job(ptr.To[int32](2), 2, 6), 1),
			Pods: []*corev1.Pod{pod("a", idx(0), failures(0), ready), pod("b", idx(1), failures(0), exited(1, time.Minute))}},
			false, `create=[1(f1/i0)] delete=[] unfinalize=[] interim=- final=- active=2 ready=1 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]] completed="" failedIndexes=""`},
		{"the index's back-off holds its next pod", State{
			Job:  perIndex(job(ptr.To[int32](2), 2, 6), 1),
			Pods: []*corev1.Pod{pod("a", idx(0), failures(0), ready), pod("b", idx(1), failures(0), exited(1, time.Second))}},
			false, `create=[] delete=[] unfinalize=[] interim=- final=- active=1 ready=1 terminating=0 succeeded=0 failed=0 uncounted=[[]|[]] completed="" failedIndexes="" retry=9s`},
		{"once replaced, the failed pod is counted", State{
			Job:  perIndex(job(ptr.To[int32](2), 2, 6), 1),
			Pods: []*corev1.Pod{pod("a", idx(0), failures(0)), pod("b", idx(1), failures(0), exited(1, time.Minute)), pod("c", idx(1), failures(1))}},
			false, `create=[] delete=[] unfinalize=[b] interim=- final=- active=2 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[b]] completed="" failedIndexes=""`},
		{"past backoffLimitPerIndex the index fails and the others go on", State{
			Job:  perIndex(job(ptr.To[int32](3), 2, 6), 1),
			Pods: []*corev1.Pod{pod("a", idx(0), failures(0)), pod("b", idx(1), failures(1), exited(1, time.Minute))}},
			false, `create=[2(f0/i0)] delete=[] unfinalize=[b] interim=- final=- active=2 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[b]] completed="" failedIndexes="1"`},
		{"more failed indexes than maxFailedIndexes fails the Job", State{
			Job: func() *batchv1.Job {
				j := perIndex(job(ptr.To[int32](4), 1, 6), 0)
				j.Spec.MaxFailedIndexes = ptr.To[int32](0)
				return j
			}(),
			Pods: []*corev1.Pod{pod("a", idx(0), failures(0), exited(1, time.Second))}},
			false, `create=[] delete=[] unfinalize=[a] interim=FailureTarget/MaxFailedIndexesExceeded final=Failed/MaxFailedIndexesExceeded active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[[]|[a]] completed="" failedIndexes="0"`},

		// Success policy.
		{"succeededIndexes met: the rest go, not counted as failed", State{Job: succeededIndexes(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0")}),
			Pods: []*corev1.Pod{pod("a", idx(0), succeeded), pod("b", idx(1), ready)}},
			false, `create=[] delete=[b] unfinalize=[a,b] interim=SuccessCriteriaMet/SuccessPolicy final=Complete/SuccessPolicy active=0 ready=0 terminating=1 succeeded=1 failed=0 uncounted=[[]|[]] completed="0"`},
		{"succeededCount met while other indexes fail", State{Job: succeededIndexes(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)}),
			Pods: []*corev1.Pod{pod("a", idx(0), succeeded), pod("b", idx(1), exited(1, time.Second)), pod("c", idx(2))}},
			false, `create=[] delete=[c] unfinalize=[a,b,c] interim=SuccessCriteriaMet/SuccessPolicy final=Complete/SuccessPolicy active=0 ready=0 terminating=1 succeeded=1 failed=0 uncounted=[[]|[b]] completed="0"`},
		{"succeededIndexes not met yet", State{Job: succeededIndexes(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("1-2")}),
			Pods: []*corev1.Pod{pod("a", idx(1), succeeded), pod("b", idx(0))}},
			false, `create=[2] delete=[] unfinalize=[a] interim=- final=- active=2 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[]|[]] completed="1"`},
		{"a success policy met by all indexes says SuccessPolicy", State{Job: func() *batchv1.Job {
			j := indexed(job(ptr.To[int32](2), 2, 6))
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](2)}}}
			return j
		}(), Pods: []*corev1.Pod{pod("a", idx(0), succeeded), pod("b", idx(1), succeeded)}},
			false, `create=[] delete=[] unfinalize=[a,b] interim=SuccessCriteriaMet/SuccessPolicy final=Complete/SuccessPolicy active=0 ready=0 terminating=0 succeeded=2 failed=0 uncounted=[[]|[]] completed="0,1"`},

		// Indexed Jobs.
		{"indexed: lowest free indexes", State{Job: withStatus(indexed(job(ptr.To[int32](4), 2, 6)), func(s *batchv1.JobStatus) { s.CompletedIndexes = "0" }),
			Pods: []*corev1.Pod{pod("a", idx(1))}},
			false, `create=[2] delete=[] unfinalize=[] interim=- final=- active=2 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[[]|[]] completed="0"`},
		{"indexed: a duplicate index is deleted first", State{Job: indexed(job(ptr.To[int32](4), 2, 6)),
			Pods: []*corev1.Pod{pod("a", idx(1), ready), pod("b", idx(1))}},
			false, "create=[] delete=[b] unfinalize=[] interim=- final=- active=1 ready=1 terminating=1 succeeded=0 failed=0 uncounted=[[]|[]]"},
		{"indexed: all indexes done", State{Job: withStatus(indexed(job(ptr.To[int32](3), 2, 6)), func(s *batchv1.JobStatus) { s.CompletedIndexes = "0-2" })},
			false, `create=[] delete=[] unfinalize=[] interim=SuccessCriteriaMet/CompletionsReached final=Complete/CompletionsReached active=0 ready=0 terminating=0 succeeded=3 failed=0 uncounted=[[]|[]] completed="0-2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state
			s.Now, s.BackoffBase, s.BackoffMax, s.Satisfied = now, base, maxB, !tt.unsatisfy
			got := summary(Decide(s))
			if got != tt.want {
				t.Errorf("Decide:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDecideConditions(t *testing.T) {
	j := withPolicy(job(ptr.To[int32](4), 2, 6), onExit(batchv1.PodFailurePolicyActionFailJob, 1))
	plan := Decide(State{Job: j, Pods: []*corev1.Pod{pod("a", exited(1, time.Second))}, Now: now, Satisfied: true, BackoffBase: base, BackoffMax: maxB})
	want := "Container c for pod ns/a failed with exit code 1 matching FailJob rule at index 0"
	if plan.Interim == nil || plan.Interim.Message != want || plan.Final.Message != want {
		t.Fatalf("interim %+v final %+v, want message %q", plan.Interim, plan.Final, want)
	}
	if c := hasCondition(&batchv1.Job{Status: plan.Status}, batchv1.JobFailureTarget); c == nil {
		t.Errorf("status lacks the FailureTarget condition: %+v", plan.Status.Conditions)
	}

	sus := job(ptr.To[int32](1), 1, 6)
	sus.Spec.Suspend = ptr.To(true)
	plan = Decide(State{Job: sus, Now: now, Satisfied: true})
	c := hasCondition(&batchv1.Job{Status: plan.Status}, batchv1.JobSuspended)
	if c == nil || c.Reason != ReasonSuspended || plan.Event != EventReasonSuspended || plan.Status.StartTime != nil {
		t.Errorf("suspended: condition %+v, event %q, startTime %v", c, plan.Event, plan.Status.StartTime)
	}
	sus.Status = plan.Status
	sus.Spec.Suspend = ptr.To(false)
	plan = Decide(State{Job: sus, Now: now.Add(time.Minute), Satisfied: true, BackoffBase: base, BackoffMax: maxB})
	for _, c := range plan.Status.Conditions {
		if c.Type == batchv1.JobSuspended && (c.Status != corev1.ConditionFalse || c.Reason != ReasonResumed) {
			t.Errorf("resumed: condition %+v", c)
		}
	}
	if plan.Event != EventReasonResumed || !plan.Status.StartTime.Time.Equal(now.Add(time.Minute)) {
		t.Errorf("resumed: event %q, startTime %v", plan.Event, plan.Status.StartTime)
	}
}

func TestDecideCapsUncounted(t *testing.T) {
	var pods []*corev1.Pod
	for i := range MaxUncountedPods + 10 {
		pods = append(pods, pod(fmt.Sprint(i), succeeded))
	}
	plan := Decide(State{Job: job(ptr.To[int32](int32(len(pods))), 1, 6), Pods: pods, Now: now, Satisfied: true})
	if n := len(plan.Status.UncountedTerminatedPods.Succeeded); n != MaxUncountedPods || !plan.Capped || len(plan.RemoveFinalizers) != MaxUncountedPods {
		t.Errorf("recorded %d, capped %v, unfinalized %d; want %d, true, %d", n, plan.Capped, len(plan.RemoveFinalizers), MaxUncountedPods, MaxUncountedPods)
	}
}

func TestOrphaned(t *testing.T) {
	live := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "ns", UID: "job-1"}}
	other := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "ns", UID: "job-2"}}
	finished := live.DeepCopy()
	finished.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	ref := func(apiVersion, kind, name string, uid types.UID, isController bool) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(isController)}
	}
	byJob := ref("batch/v1", "Job", "pi", "job-1", true)
	pod := func(finalizers []string, refs ...metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Finalizers: finalizers, OwnerReferences: refs}}
	}
	tracked := []string{TrackingFinalizer}
	tests := []struct {
		name string
		pod  *corev1.Pod
		job  *batchv1.Job
		want bool
	}{
		{"a running Job's pod keeps it", pod(tracked, byJob), live, false},
		{"a finished Job's pod is the Job's to count and release", pod(tracked, byJob), finished, false},
		{"the Job is gone", pod(tracked, byJob), nil, true},
		{"a Job of the same name is another Job", pod(tracked, byJob), other, true},
		{"no owner at all (orphaned by the garbage collector)", pod(tracked), nil, true},
		{"an owner that is not its controller", pod(tracked, ref("batch/v1", "Job", "pi", "job-1", false)), nil, true},
		{"controlled by another kind", pod(tracked, ref("apps/v1", "ReplicaSet", "rs", "rs-1", true)), nil, false},
		{"a Job of another API group", pod(tracked, ref("example.com/v1", "Job", "pi", "job-1", true)), nil, false},
		{"no finalizer, nothing to remove", pod(nil, byJob), nil, false},
		{"another finalizer only", pod([]string{"example.com/hold"}), nil, false},
		{"the finalizer among others", pod([]string{"example.com/hold", TrackingFinalizer}, byJob), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Orphaned(tt.pod, tt.job); got != tt.want {
				t.Errorf("Orphaned = %v, want %v", got, tt.want)
			}
		})
	}
}
