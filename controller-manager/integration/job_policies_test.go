package integration

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/job"
)

// jobKubelet plays the kubelet for the pods of one namespace, as the
// Kubernetes conformance suite's Job tests see it: a new pod runs and is
// ready; a running pod exits with the code behaviour gives (nil: it runs
// on); a pod being deleted (evicted) ends Failed with exit code 137,
// keeping its conditions, and is then deleted for good, as a kubelet
// that has killed its containers does.
type jobKubelet struct {
	t         testing.TB
	e         *env
	ns        string
	behaviour func(k *jobKubelet, p *corev1.Pod) *int32

	mu      sync.Mutex // guards evicted and deleted
	evicted map[int]bool
	deleted map[types.UID]bool
}

func (e *env) playJobKubelet(ns string, behaviour func(k *jobKubelet, p *corev1.Pod) *int32) *jobKubelet {
	k := &jobKubelet{t: e.t, e: e, ns: ns, behaviour: behaviour, evicted: map[int]bool{}, deleted: map[types.UID]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			k.step(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
	return k
}

// wasEvicted reports whether a pod of index i has been evicted.
func (k *jobKubelet) wasEvicted(i int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.evicted[i]
}

func (k *jobKubelet) step(ctx context.Context) {
	list, err := k.e.client.CoreV1().Pods(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.Items {
		p := &list.Items[i]
		switch {
		case p.DeletionTimestamp != nil:
			k.terminate(ctx, p)
		case p.Status.Phase == "" || p.Status.Phase == corev1.PodPending:
			k.run(ctx, p)
		case p.Status.Phase == corev1.PodRunning:
			if code := k.behaviour(k, p); code != nil {
				k.exit(ctx, p, *code, nil)
			}
		}
	}
}

func (k *jobKubelet) run(ctx context.Context, p *corev1.Pod) {
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, _ = k.e.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
}

// exit ends p's containers with code, and then, if after is set, calls
// it once the status is written.
func (k *jobKubelet) exit(ctx context.Context, p *corev1.Pod, code int32, after func()) {
	now := metav1.Now()
	p.Status.Phase = corev1.PodSucceeded
	reason := "Completed"
	if code != 0 {
		p.Status.Phase, reason = corev1.PodFailed, "Error"
	}
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.LastTransitionTime = corev1.ConditionFalse, now
		}
	}
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		cs.Ready = false
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, FinishedAt: now}}
	}
	if _, err := k.e.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err == nil && after != nil {
		after()
	}
}

// terminate finishes a pod being deleted and deletes it for good; the
// tracking finalizer keeps it until the Job controller has counted it.
func (k *jobKubelet) terminate(ctx context.Context, p *corev1.Pod) {
	if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
				if i, err := strconv.Atoi(p.Annotations[batchv1.JobCompletionIndexAnnotation]); err == nil {
					k.mu.Lock()
					k.evicted[i] = true
					k.mu.Unlock()
				}
			}
		}
		k.exit(ctx, p, 137, nil)
		return
	}
	k.mu.Lock()
	done := k.deleted[p.UID]
	k.deleted[p.UID] = true
	k.mu.Unlock()
	if done {
		return
	}
	err := k.e.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.mu.Lock()
		delete(k.deleted, p.UID)
		k.mu.Unlock()
	}
}

// failOddSucceedEven is the conformance suite's pod of that name: odd
// indexes exit 1, even ones 0.
func failOddSucceedEven(_ *jobKubelet, p *corev1.Pod) *int32 {
	i, _ := strconv.Atoi(p.Annotations[batchv1.JobCompletionIndexAnnotation])
	return ptr.To(int32(i % 2))
}

// indexedJob is an Indexed Job as the conformance suite makes them.
func indexedJob(name string, completions, parallelism int32, backoffLimit *int32) *batchv1.Job {
	j := jobSpec(name, ptr.To(completions), ptr.To(parallelism), "", "")
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.BackoffLimit = backoffLimit
	return j
}

// waitJob waits for the Job to satisfy ok and returns it.
func (e *env) waitJob(ns, name, what string, ok func(*batchv1.Job) bool) *batchv1.Job {
	e.t.Helper()
	var j *batchv1.Job
	eventually(e.t, 60*time.Second, "job "+name+": "+what, func() (bool, error) {
		var err error
		j, err = e.client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return ok(j), nil
	})
	return j
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// checkFinished checks that j ended with condition t for reason, after
// the interim condition with the same reason, with no pod left active,
// ready or terminating.
func checkFinished(t *testing.T, j *batchv1.Job, ct batchv1.JobConditionType, reason string) {
	t.Helper()
	interim := batchv1.JobSuccessCriteriaMet
	if ct == batchv1.JobFailed {
		interim = batchv1.JobFailureTarget
	}
	if c := jobCondition(j, interim); c == nil || c.Reason != reason {
		t.Errorf("interim condition %s = %+v, want reason %s", interim, c, reason)
	}
	if c := jobCondition(j, ct); c == nil || c.Reason != reason {
		t.Errorf("condition %s = %+v, want reason %s", ct, c, reason)
	}
	if j.Status.Active != 0 || !ptr.Equal(j.Status.Ready, ptr.To[int32](0)) || !ptr.Equal(j.Status.Terminating, ptr.To[int32](0)) {
		t.Errorf("active %d ready %v terminating %v, want 0, 0, 0", j.Status.Active, ptr.Deref(j.Status.Ready, -1), ptr.Deref(j.Status.Terminating, -1))
	}
	if u := j.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncounted pods left: %+v", u)
	}
}

// The Kubernetes conformance suite's Job tests of pod failure policies,
// backoffLimitPerIndex and success policies, with the test as the
// kubelet.
func TestJobPolicies(t *testing.T) {
	e := start(t, withControllers(job.Name))

	t.Run("Ignore on DisruptionTarget: evicted pods are not failures", func(t *testing.T) {
		ns := e.namespace("job-disruption")
		// Each index runs until evicted once, then succeeds.
		e.playJobKubelet(ns, func(k *jobKubelet, p *corev1.Pod) *int32 {
			i, _ := strconv.Atoi(p.Annotations[batchv1.JobCompletionIndexAnnotation])
			if k.wasEvicted(i) {
				return ptr.To[int32](0)
			}
			return nil
		})
		spec := indexedJob("evicted", 3, 3, ptr.To[int32](2))
		spec.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:          batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
		}}}
		e.createJob(ns, spec)
		e.waitJob(ns, "evicted", "3 ready", func(j *batchv1.Job) bool { return ptr.Equal(j.Status.Ready, ptr.To[int32](3)) })
		running := activePods(e.pods(ns, map[string]string{"app": "evicted"}))
		if len(running) != 3 {
			t.Fatalf("%d running pods, want 3", len(running))
		}
		for _, p := range running {
			if err := e.client.CoreV1().Pods(ns).EvictV1(context.Background(), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns}}); err != nil {
				t.Fatalf("evict %s: %v", p.Name, err)
			}
		}
		for _, p := range running {
			eventually(t, 30*time.Second, "evicted pod "+p.Name+" gone", func() (bool, error) {
				_, err := e.client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), err
			})
		}
		j := e.waitJob(ns, "evicted", "complete", func(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobComplete) != nil })
		checkFinished(t, j, batchv1.JobComplete, batchv1.JobReasonCompletionsReached)
		if j.Status.Succeeded != 3 || j.Status.Failed != 0 || j.Status.CompletedIndexes != "0-2" {
			t.Errorf("succeeded %d failed %d completedIndexes %q, want 3, 0, 0-2", j.Status.Succeeded, j.Status.Failed, j.Status.CompletedIndexes)
		}
		if jobCondition(j, batchv1.JobFailed) != nil {
			t.Errorf("job failed: %+v", j.Status.Conditions)
		}
	})

	t.Run("FailJob on an exit code fails the Job early", func(t *testing.T) {
		ns := e.namespace("job-failjob")
		// The first pod to run fails, the others succeed.
		var once sync.Once
		e.playJobKubelet(ns, func(_ *jobKubelet, p *corev1.Pod) *int32 {
			code := int32(0)
			once.Do(func() { code = 1 })
			return &code
		})
		spec := jobSpec("failjob", ptr.To[int32](4), ptr.To[int32](2), "", "")
		spec.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:      batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
		}}}
		e.createJob(ns, spec)
		j := e.waitJob(ns, "failjob", "failed", func(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobFailed) != nil })
		checkFinished(t, j, batchv1.JobFailed, batchv1.JobReasonPodFailurePolicy)
		if c := jobCondition(j, batchv1.JobFailed); c != nil {
			if want := "for pod " + ns + "/"; !containsAll(c.Message, "Container app ", want, " failed with exit code 1 matching FailJob rule at index 0") {
				t.Errorf("message %q", c.Message)
			}
		}
		if j.Status.Failed < 1 {
			t.Errorf("failed %d, want at least 1", j.Status.Failed)
		}
	})

	t.Run("FailIndex marks the index failed without retries", func(t *testing.T) {
		ns := e.namespace("job-failindex")
		e.playJobKubelet(ns, failOddSucceedEven)
		spec := indexedJob("failindex", 2, 2, nil)
		spec.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
		spec.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:      batchv1.PodFailurePolicyActionFailIndex,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
		}}}
		e.createJob(ns, spec)
		j := e.waitJob(ns, "failindex", "failed", func(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobFailed) != nil })
		checkFinished(t, j, batchv1.JobFailed, batchv1.JobReasonFailedIndexes)
		if ptr.Deref(j.Status.FailedIndexes, "<nil>") != "1" || j.Status.CompletedIndexes != "0" || j.Status.Failed != 1 || j.Status.Succeeded != 1 {
			t.Errorf("failedIndexes %q completedIndexes %q failed %d succeeded %d; want 1, 0, 1, 1",
				ptr.Deref(j.Status.FailedIndexes, "<nil>"), j.Status.CompletedIndexes, j.Status.Failed, j.Status.Succeeded)
		}
	})

	t.Run("backoffLimitPerIndex runs every index despite failures", func(t *testing.T) {
		ns := e.namespace("job-perindex")
		e.playJobKubelet(ns, failOddSucceedEven)
		spec := indexedJob("perindex", 4, 2, nil)
		spec.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
		e.createJob(ns, spec)
		j := e.waitJob(ns, "perindex", "failed", func(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobFailed) != nil })
		checkFinished(t, j, batchv1.JobFailed, batchv1.JobReasonFailedIndexes)
		if ptr.Deref(j.Status.FailedIndexes, "<nil>") != "1,3" || j.Status.CompletedIndexes != "0,2" || j.Status.Failed != 4 || j.Status.Succeeded != 2 {
			t.Errorf("failedIndexes %q completedIndexes %q failed %d succeeded %d; want 1,3, 0,2, 4, 2",
				ptr.Deref(j.Status.FailedIndexes, "<nil>"), j.Status.CompletedIndexes, j.Status.Failed, j.Status.Succeeded)
		}
		// Each failed index ran twice: failure counts 0, then 1.
		counts := map[string][]string{}
		for _, p := range e.pods(ns, map[string]string{"app": "perindex"}) {
			i := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			counts[i] = append(counts[i], p.Annotations[batchv1.JobIndexFailureCountAnnotation])
		}
		for _, i := range []string{"1", "3"} {
			if len(counts[i]) != 2 || !containsAll(counts[i][0]+counts[i][1], "0", "1") {
				t.Errorf("index %s failure counts %v, want 0 and 1", i, counts[i])
			}
		}
	})

	t.Run("maxFailedIndexes ends the Job at the first failed index too many", func(t *testing.T) {
		ns := e.namespace("job-maxfailed")
		e.playJobKubelet(ns, func(*jobKubelet, *corev1.Pod) *int32 { return ptr.To[int32](1) })
		spec := indexedJob("maxfailed", 4, 1, nil)
		spec.Spec.BackoffLimitPerIndex = ptr.To[int32](0)
		spec.Spec.MaxFailedIndexes = ptr.To[int32](0)
		e.createJob(ns, spec)
		j := e.waitJob(ns, "maxfailed", "failed", func(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobFailed) != nil })
		checkFinished(t, j, batchv1.JobFailed, batchv1.JobReasonMaxFailedIndexesExceeded)
		if ptr.Deref(j.Status.FailedIndexes, "<nil>") != "0" || j.Status.Failed != 1 {
			t.Errorf("failedIndexes %q failed %d, want 0 and 1", ptr.Deref(j.Status.FailedIndexes, "<nil>"), j.Status.Failed)
		}
	})

	t.Run("suspend and resume keep status.ready", func(t *testing.T) {
		ns := e.namespace("job-suspend")
		e.playJobKubelet(ns, func(*jobKubelet, *corev1.Pod) *int32 { return nil })
		e.createJob(ns, suspended(jobSpec("sus", ptr.To[int32](4), ptr.To[int32](2), "", "")))
		e.waitJob(ns, "sus", "suspended, 0 ready", func(j *batchv1.Job) bool {
			return jobCondition(j, batchv1.JobSuspended) != nil && ptr.Equal(j.Status.Ready, ptr.To[int32](0)) && j.Status.StartTime == nil
		})
		setSuspend := func(v bool) {
			eventually(t, 30*time.Second, "update suspend", func() (bool, error) {
				j, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), "sus", metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				j.Spec.Suspend = ptr.To(v)
				_, err = e.client.BatchV1().Jobs(ns).Update(context.Background(), j, metav1.UpdateOptions{})
				return err == nil, err
			})
		}
		setSuspend(false)
		j := e.waitJob(ns, "sus", "2 ready", func(j *batchv1.Job) bool { return ptr.Equal(j.Status.Ready, ptr.To[int32](2)) && j.Status.Active == 2 })
		if c := j.Status.Conditions; len(c) != 1 || c[0].Status != corev1.ConditionFalse || c[0].Reason != "JobResumed" || j.Status.StartTime == nil {
			t.Errorf("after resume: conditions %+v, startTime %v", c, j.Status.StartTime)
		}
		setSuspend(true)
		e.waitJob(ns, "sus", "suspended again, 0 ready", func(j *batchv1.Job) bool {
			return jobCondition(j, batchv1.JobSuspended) != nil && ptr.Equal(j.Status.Ready, ptr.To[int32](0)) && j.Status.Active == 0
		})
		eventually(t, 30*time.Second, "pods gone", func() (bool, error) {
			return len(e.pods(ns, map[string]string{"app": "sus"})) == 0, nil
		})
		e.waitEvent(ns, "sus", "Suspended")
		e.waitEvent(ns, "sus", "Resumed")
		if j, _ := e.client.BatchV1().Jobs(ns).Get(context.Background(), "sus", metav1.GetOptions{}); j.Status.Failed != 0 {
			t.Errorf("pods of a suspended Job counted as failed: %d", j.Status.Failed)
		}
	})

	successPolicy := func(t *testing.T, name string, completions int32, backoffLimit *int32, rule batchv1.SuccessPolicyRule, behaviour func(*jobKubelet, *corev1.Pod) *int32) *batchv1.Job {
		ns := e.namespace("job-" + name)
		e.playJobKubelet(ns, behaviour)
		spec := indexedJob(name, completions, 2, backoffLimit)
		spec.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{rule}}
		e.createJob(ns, spec)
		e.waitJob(ns, name, "SuccessCriteriaMet", func(j *batchv1.Job) bool {
			c := jobCondition(j, batchv1.JobSuccessCriteriaMet)
			return c != nil && c.Reason == batchv1.JobReasonSuccessPolicy
		})
		j := e.waitJob(ns, name, "complete", func(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobComplete) != nil })
		checkFinished(t, j, batchv1.JobComplete, batchv1.JobReasonSuccessPolicy)
		if c := jobCondition(j, batchv1.JobComplete); c == nil || c.Message != "Matched rules at index 0" || j.Status.CompletionTime == nil {
			t.Errorf("Complete condition %+v, completionTime %v", c, j.Status.CompletionTime)
		}
		if n := len(activePods(e.pods(ns, map[string]string{"app": name}))); n != 0 {
			t.Errorf("%d pods still running", n)
		}
		return j
	}

	t.Run("successPolicy met when all indexes succeed", func(t *testing.T) {
		j := successPolicy(t, "sp-all", 2, ptr.To[int32](6), batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](2)},
			func(*jobKubelet, *corev1.Pod) *int32 { return ptr.To[int32](0) })
		if j.Status.Succeeded != 2 || j.Status.Failed != 0 {
			t.Errorf("succeeded %d failed %d, want 2 and 0", j.Status.Succeeded, j.Status.Failed)
		}
	})

	t.Run("successPolicy succeededIndexes met with indexes pending", func(t *testing.T) {
		j := successPolicy(t, "sp-indexes", 5, ptr.To[int32](6), batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0")}, failOddSucceedEven)
		if j.Status.Succeeded != 1 || j.Status.CompletedIndexes != "0" {
			t.Errorf("succeeded %d completedIndexes %q, want 1 and 0", j.Status.Succeeded, j.Status.CompletedIndexes)
		}
	})

	t.Run("successPolicy succeededCount met with indexes pending", func(t *testing.T) {
		j := successPolicy(t, "sp-count", 5, ptr.To[int32](math.MaxInt32), batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)}, failOddSucceedEven)
		if j.Status.Succeeded != 1 || j.Status.CompletedIndexes != "0" {
			t.Errorf("succeeded %d completedIndexes %q, want 1 and 0", j.Status.Succeeded, j.Status.CompletedIndexes)
		}
	})
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
