package batch

import (
	"math"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

const uid = types.UID("0b6a4a3c-1111-2222-3333-444455556666")

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "pi", Image: "perl"}},
	}}
}

// newJob returns a Job as the generic store hands it to the strategy on
// create: named and with its uid set.
func newJob() *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: uid},
		Spec:       batchv1.JobSpec{Template: podTemplate()},
	}
}

// created runs a Job through the create path of the strategy.
func created(job *batchv1.Job) (*batchv1.Job, field.ErrorList) {
	s := Jobs().Strategy
	s.Default(job)
	s.PrepareForCreate(job)
	return job, s.Validate(job)
}

func TestJobDefaults(t *testing.T) {
	job, errs := created(newJob())
	kindstest.WantErr(t, errs, "", "")
	s := job.Spec
	if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 {
		t.Errorf("completions, parallelism, backoffLimit = %d, %d, %d; want 1, 1, 6", *s.Completions, *s.Parallelism, *s.BackoffLimit)
	}
	if *s.CompletionMode != batchv1.NonIndexedCompletion || *s.Suspend || *s.ManualSelector {
		t.Errorf("completionMode, suspend, manualSelector = %v, %v, %v; want NonIndexed, false, false", *s.CompletionMode, *s.Suspend, *s.ManualSelector)
	}
	if *s.PodReplacementPolicy != batchv1.TerminatingOrFailed {
		t.Errorf("podReplacementPolicy = %v, want TerminatingOrFailed", *s.PodReplacementPolicy)
	}

	queue := newJob()
	queue.Spec.Parallelism = ptr.To[int32](3)
	Jobs().Strategy.Default(queue)
	if queue.Spec.Completions != nil {
		t.Errorf("a work queue Job (parallelism only) got completions %d", *queue.Spec.Completions)
	}

	perIndex := newJob()
	perIndex.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	perIndex.Spec.Completions = ptr.To[int32](4)
	perIndex.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	Jobs().Strategy.Default(perIndex)
	if *perIndex.Spec.BackoffLimit != math.MaxInt32 {
		t.Errorf("with backoffLimitPerIndex backoffLimit = %d, want MaxInt32", *perIndex.Spec.BackoffLimit)
	}

	withPolicy := newJob()
	withPolicy.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:          batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
	}}}
	Jobs().Strategy.Default(withPolicy)
	if *withPolicy.Spec.PodReplacementPolicy != batchv1.Failed {
		t.Errorf("with a pod failure policy podReplacementPolicy = %v, want Failed", *withPolicy.Spec.PodReplacementPolicy)
	}
	if withPolicy.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
		t.Errorf("pod condition pattern status not defaulted to True")
	}
}

func TestJobGeneratedSelector(t *testing.T) {
	job, errs := created(newJob())
	kindstest.WantErr(t, errs, "", "")
	want := map[string]string{
		"batch.kubernetes.io/controller-uid": string(uid),
		"controller-uid":                     string(uid),
		"batch.kubernetes.io/job-name":       "pi",
		"job-name":                           "pi",
	}
	for k, v := range want {
		if got := job.Spec.Template.Labels[k]; got != v {
			t.Errorf("template label %s = %q, want %q", k, got, v)
		}
		if got := job.Labels[k]; got != v {
			t.Errorf("job label %s = %q, want %q (defaulted from the template)", k, got, v)
		}
	}
	if sel := job.Spec.Selector; sel == nil || len(sel.MatchLabels) != 1 || sel.MatchLabels["batch.kubernetes.io/controller-uid"] != string(uid) {
		t.Errorf("selector = %v, want matchLabels on the controller uid", job.Spec.Selector)
	}

	labelled := newJob()
	labelled.Spec.Template.Labels = map[string]string{"app": "pi"}
	labelled, errs = created(labelled)
	kindstest.WantErr(t, errs, "", "")
	if labelled.Labels["app"] != "pi" || labelled.Labels["job-name"] != "pi" {
		t.Errorf("job labels = %v, want the template's labels, generated ones included", labelled.Labels)
	}

	own := newJob()
	own.Labels = map[string]string{"team": "a"}
	own.Spec.Template.Labels = map[string]string{"app": "pi"}
	own, _ = created(own)
	if len(own.Labels) != 1 {
		t.Errorf("job labels the client set = %v, want them kept as sent", own.Labels)
	}
}

func TestJobValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.Job)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted job is valid", func(*batchv1.Job) {}, "", ""},
		{"OnFailure restart policy is valid", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }, "", ""},
		{"restartPolicy Always is refused", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, "spec.template.spec.restartPolicy", field.ErrorTypeRequired},
		{"unset restartPolicy is refused", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" }, "spec.template.spec.restartPolicy", field.ErrorTypeRequired},
		{"parallelism may not be negative", func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) }, "spec.parallelism", field.ErrorTypeInvalid},
		{"completions may not be negative", func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](-1) }, "spec.completions", field.ErrorTypeInvalid},
		{"backoffLimit may not be negative", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](-1) }, "spec.backoffLimit", field.ErrorTypeInvalid},
		{"activeDeadlineSeconds may not be negative", func(j *batchv1.Job) {
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-1)
		}, "spec.activeDeadlineSeconds", field.ErrorTypeInvalid},
		{"ttlSecondsAfterFinished may not be negative", func(j *batchv1.Job) {
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1)
		}, "spec.ttlSecondsAfterFinished", field.ErrorTypeInvalid},
		{"Indexed mode requires completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Parallelism = ptr.To[int32](2)
		}, "spec.completions", field.ErrorTypeRequired},
		{"unknown completion mode is not supported", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.CompletionMode("Sometimes"))
		}, "spec.completionMode", field.ErrorTypeNotSupported},
		{"backoffLimitPerIndex requires Indexed mode", func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
		}, "spec.backoffLimitPerIndex", field.ErrorTypeInvalid},
		{"Indexed pod names must be DNS labels", func(j *batchv1.Job) {
			j.Name = strings.Repeat("a", 62)
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](10)
		}, "metadata.name", field.ErrorTypeInvalid},
		{"manual selector must match template labels", func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
			j.Spec.Template.Labels = map[string]string{"app": "pi"}
		}, "spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"manual selector is required", func(j *batchv1.Job) { j.Spec.ManualSelector = ptr.To(true) }, "spec.selector", field.ErrorTypeRequired},
		{"generated labels may not be overridden", func(j *batchv1.Job) {
			j.Spec.Template.Labels = map[string]string{"controller-uid": "someone-else"}
		}, "spec.template.metadata.labels[controller-uid]", field.ErrorTypeInvalid},
		{"pod failure policy needs restartPolicy Never", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
			}}}
		}, "spec.template.spec.restartPolicy", field.ErrorTypeInvalid},
		{"exit code rule may not match 0 with In", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{0}},
			}}}
		}, "spec.podFailurePolicy.rules[0].onExitCodes.values[0]", field.ErrorTypeInvalid},
		{"exit code rule must name a known container", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionCount,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To("sidecar"), Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{0}},
			}}}
		}, "spec.podFailurePolicy.rules[0].onExitCodes.containerName", field.ErrorTypeInvalid},
		{"pod failure rule needs an action", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
			}}}
		}, "spec.podFailurePolicy.rules[0].action", field.ErrorTypeRequired},
		{"success policy requires Indexed mode", func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
		}, "spec.successPolicy", field.ErrorTypeInvalid},
		{"succeeded indexes must increase", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](10)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("3-5,4")}}}
		}, "spec.successPolicy.rules[0].succeededIndexes", field.ErrorTypeInvalid},
		{"succeeded count may not exceed the indexes", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](10)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{
				SucceededIndexes: ptr.To("0,2-4"), SucceededCount: ptr.To[int32](5)}}}
		}, "spec.successPolicy.rules[0].succeededCount", field.ErrorTypeInvalid},
		{"podReplacementPolicy must be known", func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.PodReplacementPolicy("Never"))
		}, "spec.podReplacementPolicy", field.ErrorTypeNotSupported},
		{"managedBy must be a domain-prefixed path", func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("kueue") }, "spec.managedBy", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := newJob()
			tt.mutate(job)
			_, errs := created(job)
			kindstest.WantErr(t, errs, tt.path, tt.typ)
		})
	}
}

func TestCountIndexes(t *testing.T) {
	tests := []struct {
		in      string
		want    int32
		wantErr bool
	}{
		{"", 0, false},
		{"0", 1, false},
		{"1,3-5,7", 5, false},
		{"0-9", 10, false},
		{"10", 0, true},
		{"5-5", 0, true},
		{"3,1", 0, true},
		{"1-2-3", 0, true},
		{"x", 0, true},
	}
	for _, tt := range tests {
		got, err := countIndexes(tt.in, 10)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("countIndexes(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestJobUpdate(t *testing.T) {
	tests := []struct {
		name      string
		suspended bool
		mutate    func(*batchv1.Job)
		path      string
		typ       field.ErrorType
	}{
		{"parallelism may change", false, func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](3) }, "", ""},
		{"suspend may change", false, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }, "", ""},
		{"completions are immutable", false, func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](4) }, "spec.completions", field.ErrorTypeInvalid},
		{"selector is immutable", false, func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["extra"] = "x"
			j.Spec.Template.Labels["extra"] = "x"
		}, "spec.selector", field.ErrorTypeInvalid},
		{"template is immutable", false, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Image = "perl:5"
		}, "spec.template", field.ErrorTypeInvalid},
		{"scheduling of a running job is immutable", false, func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
		}, "spec.template", field.ErrorTypeInvalid},
		{"scheduling of a suspended job that never ran may change", true, func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
			j.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
		}, "", ""},
		{"image of a suspended job is still immutable", true, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Image = "perl:5"
		}, "spec.template", field.ErrorTypeInvalid},
		{"completion mode is immutable", false, func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}, "spec.completionMode", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Jobs().Strategy
			fresh := newJob()
			fresh.Spec.Suspend = ptr.To(tt.suspended)
			old, errs := created(fresh)
			kindstest.WantErr(t, errs, "", "")
			job := old.DeepCopy()
			tt.mutate(job)
			s.Default(job)
			s.PrepareForUpdate(job, old)
			kindstest.WantErr(t, s.ValidateUpdate(job, old), tt.path, tt.typ)
		})
	}
}

func TestIndexedJobScalesWithParallelism(t *testing.T) {
	s := Jobs().Strategy
	j := newJob()
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.Completions = ptr.To[int32](3)
	j.Spec.Parallelism = ptr.To[int32](3)
	old, errs := created(j)
	kindstest.WantErr(t, errs, "", "")

	both := old.DeepCopy()
	both.Spec.Completions, both.Spec.Parallelism = ptr.To[int32](5), ptr.To[int32](5)
	kindstest.WantErr(t, s.ValidateUpdate(both, old), "", "")

	alone := old.DeepCopy()
	alone.Spec.Completions = ptr.To[int32](5)
	kindstest.WantErr(t, s.ValidateUpdate(alone, old), "spec.completions", field.ErrorTypeInvalid)
}

func TestJobUpdateOfJobWithoutPrefixedLabels(t *testing.T) {
	// A Job created before the batch.kubernetes.io labels existed must
	// still accept updates.
	old, _ := created(newJob())
	delete(old.Spec.Template.Labels, batchv1.JobNameLabel)
	delete(old.Spec.Template.Labels, batchv1.ControllerUidLabel)
	old.Spec.Selector.MatchLabels = map[string]string{"controller-uid": string(uid)}
	job := old.DeepCopy()
	job.Spec.Parallelism = ptr.To[int32](2)
	kindstest.WantErr(t, Jobs().Strategy.ValidateUpdate(job, old), "", "")
}

func TestJobStatus(t *testing.T) {
	s := Jobs().Strategy
	old, _ := created(newJob())
	job := old.DeepCopy()
	job.Status.Failed = -1
	kindstest.WantErr(t, s.ValidateStatusUpdate(job, old), "status.failed", field.ErrorTypeInvalid)
	job.Status = batchv1.JobStatus{Active: 1, Ready: ptr.To[int32](-1)}
	kindstest.WantErr(t, s.ValidateStatusUpdate(job, old), "status.ready", field.ErrorTypeInvalid)
}

func newCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "0 3 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate()}},
		},
	}
}

func TestCronJobDefaults(t *testing.T) {
	cj := newCronJob()
	CronJobs().Strategy.Default(cj)
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend {
		t.Errorf("concurrencyPolicy, suspend = %q, %v; want Allow, false", s.ConcurrencyPolicy, *s.Suspend)
	}
	if *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("history limits = %d, %d; want 3, 1", *s.SuccessfulJobsHistoryLimit, *s.FailedJobsHistoryLimit)
	}
	if s.JobTemplate.Spec.BackoffLimit != nil || s.JobTemplate.Spec.Selector != nil {
		t.Errorf("job template got Job defaults; the Job gets them when created")
	}
}

func TestCronJobValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted cronjob is valid", func(*batchv1.CronJob) {}, "", ""},
		{"descriptor schedule is valid", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, "", ""},
		{"time zone is valid", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Europe/Paris") }, "", ""},
		{"schedule is required", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, "spec.schedule", field.ErrorTypeRequired},
		{"schedule must parse", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every day" }, "spec.schedule", field.ErrorTypeInvalid},
		{"schedule has five fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 0 3 * * *" }, "spec.schedule", field.ErrorTypeInvalid},
		{"TZ in schedule is refused", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC 0 3 * * *" }, "spec.schedule", field.ErrorTypeInvalid},
		{"unknown time zone is invalid", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") }, "spec.timeZone", field.ErrorTypeInvalid},
		{"empty time zone is invalid", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("") }, "spec.timeZone", field.ErrorTypeInvalid},
		{"Local time zone is invalid", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Local") }, "spec.timeZone", field.ErrorTypeInvalid},
		{"time zone may not escape the zone database", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("../etc/passwd") }, "spec.timeZone", field.ErrorTypeInvalid},
		{"startingDeadlineSeconds may not be negative", func(cj *batchv1.CronJob) {
			cj.Spec.StartingDeadlineSeconds = ptr.To[int64](-1)
		}, "spec.startingDeadlineSeconds", field.ErrorTypeInvalid},
		{"unknown concurrency policy is not supported", func(cj *batchv1.CronJob) {
			cj.Spec.ConcurrencyPolicy = "Queue"
		}, "spec.concurrencyPolicy", field.ErrorTypeNotSupported},
		{"job template restartPolicy Always is refused", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, "spec.jobTemplate.spec.template.spec.restartPolicy", field.ErrorTypeRequired},
		{"job template may not set a selector", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, "spec.jobTemplate.spec.selector", field.ErrorTypeInvalid},
		{"job template may not ask for a manual selector", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.ManualSelector = ptr.To(true)
		}, "spec.jobTemplate.spec.manualSelector", field.ErrorTypeNotSupported},
		{"history limit may not be negative", func(cj *batchv1.CronJob) {
			cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1)
		}, "spec.failedJobsHistoryLimit", field.ErrorTypeInvalid},
		{"name leaves room for the job suffix", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("n", 53) }, "metadata.name", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := newCronJob()
			tt.mutate(cj)
			s := CronJobs().Strategy
			s.Default(cj)
			s.PrepareForCreate(cj)
			kindstest.WantErr(t, s.Validate(cj), tt.path, tt.typ)
		})
	}
}

func TestCronJobUpdate(t *testing.T) {
	s := CronJobs().Strategy
	old := newCronJob()
	old.Name = strings.Repeat("n", 60)
	old.Spec.Schedule = "TZ=UTC 0 3 * * *"
	s.Default(old)

	t.Run("long name and stored TZ schedule may still be updated", func(t *testing.T) {
		cj := old.DeepCopy()
		cj.Spec.Suspend = ptr.To(true)
		kindstest.WantErr(t, s.ValidateUpdate(cj, old), "", "")
	})
	t.Run("stored TZ schedule may not gain a timeZone", func(t *testing.T) {
		cj := old.DeepCopy()
		cj.Spec.TimeZone = ptr.To("UTC")
		kindstest.WantErr(t, s.ValidateUpdate(cj, old), "spec.schedule", field.ErrorTypeInvalid)
	})
}
