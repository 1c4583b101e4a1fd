package job

import (
	"fmt"
	"strconv"
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

func job(completions *int32, parallelism int32, backoff int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "ns"},
		Spec: batchv1.JobSpec{Completions: completions, Parallelism: ptr.To(parallelism), BackoffLimit: ptr.To(backoff),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}}},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: now.Add(-time.Minute)}},
	}
}

func indexed(j *batchv1.Job) *batchv1.Job {
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	return j
}

func active(n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := 0; i < n; i++ {
		out = append(out, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), UID: types.UID(fmt.Sprint(i))}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	return out
}

func withIndex(p *corev1.Pod, i int) *corev1.Pod {
	p.Annotations = map[string]string{IndexAnnotation: strconv.Itoa(i)}
	return p
}

func TestDecide(t *testing.T) {
	base, maxB := 10*time.Second, 6*time.Minute
	deadline := job(ptr.To[int32](5), 2, 6)
	deadline.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
	onFailure := job(ptr.To[int32](1), 1, 2)
	onFailure.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	tests := []struct {
		name      string
		state     State
		want      Plan
		wantIndex []int
	}{
		{"starts parallelism pods", State{Job: job(ptr.To[int32](5), 2, 6)}, Plan{Create: 2}, nil},
		{"no more than completions left", State{Job: job(ptr.To[int32](5), 3, 6), Succeeded: 4}, Plan{Create: 1}, nil},
		{"running enough: nothing", State{Job: job(ptr.To[int32](5), 2, 6), Active: active(2), Succeeded: 1}, Plan{}, nil},
		{"too many running after a parallelism cut", State{Job: job(ptr.To[int32](5), 1, 6), Active: active(3)}, Plan{Delete: active(2)}, nil},
		{"completions reached", State{Job: job(ptr.To[int32](2), 2, 6), Succeeded: 2}, Plan{Complete: true}, nil},
		{"work queue: one success and none running completes", State{Job: job(nil, 3, 6), Succeeded: 1}, Plan{Complete: true}, nil},
		{"work queue: one success stops new pods", State{Job: job(nil, 3, 6), Succeeded: 1, Active: active(1)}, Plan{}, nil},
		{"backoff limit exceeded", State{Job: job(ptr.To[int32](5), 2, 2), Failed: 3, Active: active(1)},
			Plan{FailReason: ReasonBackoffLimitExceeded, FailMessage: MessageBackoffLimit, Delete: active(1)}, nil},
		{"at the backoff limit still retries", State{Job: job(ptr.To[int32](1), 1, 2), Failed: 2}, Plan{Create: 1}, nil},
		{"OnFailure restarts count against the limit", State{Job: onFailure, Active: active(1), Restarts: 2},
			Plan{FailReason: ReasonBackoffLimitExceeded, FailMessage: MessageBackoffLimit, Delete: active(1)}, nil},
		{"active deadline passed", State{Job: deadline, Active: active(2)},
			Plan{FailReason: ReasonDeadlineExceeded, FailMessage: MessageDeadline, Delete: active(2)}, nil},
		{"back-off after failures delays new pods", State{Job: job(ptr.To[int32](1), 1, 6), Failed: 2, LastFailure: now.Add(-time.Second)},
			Plan{RetryIn: 19 * time.Second}, nil},
		{"back-off over: create", State{Job: job(ptr.To[int32](1), 1, 6), Failed: 2, LastFailure: now.Add(-time.Minute)},
			Plan{Create: 1}, nil},
		{"indexed: lowest free indexes", State{Job: indexed(job(ptr.To[int32](4), 2, 6)), Completed: sets.New(0), Active: []*corev1.Pod{withIndex(active(1)[0], 1)}},
			Plan{Create: 1}, []int{2}},
		{"indexed: duplicate index deleted", State{Job: indexed(job(ptr.To[int32](4), 2, 6)), Completed: sets.New[int](),
			Active: []*corev1.Pod{withIndex(active(2)[0], 1), withIndex(active(2)[1], 1)}},
			Plan{Delete: active(2)[1:], Create: 1}, []int{0}},
		{"indexed: all indexes done", State{Job: indexed(job(ptr.To[int32](3), 2, 6)), Completed: sets.New(0, 1, 2)}, Plan{Complete: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state
			s.Now = now
			if s.Completed == nil {
				s.Completed = sets.New[int]()
			}
			got := Decide(s, base, maxB)
			if got.Create != tt.want.Create || got.Complete != tt.want.Complete || got.FailReason != tt.want.FailReason ||
				len(got.Delete) != len(tt.want.Delete) || got.RetryIn != tt.want.RetryIn && tt.want.RetryIn != 0 {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
			if fmt.Sprint(got.Indexes) != fmt.Sprint(tt.wantIndex) && tt.wantIndex != nil {
				t.Errorf("indexes = %v, want %v", got.Indexes, tt.wantIndex)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second}, {10, 6 * time.Minute}} {
		if got := Backoff(tt.failures, 10*time.Second, 6*time.Minute); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestIndexes(t *testing.T) {
	for _, s := range []string{"", "0", "0,2-4", "1-2,5,7-9"} {
		if got := FormatIndexes(ParseIndexes(s, 10)); got != s {
			t.Errorf("round trip of %q = %q", s, got)
		}
	}
	if got := ParseIndexes("0-9", 3).Len(); got != 3 {
		t.Errorf("indexes beyond completions kept: %d", got)
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
