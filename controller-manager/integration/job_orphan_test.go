package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/job"
)

// A pod holds the Job tracking finalizer only while a Job will count it.
// Once its Job is gone, however it went (with its namespace, deleted
// with propagationPolicy Orphan or Background), or no Job controls it,
// the finalizer goes: an orphaned pod runs on without it, a deleted one
// goes away instead of staying Terminating. Pods left so while no Job
// controller ran are released when it starts.
func TestJobTrackingFinalizerOfOrphans(t *testing.T) {
	e := startAPI(t)
	ctx := e.ctx()
	startKubelet(e, "node-a", "node-b")
	// Every controller but the Job controller, which starts later.
	e.startManager(withControllers("*", "-"+job.Name))
	ns := e.namespace("job-orphans")

	// Pods of a Job that is gone (the garbage collector deletes them,
	// and the finalizer holds them), one already being deleted; a pod
	// that no Job controls; a pod whose controller names a Job of the
	// same name but another UID.
	ghost := metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: "ghost",
		UID: "00000000-0000-0000-0000-00000000000a", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	e.trackedPod(ns, "left-terminating", ghost)
	if err := e.client.CoreV1().Pods(ns).Delete(ctx, "left-terminating", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.trackedPod(ns, "left-ghost", ghost)
	e.trackedPod(ns, "left-ownerless")
	e.createJob(ns, suspended(jobSpec("same", ptr.To[int32](1), ptr.To[int32](1), "", "")))
	other := ghost
	other.Name = "same"
	e.trackedPod(ns, "left-same-name", other)

	// A namespace deleted with a Job and its running pods in it: pods go
	// first (ordered namespace deletion), so they stay Terminating, held
	// by the finalizer, and the Job and the namespace wait for them until
	// the Job controller counts them and lets them go.
	doomed := e.namespace("job-orphans-doomed")
	j, err := e.client.BatchV1().Jobs(doomed).Create(ctx, suspended(jobSpec("inside", nil, ptr.To[int32](2), "", "")), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"inside-1", "inside-2"} {
		e.trackedPod(doomed, name, *metav1.NewControllerRef(j, batchv1.SchemeGroupVersion.WithKind("Job")))
	}
	eventually(t, 60*time.Second, "the doomed Job's pods running", func() (bool, error) {
		return len(e.runningWithFinalizer(doomed, "")) == 2, nil
	})
	if err := e.client.CoreV1().Namespaces().Delete(ctx, doomed, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the doomed Job's pods terminating", func() (bool, error) {
		n := 0
		for _, p := range e.pods(doomed, nil) {
			if p.DeletionTimestamp != nil && slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
				n++
			}
		}
		return n == 2, nil
	})
	if _, err := e.client.BatchV1().Jobs(doomed).Get(ctx, "inside", metav1.GetOptions{}); err != nil {
		t.Fatalf("the doomed Job went before its pods: %v", err)
	}
	for _, name := range []string{"left-terminating", "left-ghost", "left-same-name"} {
		eventually(t, 60*time.Second, "pod "+name+" terminating", func() (bool, error) {
			p, err := e.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && p.DeletionTimestamp != nil, err
		})
	}

	e.cm = e.startManager(withControllers(job.Name))
	for _, name := range []string{"left-terminating", "left-ghost", "left-same-name"} {
		e.waitPodGone(ns, name)
	}
	// Nothing deletes a pod that no one owns: it only loses the finalizer.
	e.waitFinalizerReleased(ns, "left-ownerless")
	for _, name := range []string{"inside-1", "inside-2"} {
		e.waitPodGone(doomed, name)
	}
	eventually(t, 60*time.Second, "namespace "+doomed+" gone", func() (bool, error) {
		_, err := e.client.CoreV1().Namespaces().Get(ctx, doomed, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})

	t.Run("deleted with propagationPolicy Orphan", func(t *testing.T) {
		uids := e.runJob(ns, "orphan", 2)
		e.deleteJob(ns, "orphan", metav1.DeletePropagationOrphan)
		for _, p := range e.podsByUID(ns, "orphan", uids) {
			e.waitFinalizerReleased(ns, p.Name)
		}
		// They run on, unowned, and no Job replaced them.
		pods := e.pods(ns, map[string]string{"app": "orphan"})
		if len(pods) != len(uids) {
			t.Errorf("%d pods, want the %d orphaned ones", len(pods), len(uids))
		}
		for _, p := range pods {
			if p.DeletionTimestamp != nil || len(p.OwnerReferences) != 0 || p.Status.Phase != corev1.PodRunning {
				t.Errorf("orphaned pod %s: deleting %v, owners %v, phase %s", p.Name, p.DeletionTimestamp, p.OwnerReferences, p.Status.Phase)
			}
		}
	})

	t.Run("deleted with propagationPolicy Background", func(t *testing.T) {
		uids := e.runJob(ns, "background", 2)
		e.deleteJob(ns, "background", metav1.DeletePropagationBackground)
		for _, p := range e.podsByUID(ns, "background", uids) {
			e.waitPodGone(ns, p.Name)
		}
	})
}

func suspended(j *batchv1.Job) *batchv1.Job {
	j.Spec.Suspend = ptr.To(true)
	return j
}

// trackedPod creates a pod that holds the tracking finalizer, with the
// owner references given.
func (e *env) trackedPod(ns, name string, owners ...metav1.OwnerReference) {
	e.t.Helper()
	tmpl := podTemplate(map[string]string{"app": name})
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tmpl.Labels, Finalizers: []string{batchv1.JobTrackingFinalizer}, OwnerReferences: owners},
		Spec:       tmpl.Spec,
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
}

// runJob creates a Job of n pods that run for ever, waits for them to
// run, holding the tracking finalizer, and returns their UIDs.
func (e *env) runJob(ns, name string, n int) []types.UID {
	e.t.Helper()
	e.createJob(ns, jobSpec(name, nil, ptr.To(int32(n)), "", ""))
	var uids []types.UID
	eventually(e.t, 60*time.Second, "job "+name+" running", func() (bool, error) {
		uids = e.runningWithFinalizer(ns, name)
		return len(uids) == n, nil
	})
	return uids
}

// runningWithFinalizer are the UIDs of the running pods of app name (all
// of the namespace's if name is "") that hold the tracking finalizer.
func (e *env) runningWithFinalizer(ns, name string) []types.UID {
	e.t.Helper()
	sel := map[string]string{"app": name}
	if name == "" {
		sel = nil
	}
	var uids []types.UID
	for _, p := range e.pods(ns, sel) {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			uids = append(uids, p.UID)
		}
	}
	return uids
}

func (e *env) deleteJob(ns, name string, policy metav1.DeletionPropagation) {
	e.t.Helper()
	if err := e.client.BatchV1().Jobs(ns).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		e.t.Fatalf("delete job %s: %v", name, err)
	}
	eventually(e.t, 60*time.Second, "job "+name+" gone", func() (bool, error) {
		_, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

// podsByUID are the pods of app name with the UIDs given.
func (e *env) podsByUID(ns, name string, uids []types.UID) []corev1.Pod {
	e.t.Helper()
	var out []corev1.Pod
	for _, p := range e.pods(ns, map[string]string{"app": name}) {
		if slices.Contains(uids, p.UID) {
			out = append(out, p)
		}
	}
	if len(out) != len(uids) {
		e.t.Fatalf("found %d of the %d pods of %s", len(out), len(uids), name)
	}
	return out
}

// waitPodGone waits for a pod to be deleted, its finalizers gone.
func (e *env) waitPodGone(ns, name string) {
	e.t.Helper()
	eventually(e.t, 60*time.Second, "pod "+ns+"/"+name+" gone", func() (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, fmt.Errorf("still there: finalizers %v, deleting %v, phase %s", p.Finalizers, p.DeletionTimestamp, p.Status.Phase)
	})
}

// waitFinalizerReleased waits for a pod that is not being deleted to lose
// the tracking finalizer.
func (e *env) waitFinalizerReleased(ns, name string) {
	e.t.Helper()
	eventually(e.t, 60*time.Second, "pod "+ns+"/"+name+" without the tracking finalizer", func() (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer), fmt.Errorf("finalizers %v, deleting %v", p.Finalizers, p.DeletionTimestamp)
	})
}
