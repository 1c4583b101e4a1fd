package batch

import (
	"maps"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

type jobStrategy struct{ apiresource.DefaultStrategy }

func (jobStrategy) Default(obj runtime.Object) { defaultJob(obj.(*batchv1.Job)) }

// PrepareForCreate generates the selector here rather than in Default
// because it needs the uid, which the generic store has set by now.
func (jobStrategy) PrepareForCreate(obj runtime.Object) {
	job := obj.(*batchv1.Job)
	job.Status = batchv1.JobStatus{}
	if !ptr.Deref(job.Spec.ManualSelector, false) {
		generateSelector(job)
	}
	// Kubernetes defaults a Job's labels from its template again each time
	// it reads one back, generated labels included.
	if len(job.Labels) == 0 && len(job.Spec.Template.Labels) > 0 {
		job.Labels = maps.Clone(job.Spec.Template.Labels)
	}
}

func (jobStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateJob(obj.(*batchv1.Job), true)
}

func (jobStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	job, was := obj.(*batchv1.Job), old.(*batchv1.Job)
	_, hadName := was.Spec.Template.Labels[batchv1.JobNameLabel]
	_, hadUID := was.Spec.Template.Labels[batchv1.ControllerUidLabel]
	errs := validateJob(job, hadName && hadUID)
	neverStarted := ptr.Deref(was.Spec.Suspend, false) && was.Status.StartTime == nil
	return append(errs, validateJobSpecUpdate(&job.Spec, &was.Spec, neverStarted)...)
}

func (jobStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateJobStatus(&obj.(*batchv1.Job).Status)
}

type cronJobStrategy struct{ apiresource.DefaultStrategy }

func (cronJobStrategy) Default(obj runtime.Object) { defaultCronJob(obj.(*batchv1.CronJob)) }

func (cronJobStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*batchv1.CronJob).Status = batchv1.CronJobStatus{}
}

func (cronJobStrategy) Validate(obj runtime.Object) field.ErrorList {
	cj := obj.(*batchv1.CronJob)
	errs := validateCronJobName(cj.Name)
	return append(errs, validateCronJobSpec(&cj.Spec, nil)...)
}

// ValidateUpdate skips the name length check so that CronJobs created
// before it existed can still be changed and deleted.
func (cronJobStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return validateCronJobSpec(&obj.(*batchv1.CronJob).Spec, &old.(*batchv1.CronJob).Spec)
}
