package batch

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/core"
)

// Labels Kubernetes puts on a Job's pods to tie them to it. The unprefixed
// ones are kept for tools written before the prefixed ones existed.
const (
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
)

// defaultJob sets the defaults of Kubernetes' batch/v1 API
// (pkg/apis/batch/v1/defaults.go).
func defaultJob(job *batchv1.Job) {
	s := &job.Spec
	// A Job that says neither how many pods to run nor how many at once
	// runs one pod to completion; one that sets only parallelism is a work
	// queue and keeps completions unset.
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = ptr.To[int32](1)
		s.Parallelism = ptr.To[int32](1)
	}
	if s.Parallelism == nil {
		s.Parallelism = ptr.To[int32](1)
	}
	if s.BackoffLimit == nil {
		// With a limit per index, a Job-wide limit of 6 would end the
		// Job before the indexes used theirs.
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = ptr.To[int32](math.MaxInt32)
		} else {
			s.BackoffLimit = ptr.To[int32](6)
		}
	}
	// Kubernetes hands the Job the template's label map itself, not a
	// copy, so the labels the generic store generates onto the template on
	// create land on the Job too. Sharing it here keeps that.
	if job.Spec.Template.Labels != nil && len(job.Labels) == 0 {
		job.Labels = job.Spec.Template.Labels
	}
	if s.CompletionMode == nil {
		s.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = ptr.To(false)
	}
	defaultPodFailurePolicy(s.PodFailurePolicy)
	if s.PodReplacementPolicy == nil {
		// A pod failure policy judges pods by how they ended, so their
		// replacements must wait until they have.
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			s.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if s.ManualSelector == nil {
		s.ManualSelector = ptr.To(false)
	}
	core.DefaultPodTemplateSpec(&s.Template)
}

// generateSelector selects the Job's pods by its uid, which no other
// object shares, and labels the template to match. Labels the client set
// are kept; a conflicting value fails validation.
func generateSelector(job *batchv1.Job) {
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	l := job.Spec.Template.Labels
	for _, k := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := l[k]; !ok {
			l[k] = job.Name
		}
	}
	for _, k := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := l[k]; !ok {
			l[k] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
}

func defaultCronJob(cj *batchv1.CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if s.Suspend == nil {
		s.Suspend = ptr.To(false)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = ptr.To[int32](1)
	}
	// Kubernetes defaults the job template's pods and failure policy but
	// not its Job fields (completions, backoffLimit...): those are set on
	// each Job when the controller creates it.
	defaultPodFailurePolicy(s.JobTemplate.Spec.PodFailurePolicy)
	core.DefaultPodTemplateSpec(&s.JobTemplate.Spec.Template)
}

func defaultPodFailurePolicy(p *batchv1.PodFailurePolicy) {
	if p == nil {
		return
	}
	for i := range p.Rules {
		for j := range p.Rules[i].OnPodConditions {
			if c := &p.Rules[i].OnPodConditions[j]; c.Status == "" {
				c.Status = corev1.ConditionTrue
			}
		}
	}
}
