// Package ttlafterfinished is the TTL-after-finished controller: a Job
// with ttlSecondsAfterFinished is deleted (with its pods, in the
// foreground) that many seconds after it completed or failed.
package ttlafterfinished

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "ttl-after-finished-controller"

// ExpireAt is the pure part: when a finished Job with a TTL expires;
// false if it has no TTL or has not finished.
func ExpireAt(j *batchv1.Job) (time.Time, bool) {
	if j.Spec.TTLSecondsAfterFinished == nil || j.DeletionTimestamp != nil {
		return time.Time{}, false
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			finished := c.LastTransitionTime.Time
			if c.Type == batchv1.JobComplete && j.Status.CompletionTime != nil {
				finished = j.Status.CompletionTime.Time
			}
			return finished.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second), true
		}
	}
	return time.Time{}, false
}

// Controller deletes expired Jobs.
type Controller struct {
	*controller.Base
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	log    *zap.Logger
	clock  clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	inf := c.Informers.Batch().V1().Jobs()
	ctl := &Controller{client: c.Client, jobs: inf.Lister(), log: c.Log, clock: c.Clock}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, ctl.Watch(inf.Informer(), ctl.Objects())
}

func (c *Controller) sync(ctx context.Context, key string) error {
	j, ok, err := controller.Get[*batchv1.Job](key, c.jobs.Jobs)
	if !ok {
		return err
	}
	ns, name := j.Namespace, j.Name
	at, ok := ExpireAt(j)
	if !ok {
		return nil
	}
	if left := at.Sub(c.clock.Now()); left > 0 {
		c.EnqueueAfter(key, left)
		return nil
	}
	// Check the live Job: its TTL may have been changed since.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if at, ok := ExpireAt(fresh); !ok || at.After(c.clock.Now()) {
		return nil
	}
	policy := metav1.DeletePropagationForeground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete expired job %s: %w", key, err)
	}
	c.log.Info("deleted finished job past its TTL", zap.String("job", key))
	return nil
}
