package integration

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// jobSpec makes a Job whose pods exit with code after runFor ("" runs
// for ever).
func jobSpec(name string, completions, parallelism *int32, exit, runFor string) *batchv1.Job {
	tmpl := podTemplate(map[string]string{"app": name})
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	if exit != "" {
		tmpl.Annotations = map[string]string{annExit: exit, annRunFor: runFor}
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       batchv1.JobSpec{Completions: completions, Parallelism: parallelism, Template: tmpl},
	}
}

func (e *env) createJob(ns string, j *batchv1.Job) {
	e.t.Helper()
	if _, err := e.client.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create job: %v", err)
	}
}

// waitJobCondition waits for condition t and returns the Job.
func (e *env) waitJobCondition(ns, name string, ct batchv1.JobConditionType) *batchv1.Job {
	e.t.Helper()
	var j *batchv1.Job
	eventually(e.t, 60*time.Second, "job "+name+" "+string(ct), func() (bool, error) {
		var err error
		j, err = e.client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == ct && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return j
}

func TestJob(t *testing.T) {
	e := start(t)
	startKubelet(e, "node-a", "node-b")
	ns := e.namespace("jobs")

	t.Run("completions with parallelism", func(t *testing.T) {
		e.createJob(ns, jobSpec("ok", ptr.To[int32](3), ptr.To[int32](2), "0", "200ms"))
		j := e.waitJobCondition(ns, "ok", batchv1.JobComplete)
		if j.Status.Succeeded != 3 || j.Status.Failed != 0 || j.Status.Active != 0 || j.Status.CompletionTime == nil {
			t.Errorf("status = %+v", j.Status)
		}
		for _, p := range e.pods(ns, map[string]string{"app": "ok"}) {
			for _, f := range p.Finalizers {
				if f == batchv1.JobTrackingFinalizer {
					t.Errorf("pod %s still holds the tracking finalizer", p.Name)
				}
			}
		}
		if n := len(e.pods(ns, map[string]string{"app": "ok"})); n != 3 {
			t.Errorf("%d pods for 3 completions", n)
		}
		e.waitEvent(ns, "ok", "Completed")
		e.waitEvent(ns, "ok", "SuccessfulCreate")
	})

	t.Run("orphans adopted, pods that no longer match released", func(t *testing.T) {
		e.createJob(ns, jobSpec("adopt", nil, ptr.To[int32](2), "", ""))
		job, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), "adopt", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var pod corev1.Pod
		eventually(t, 60*time.Second, "two pods", func() (bool, error) {
			pods := e.pods(ns, map[string]string{"app": "adopt"})
			if len(pods) != 2 {
				return false, nil
			}
			pod = pods[0]
			return true, nil
		})
		update := func(change func(p *corev1.Pod)) {
			t.Helper()
			eventually(t, 30*time.Second, "pod updated", func() (bool, error) {
				p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				change(p)
				_, err = e.client.CoreV1().Pods(ns).Update(context.Background(), p, metav1.UpdateOptions{})
				return err == nil, nil
			})
		}
		controllerOf := func() *metav1.OwnerReference {
			p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return metav1.GetControllerOf(p)
		}
		update(func(p *corev1.Pod) { p.OwnerReferences = nil })
		eventually(t, 30*time.Second, "the orphan readopted", func() (bool, error) {
			ref := controllerOf()
			return ref != nil && ref.Kind == "Job" && ref.UID == job.UID, nil
		})
		update(func(p *corev1.Pod) { p.Labels = nil })
		eventually(t, 30*time.Second, "the pod released", func() (bool, error) {
			return controllerOf() == nil, nil
		})
	})

	t.Run("backoff limit", func(t *testing.T) {
		spec := jobSpec("bad", ptr.To[int32](1), ptr.To[int32](1), "1", "100ms")
		spec.Spec.BackoffLimit = ptr.To[int32](1)
		e.createJob(ns, spec)
		j := e.waitJobCondition(ns, "bad", batchv1.JobFailed)
		if j.Status.Failed != 2 || j.Status.Succeeded != 0 {
			t.Errorf("failed %d succeeded %d, want 2 and 0", j.Status.Failed, j.Status.Succeeded)
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Reason != "BackoffLimitExceeded" {
				t.Errorf("Failed reason %q", c.Reason)
			}
		}
		e.waitEvent(ns, "bad", "BackoffLimitExceeded")
	})

	t.Run("active deadline", func(t *testing.T) {
		spec := jobSpec("slow", ptr.To[int32](1), ptr.To[int32](2), "", "")
		spec.Spec.ActiveDeadlineSeconds = ptr.To[int64](2)
		e.createJob(ns, spec)
		j := e.waitJobCondition(ns, "slow", batchv1.JobFailed)
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Reason != "DeadlineExceeded" {
				t.Errorf("Failed reason %q", c.Reason)
			}
		}
		if n := len(activePods(e.pods(ns, map[string]string{"app": "slow"}))); n != 0 {
			t.Errorf("%d pods still running past the deadline", n)
		}
	})

	t.Run("indexed", func(t *testing.T) {
		spec := jobSpec("idx", ptr.To[int32](3), ptr.To[int32](3), "0", "200ms")
		spec.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		e.createJob(ns, spec)
		j := e.waitJobCondition(ns, "idx", batchv1.JobComplete)
		if j.Status.CompletedIndexes != "0-2" {
			t.Errorf("completedIndexes = %q, want 0-2", j.Status.CompletedIndexes)
		}
		seen := map[string]bool{}
		for _, p := range e.pods(ns, map[string]string{"app": "idx"}) {
			i := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			seen[i] = true
			if p.Spec.Hostname != "idx-"+i {
				t.Errorf("pod %s hostname %q, want idx-%s", p.Name, p.Spec.Hostname, i)
			}
			env := p.Spec.Containers[0].Env
			if len(env) == 0 || env[len(env)-1].Name != "JOB_COMPLETION_INDEX" || env[len(env)-1].ValueFrom == nil {
				t.Errorf("pod %s env %v lacks JOB_COMPLETION_INDEX", p.Name, env)
			}
		}
		if len(seen) != 3 {
			t.Errorf("indexes %v, want 0, 1, 2", seen)
		}
	})

	t.Run("ttlSecondsAfterFinished deletes the job and its pods", func(t *testing.T) {
		spec := jobSpec("ttl", ptr.To[int32](1), ptr.To[int32](1), "0", "")
		spec.Spec.TTLSecondsAfterFinished = ptr.To[int32](1)
		e.createJob(ns, spec)
		e.waitJobCondition(ns, "ttl", batchv1.JobComplete)
		eventually(t, 30*time.Second, "job and pods gone", func() (bool, error) {
			_, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), "ttl", metav1.GetOptions{})
			return apierrors.IsNotFound(err) && len(e.pods(ns, map[string]string{"app": "ttl"})) == 0, nil
		})
	})
}
