// Package cronjob is the CronJob controller: it starts a Job at each time
// of a CronJob's schedule (standard cron syntax and macros, parsed by
// robfig/cron, in spec.timeZone), with concurrencyPolicy Allow, Forbid or
// Replace, startingDeadlineSeconds, suspend, and the successful and failed
// Job history limits. Missed times are handled as Kubernetes handles them
// after a controller restart: at most one Job, for the most recent missed
// time, if it is still within startingDeadlineSeconds. Each Job's name
// carries its schedule time, so no time runs twice.
package cronjob

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.uber.org/zap"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "cronjob-controller"

var kind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller is the CronJob controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	cjInf := c.Informers.Batch().V1().CronJobs()
	jobInf := c.Informers.Batch().V1().Jobs()
	ctl := &Controller{client: c.Client, cronJobs: cjInf.Lister(), jobs: jobInf.Lister(), recorder: c.Recorder, log: c.Log, clock: c.Clock}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, errors.Join(
		ctl.Watch(cjInf.Informer(), ctl.Objects()),
		ctl.Watch(jobInf.Informer(), ctl.Owners(kind)),
	)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*batchv1.CronJob](key, c.cronJobs.CronJobs)
	if !ok {
		return err
	}
	ns, name := cached.Namespace, cached.Name
	cj := cached.DeepCopy()
	all, err := c.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if metav1.IsControlledBy(j, cj) {
			jobs = append(jobs, j)
		}
	}
	if err := c.reconcileActive(ctx, cj, jobs); err != nil {
		return err
	}
	var runErr error
	if cj.DeletionTimestamp == nil {
		sched, loc, err := ParseSchedule(cj)
		if err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonUnparseableSchedule, "%v", err)
		} else {
			now := c.clock.Now()
			plan := Decide(cj, sched, loc, now)
			if plan.Run != nil || len(plan.Replace) > 0 {
				// About to start a Job: only on the CronJob as it is now.
				// A cache behind our own last status write (or a spec
				// change) would start a time twice or ignore Forbid; the
				// event that brings the cache up to date syncs again.
				fresh, err := c.client.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return ignoreNotFound(err)
				}
				if fresh.ResourceVersion != cached.ResourceVersion {
					return nil
				}
			}
			for _, ev := range plan.Events {
				t := corev1.EventTypeNormal
				if ev.Warning {
					t = corev1.EventTypeWarning
				}
				c.recorder.Event(cj, t, ev.Reason, ev.Message)
			}
			runErr = c.run(ctx, cj, plan, loc)
			if plan.Next > 0 {
				c.EnqueueAfter(key, plan.Next)
			}
		}
	}
	if !reflect.DeepEqual(cj.Status, cached.Status) {
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return errors.Join(runErr, fmt.Errorf("update cronjob %s status: %w", key, err))
		}
	}
	if runErr != nil {
		return runErr
	}
	return c.cleanup(ctx, cj, jobs)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// reconcileActive brings status.active and lastSuccessfulTime in line with
// the Jobs the CronJob owns.
func (c *Controller) reconcileActive(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	owned := map[types.UID]bool{}
	for _, j := range jobs {
		owned[j.UID] = true
		done, failed := finished(j)
		inActive := false
		for _, ref := range cj.Status.Active {
			if ref.UID == j.UID {
				inActive = true
			}
		}
		switch {
		case !inActive && !done:
			// Our own status write may just not be in the cache yet.
			if fresh, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{}); err == nil && fresh.UID == cj.UID {
				for _, ref := range fresh.Status.Active {
					inActive = inActive || ref.UID == j.UID
				}
			}
			if !inActive {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonUnexpectedJob, "Saw a job that the controller did not create or forgot: %s", j.Name)
			}
			cj.Status.Active = append(cj.Status.Active, jobRef(j))
		case inActive && done:
			removeActive(cj, j.UID)
			cond := batchv1.JobComplete
			if failed {
				cond = batchv1.JobFailed
			}
			c.recorder.Eventf(cj, corev1.EventTypeNormal, ReasonSawCompletedJob, "Saw completed job: %s, condition: %v", j.Name, cond)
		}
		if done && !failed && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime
		}
	}
	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if owned[ref.UID] {
			continue
		}
		// The cache may be behind: ask before forgetting the Job.
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, ReasonMissingJob, "Active job went missing: %v", ref.Name)
			removeActive(cj, ref.UID)
		case err != nil:
			return err
		}
	}
	return nil
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion}
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	var keep []corev1.ObjectReference
	for _, ref := range cj.Status.Active {
		if ref.UID != uid {
			keep = append(keep, ref)
		}
	}
	cj.Status.Active = keep
}

// run carries out the plan: Replace's deletions, then the new Job.
func (c *Controller) run(ctx context.Context, cj *batchv1.CronJob, plan Plan, loc *time.Location) error {
	background := metav1.DeletePropagationBackground
	for _, uid := range plan.Replace {
		var ref corev1.ObjectReference
		for _, r := range cj.Status.Active {
			if r.UID == uid {
				ref = r
			}
		}
		err := c.client.BatchV1().Jobs(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace job %s: %w", ref.Name, err)
		}
		removeActive(cj, uid)
		c.recorder.Eventf(cj, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted job %v", ref.Name)
	}
	if plan.Run == nil {
		return nil
	}
	job := newJob(cj, *plan.Run, loc)
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	existed := false
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil
	case apierrors.IsAlreadyExists(err):
		found, gerr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if !metav1.IsControlledBy(found, cj) {
			return fmt.Errorf("job %s/%s exists and is not the cronjob's", found.Namespace, found.Name)
		}
		created, existed = found, true
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating job: %v", err)
		return fmt.Errorf("create job %s: %w", job.Name, err)
	}
	if !existed {
		c.recorder.Eventf(cj, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created job %v", created.Name)
		c.log.Info("started job", zap.String("cronjob", cj.Namespace+"/"+cj.Name), zap.String("job", created.Name), zap.Time("scheduled", *plan.Run))
	}
	inActive := false
	for _, ref := range cj.Status.Active {
		if ref.UID == created.UID {
			inActive = true
		}
	}
	if !inActive {
		cj.Status.Active = append(cj.Status.Active, jobRef(created))
	}
	cj.Status.LastScheduleTime = &metav1.Time{Time: *plan.Run}
	return nil
}

// newJob is the Job for schedule time t.
func newJob(cj *batchv1.CronJob, t time.Time, loc *time.Location) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := map[string]string{}
	for k, v := range tmpl.Annotations {
		annotations[k] = v
	}
	annotations[ScheduledTimestampAnnotation] = t.In(loc).Format(time.RFC3339)
	lbls := map[string]string{}
	for k, v := range tmpl.Labels {
		lbls[k] = v
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: JobName(cj, t), Namespace: cj.Namespace, Labels: lbls, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, kind)},
		},
		Spec: tmpl.Spec,
	}
}

// cleanup deletes finished Jobs beyond the history limits.
func (c *Controller) cleanup(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	background := metav1.DeletePropagationBackground
	var errs []error
	for _, j := range ToDelete(cj, jobs) {
		err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: &metav1.Preconditions{UID: &j.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete old job %s: %w", j.Name, err))
			continue
		}
		c.recorder.Eventf(cj, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted job %v", j.Name)
	}
	return errors.Join(errs...)
}
