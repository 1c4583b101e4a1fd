package job

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"coracle.dev/controller-manager/internal/controller"
)

// OrphanQueue names the queue of pods whose tracking finalizer no Job
// will remove, as Kubernetes names it.
const OrphanQueue = "job_orphan_pod"

// orphanResync is how often every pod in the cache is looked at again
// for a finalizer left behind: events catch them all (the initial list
// included), this is the safety net.
const orphanResync = 10 * time.Minute

// watchOrphans queues, on the orphan queue, the pods that hold the
// tracking finalizer although no Job will remove it: a Job's sync only
// sees the pods of a Job that exists, so a Job deleted (by its namespace
// too) or a pod the garbage collector orphaned would keep the finalizer,
// and a deleted pod would stay Terminating, for ever.
func (c *Controller) watchOrphans(podInf, jobInf cache.SharedInformer) error {
	if err := c.Watch(podInf, controller.Handlers[*corev1.Pod]{
		// The initial list brings every pod, those already being deleted
		// when the controller starts among them.
		Add:    c.enqueueIfOrphan,
		Update: func(_, p *corev1.Pod) { c.enqueueIfOrphan(p) },
	}); err != nil {
		return err
	}
	if err := c.Watch(jobInf, controller.Handlers[*batchv1.Job]{
		// A deleted Job's pods change only later (the garbage collector
		// deletes or orphans them), or not at all: look at them now.
		Delete: c.enqueuePodsOf,
	}); err != nil {
		return err
	}
	c.Every(orphanResync, c.resyncOrphans)
	return nil
}

// controllerJob is the Job in the cache with the name of p's controller,
// nil if p's controller is no Job or there is no such Job.
func (c *Controller) controllerJob(p *corev1.Pod) *batchv1.Job {
	ref := controller.OwnerRef(p, kind)
	if ref == nil {
		return nil
	}
	j, err := c.jobs.Jobs(p.Namespace).Get(ref.Name)
	if err != nil {
		return nil
	}
	return j
}

func (c *Controller) enqueueIfOrphan(p *corev1.Pod) {
	if HasFinalizer(p) && Orphaned(p, c.controllerJob(p)) {
		c.orphans.Add(controller.Key(p))
	}
}

// enqueuePodsOf queues the pods j controlled that still hold the
// finalizer; the orphan sync decides on each.
func (c *Controller) enqueuePodsOf(j *batchv1.Job) {
	pods, err := c.owned.List(j.Namespace, j.UID)
	if err != nil {
		return
	}
	for _, p := range pods {
		if HasFinalizer(p) {
			c.orphans.Add(controller.Key(p))
		}
	}
}

// resyncOrphans queues every orphan in the cache.
func (c *Controller) resyncOrphans(context.Context) {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		c.enqueueIfOrphan(p)
	}
}

// syncOrphan removes the tracking finalizer of one pod if Orphaned says
// so of the cached pod and of its Job as the apiserver has it: the Job
// cache may lag behind the pod cache (they are listed at different
// moments), and a finalizer taken from a live Job's pod would leave that
// pod uncounted.
func (c *Controller) syncOrphan(ctx context.Context, key string) error {
	p, ok, err := controller.Get[*corev1.Pod](key, c.pods.Pods)
	if !ok || err != nil {
		return err
	}
	if !Orphaned(p, c.controllerJob(p)) {
		return nil
	}
	if ref := controller.OwnerRef(p, kind); ref != nil {
		live, err := c.client.BatchV1().Jobs(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return err
		}
		if !Orphaned(p, live) {
			return nil
		}
	}
	return c.removeFinalizer(ctx, p)
}
