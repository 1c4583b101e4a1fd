package batch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	// Embedded so a CronJob's timeZone is accepted or refused the same
	// way whatever zone files the host has.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/core"
)

// Validation follows Kubernetes' pkg/apis/batch/validation, with the same
// field paths and, where users read them, the same messages.

const (
	// maxParallelismForIndexedJob caps the length of
	// status.completedIndexes.
	maxParallelismForIndexedJob = 100_000
	maxFailedIndexesForIndexed  = 100_000
	maxPodFailurePolicyRules    = 20
	maxOnExitCodesValues        = 255
	maxOnPodConditionsPatterns  = 20
	maxSuccessPolicyRules       = 20
	maxSucceededIndexesLength   = 64 * 1024
	maxManagedByLength          = 63
	// The cronjob controller names each Job after the CronJob plus an
	// 11-character "-<minutes>" suffix, and a Job's name goes into a
	// 63-character label value.
	maxCronJobNameLength = validation.DNS1035LabelMaxLength - 11
)

var (
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
)

func nonNegative(v *int32, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*v), path)
}

// validateJob checks a Job. requirePrefixed asks for the
// batch.kubernetes.io labels on the template besides the legacy ones; Jobs
// created before Kubernetes added them may lack them.
func validateJob(job *batchv1.Job, requirePrefixed bool) field.ErrorList {
	errs := validateGeneratedSelector(job, requirePrefixed)
	errs = append(errs, validateJobSpecWithSelector(&job.Spec, specPath)...)
	s := job.Spec
	if ptr.Deref(s.CompletionMode, "") == batchv1.IndexedCompletion && s.Completions != nil && *s.Completions > 0 {
		// Indexed pods are named and hostnamed "<job>-<index>".
		longest := fmt.Sprintf("%s-%d", job.Name, *s.Completions-1)
		if len(content.IsDNS1123Label(longest)) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), job.Name,
				"will not able to create pod with invalid DNS label: "+longest))
		}
	}
	return errs
}

// validateGeneratedSelector checks that a generated selector and the
// template's labels still tie the Job to its own pods and no others.
func validateGeneratedSelector(job *batchv1.Job, requirePrefixed bool) field.ErrorList {
	if ptr.Deref(job.Spec.ManualSelector, false) || job.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	if job.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	meta := specPath.Child("template", "metadata")
	want := map[string]string{legacyControllerUIDLabel: string(job.UID), legacyJobNameLabel: job.Name}
	errs = append(errs, hasLabel(job.Spec.Template.Labels, meta, legacyControllerUIDLabel, string(job.UID))...)
	errs = append(errs, hasLabel(job.Spec.Template.Labels, meta, legacyJobNameLabel, job.Name)...)
	if requirePrefixed {
		errs = append(errs, hasLabel(job.Spec.Template.Labels, meta, batchv1.ControllerUidLabel, string(job.UID))...)
		errs = append(errs, hasLabel(job.Spec.Template.Labels, meta, batchv1.JobNameLabel, job.Name)...)
		want[batchv1.ControllerUidLabel] = string(job.UID)
		want[batchv1.JobNameLabel] = job.Name
	}
	if sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !sel.Matches(labels.Set(want)) {
		errs = append(errs, field.Invalid(specPath.Child("selector"), job.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func hasLabel(l map[string]string, meta *field.Path, key, want string) field.ErrorList {
	path := meta.Child("labels").Key(key)
	got, ok := l[key]
	switch {
	case !ok:
		return field.ErrorList{field.Required(path, fmt.Sprintf("must be '%s'", want))}
	case got != want:
		return field.ErrorList{field.Invalid(path, got, fmt.Sprintf("must be '%s'", want))}
	}
	return nil
}

// validateJobSpecWithSelector checks a Job's spec; unlike a CronJob's job
// template it has a selector, which must select the template's pods.
func validateJobSpecWithSelector(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	errs := validateJobSpec(spec, path)
	if spec.Selector == nil {
		errs = append(errs, field.Required(path.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(path.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

func validateJobSpec(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegative(spec.Parallelism, path.Child("parallelism"))...)
	errs = append(errs, nonNegative(spec.Completions, path.Child("completions"))...)
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.ActiveDeadlineSeconds, path.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, nonNegative(spec.BackoffLimit, path.Child("backoffLimit"))...)
	errs = append(errs, nonNegative(spec.TTLSecondsAfterFinished, path.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, nonNegative(spec.BackoffLimitPerIndex, path.Child("backoffLimitPerIndex"))...)
	if spec.MaxFailedIndexes != nil {
		errs = append(errs, nonNegative(spec.MaxFailedIndexes, path.Child("maxFailedIndexes"))...)
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(path.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if m := spec.ManagedBy; m != nil {
		errs = append(errs, validation.IsDomainPrefixedPath(path.Child("managedBy"), *m)...)
		if len(*m) > maxManagedByLength {
			errs = append(errs, field.TooLong(path.Child("managedBy"), *m, maxManagedByLength))
		}
	}
	errs = append(errs, validateCompletionMode(spec, path)...)
	if spec.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(spec, path.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
			errs = append(errs, field.Invalid(path.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		} else {
			errs = append(errs, validateSuccessPolicy(spec, path.Child("successPolicy"))...)
		}
	}
	errs = append(errs, validatePodReplacementPolicy(spec, path.Child("podReplacementPolicy"))...)

	tpath := path.Child("template")
	errs = append(errs, core.ValidatePodTemplateSpec(&spec.Template, tpath)...)
	// A Job's pods must end, so they may not restart always. An unset
	// policy is refused too: pod defaulting would make it Always.
	rp := spec.Template.Spec.RestartPolicy
	rpPath := tpath.Child("spec", "restartPolicy")
	switch {
	case rp == corev1.RestartPolicyAlways || rp == "":
		errs = append(errs, field.Required(rpPath, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(rpPath, rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(rpPath, rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

func validateCompletionMode(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	mode := ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion)
	switch mode {
	case batchv1.NonIndexedCompletion:
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(path.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(path.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	case batchv1.IndexedCompletion:
		if spec.Completions == nil {
			errs = append(errs, field.Required(path.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(path.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
		if m := spec.MaxFailedIndexes; m != nil {
			if spec.Completions != nil && *m > *spec.Completions {
				errs = append(errs, field.Invalid(path.Child("maxFailedIndexes"), *m, "must be less than or equal to completions"))
			}
			if *m > maxFailedIndexesForIndexed {
				errs = append(errs, field.Invalid(path.Child("maxFailedIndexes"), *m, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexed)))
			}
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("completionMode"), mode,
			[]batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
	}
	return errs
}

var (
	podFailurePolicyActions = sets.New(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore)
	onExitCodesOperators = sets.New(batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn)
	conditionStatuses    = sets.New(corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown)
)

func validatePodFailurePolicy(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := spec.PodFailurePolicy.Rules
	if len(rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(path.Child("rules"), len(rules), maxPodFailurePolicyRules))
	}
	containers := sets.New[string]()
	for _, c := range spec.Template.Spec.Containers {
		containers.Insert(c.Name)
	}
	for _, c := range spec.Template.Spec.InitContainers {
		containers.Insert(c.Name)
	}
	for i := range rules {
		errs = append(errs, validatePodFailurePolicyRule(spec, &rules[i], path.Child("rules").Index(i), containers)...)
	}
	return errs
}

func validatePodFailurePolicyRule(spec *batchv1.JobSpec, r *batchv1.PodFailurePolicyRule, path *field.Path, containers sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	actionPath := path.Child("action")
	switch {
	case r.Action == "":
		errs = append(errs, field.Required(actionPath, fmt.Sprintf("valid values: %q", sets.List(podFailurePolicyActions))))
	case r.Action == batchv1.PodFailurePolicyActionFailIndex && spec.BackoffLimitPerIndex == nil:
		errs = append(errs, field.Invalid(actionPath, r.Action, "requires the backoffLimitPerIndex to be set"))
	case !podFailurePolicyActions.Has(r.Action):
		errs = append(errs, field.NotSupported(actionPath, r.Action, sets.List(podFailurePolicyActions)))
	}
	if e := r.OnExitCodes; e != nil {
		errs = append(errs, validateOnExitCodes(e, path.Child("onExitCodes"), containers)...)
	}
	if len(r.OnPodConditions) > maxOnPodConditionsPatterns {
		errs = append(errs, field.TooMany(path.Child("onPodConditions"), len(r.OnPodConditions), maxOnPodConditionsPatterns))
	}
	for j, c := range r.OnPodConditions {
		cpath := path.Child("onPodConditions").Index(j)
		for _, msg := range content.IsLabelKey(string(c.Type)) {
			errs = append(errs, field.Invalid(cpath.Child("type"), c.Type, msg))
		}
		if !conditionStatuses.Has(c.Status) {
			errs = append(errs, field.NotSupported(cpath.Child("status"), c.Status, sets.List(conditionStatuses)))
		}
	}
	hasExit, hasConditions := r.OnExitCodes != nil, len(r.OnPodConditions) > 0
	if hasExit && hasConditions {
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
	}
	if !hasExit && !hasConditions {
		errs = append(errs, field.Invalid(path, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
	}
	return errs
}

func validateOnExitCodes(e *batchv1.PodFailurePolicyOnExitCodesRequirement, path *field.Path, containers sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	switch {
	case e.Operator == "":
		errs = append(errs, field.Required(path.Child("operator"), fmt.Sprintf("valid values: %q", sets.List(onExitCodesOperators))))
	case !onExitCodesOperators.Has(e.Operator):
		errs = append(errs, field.NotSupported(path.Child("operator"), e.Operator, sets.List(onExitCodesOperators)))
	}
	if e.ContainerName != nil && !containers.Has(*e.ContainerName) {
		errs = append(errs, field.Invalid(path.Child("containerName"), *e.ContainerName, "must be one of the container or initContainer names in the pod template"))
	}
	vpath := path.Child("values")
	switch {
	case len(e.Values) == 0:
		errs = append(errs, field.Invalid(vpath, e.Values, "at least one value is required"))
	case len(e.Values) > maxOnExitCodesValues:
		errs = append(errs, field.TooMany(vpath, len(e.Values), maxOnExitCodesValues))
	}
	seen := sets.New[int32]()
	ordered := true
	for j, v := range e.Values {
		if e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
			errs = append(errs, field.Invalid(vpath.Index(j), v, "must not be 0 for the In operator"))
		}
		if seen.Has(v) {
			errs = append(errs, field.Duplicate(vpath.Index(j), v))
		}
		seen.Insert(v)
		if j > 0 && e.Values[j-1] > v {
			ordered = false
		}
	}
	if !ordered {
		errs = append(errs, field.Invalid(vpath, e.Values, "must be ordered"))
	}
	return errs
}

func validateSuccessPolicy(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := spec.SuccessPolicy.Rules
	rpath := path.Child("rules")
	if len(rules) == 0 {
		errs = append(errs, field.Required(rpath, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(rules) > maxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rpath, len(rules), maxSuccessPolicyRules))
	}
	// An Indexed Job without completions is refused elsewhere.
	completions := ptr.Deref(spec.Completions, 0)
	for i, r := range rules {
		p := rpath.Index(i)
		if r.SucceededCount == nil && r.SucceededIndexes == nil {
			errs = append(errs, field.Required(p, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		var total int32
		if r.SucceededIndexes != nil {
			ipath := p.Child("succeededIndexes")
			if len(*r.SucceededIndexes) > maxSucceededIndexesLength {
				errs = append(errs, field.TooLong(ipath, *r.SucceededIndexes, maxSucceededIndexesLength))
			}
			var err error
			if total, err = countIndexes(*r.SucceededIndexes, completions); err != nil {
				errs = append(errs, field.Invalid(ipath, *r.SucceededIndexes, "error parsing succeededIndexes: "+err.Error()))
			}
		}
		if c := r.SucceededCount; c != nil {
			cpath := p.Child("succeededCount")
			errs = append(errs, nonNegative(c, cpath)...)
			if *c > completions {
				errs = append(errs, field.Invalid(cpath, *c, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			}
			if r.SucceededIndexes != nil && *c > total {
				errs = append(errs, field.Invalid(cpath, *c, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", total)))
			}
		}
	}
	return errs
}

// countIndexes parses an index set such as "1,3-5,7", whose intervals must
// increase and stay below completions, and returns how many it holds.
func countIndexes(s string, completions int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var total int32
	last := int64(-1)
	for _, interval := range strings.Split(s, ",") {
		bounds := strings.Split(interval, "-")
		if len(bounds) > 2 {
			return 0, fmt.Errorf("the fragment %q violates the requirement that an index interval can have at most two parts separated by '-'", interval)
		}
		for j, b := range bounds {
			n, err := strconv.ParseInt(b, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("cannot convert string to integer for index: %q", b)
			}
			if n >= int64(completions) {
				return 0, fmt.Errorf("too large index: %q", b)
			}
			if n <= last {
				return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", last, n)
			}
			if j == 0 {
				total++
			} else {
				total += int32(n - last)
			}
			last = n
		}
	}
	return total, nil
}

func validatePodReplacementPolicy(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	p := spec.PodReplacementPolicy
	if p == nil {
		return nil
	}
	if spec.PodFailurePolicy != nil {
		if *p != batchv1.Failed {
			return field.ErrorList{field.NotSupported(path, *p, []batchv1.PodReplacementPolicy{batchv1.Failed})}
		}
		return nil
	}
	if *p != batchv1.Failed && *p != batchv1.TerminatingOrFailed {
		return field.ErrorList{field.NotSupported(path, *p, []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed})}
	}
	return nil
}

// validateJobSpecUpdate refuses changes to what the Job has already acted
// on. mutableScheduling lets a suspended Job that never started change
// where its pods may run, which queueing controllers such as Kueue rely on.
func validateJobSpecUpdate(now, was *batchv1.JobSpec, mutableScheduling bool) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateCompletionsUpdate(now, was)...)
	errs = append(errs, immutable(now.Selector, was.Selector, specPath.Child("selector"))...)
	errs = append(errs, validateJobTemplateUpdate(&now.Template, &was.Template, mutableScheduling)...)
	errs = append(errs, immutable(now.CompletionMode, was.CompletionMode, specPath.Child("completionMode"))...)
	errs = append(errs, immutable(now.PodFailurePolicy, was.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(now.BackoffLimitPerIndex, was.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, immutable(now.ManagedBy, was.ManagedBy, specPath.Child("managedBy"))...)
	errs = append(errs, immutable(now.SuccessPolicy, was.SuccessPolicy, specPath.Child("successPolicy"))...)
	return errs
}

// validateCompletionsUpdate keeps completions fixed, except that an
// Indexed Job may be scaled by changing completions and parallelism
// together (Kubernetes' elastic Indexed Jobs).
func validateCompletionsUpdate(now, was *batchv1.JobSpec) field.ErrorList {
	path := specPath.Child("completions")
	if ptr.Deref(now.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
		return immutable(now.Completions, was.Completions, path)
	}
	if ptr.Equal(now.Completions, was.Completions) || now.Completions == nil {
		return nil
	}
	if now.Parallelism == nil || *now.Completions != *now.Parallelism {
		return field.ErrorList{field.Invalid(path, *now.Completions, "can only be modified in tandem with spec.parallelism")}
	}
	return nil
}

func validateJobTemplateUpdate(now, was *corev1.PodTemplateSpec, mutableScheduling bool) field.ErrorList {
	if mutableScheduling {
		// Compare against the old template with the scheduling
		// directives taken from the new one, so only they may differ.
		was = was.DeepCopy()
		switch {
		case now.Spec.Affinity == nil && was.Spec.Affinity != nil:
			was.Spec.Affinity.NodeAffinity = nil
			if *was.Spec.Affinity == (corev1.Affinity{}) {
				was.Spec.Affinity = nil
			}
		case now.Spec.Affinity != nil && was.Spec.Affinity == nil:
			was.Spec.Affinity = &corev1.Affinity{NodeAffinity: now.Spec.Affinity.NodeAffinity}
		case now.Spec.Affinity != nil && was.Spec.Affinity != nil:
			was.Spec.Affinity.NodeAffinity = now.Spec.Affinity.NodeAffinity
		}
		was.Spec.NodeSelector = now.Spec.NodeSelector
		was.Spec.Tolerations = now.Spec.Tolerations
		was.Spec.SchedulingGates = now.Spec.SchedulingGates
		was.Annotations = now.Annotations
		was.Labels = now.Labels
	}
	return immutable(now, was, specPath.Child("template"))
}

func immutable(now, was interface{}, path *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(now, was, path)
}

func validateJobStatus(st *batchv1.JobStatus) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegative(&st.Active, statusPath.Child("active"))...)
	errs = append(errs, nonNegative(&st.Succeeded, statusPath.Child("succeeded"))...)
	errs = append(errs, nonNegative(&st.Failed, statusPath.Child("failed"))...)
	errs = append(errs, nonNegative(st.Ready, statusPath.Child("ready"))...)
	errs = append(errs, nonNegative(st.Terminating, statusPath.Child("terminating"))...)
	return errs
}

// CronJobs.

func validateCronJobName(name string) field.ErrorList {
	if len(name) > maxCronJobNameLength {
		return field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), name,
			fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength))}
	}
	return nil
}

// validateCronJobSpec checks a CronJob's spec; was is the spec being
// replaced, nil on create.
func validateCronJobSpec(spec, was *batchv1.CronJobSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.Schedule == "" {
		errs = append(errs, field.Required(specPath.Child("schedule"), ""))
	} else {
		// CronJobs stored before timeZone existed may keep a TZ in
		// their schedule; new ones must use the field.
		allowTZ := was != nil && strings.Contains(was.Schedule, "TZ")
		errs = append(errs, validateSchedule(spec.Schedule, allowTZ, spec.TimeZone, specPath.Child("schedule"))...)
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	}
	// Zones come and go with tzdata releases: a stored zone stays valid.
	if was == nil || !ptr.Equal(was.TimeZone, spec.TimeZone) {
		errs = append(errs, validateTimeZone(spec.TimeZone, specPath.Child("timeZone"))...)
	}
	errs = append(errs, validateConcurrencyPolicy(spec.ConcurrencyPolicy, specPath.Child("concurrencyPolicy"))...)
	errs = append(errs, validateJobTemplateSpec(&spec.JobTemplate, specPath.Child("jobTemplate"))...)
	errs = append(errs, nonNegative(spec.SuccessfulJobsHistoryLimit, specPath.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegative(spec.FailedJobsHistoryLimit, specPath.Child("failedJobsHistoryLimit"))...)
	return errs
}

func validateSchedule(schedule string, allowTZ bool, timeZone *string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(path, schedule, err.Error()))
	}
	switch {
	case allowTZ && strings.Contains(schedule, "TZ") && timeZone != nil:
		errs = append(errs, field.Invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && strings.Contains(schedule, "TZ"):
		errs = append(errs, field.Invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

// timeZoneComponent is a component of an IANA zone name; digits and '+'
// are tolerated for legacy names such as Etc/GMT+5.
var timeZoneComponent = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, path *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(path, *tz, "timeZone must be nil or non-empty string")}
	}
	// Refuse names that could reach outside the zone database before
	// time.LoadLocation reads it.
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZoneComponent.MatchString(part) {
			return field.ErrorList{field.Invalid(path, *tz, "unknown time zone "+*tz)}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(path, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(path, *tz, err.Error()))
	}
	return errs
}

func validateConcurrencyPolicy(p batchv1.ConcurrencyPolicy, path *field.Path) field.ErrorList {
	switch p {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
		return nil
	case "":
		return field.ErrorList{field.Required(path, "")}
	}
	return field.ErrorList{field.NotSupported(path, p, []batchv1.ConcurrencyPolicy{
		batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent})}
}

// validateJobTemplateSpec checks a CronJob's job template like a Job's
// spec, except that the selector is the Job's to generate when created.
func validateJobTemplateSpec(t *batchv1.JobTemplateSpec, path *field.Path) field.ErrorList {
	spath := path.Child("spec")
	errs := validateJobSpec(&t.Spec, spath)
	if t.Spec.Selector != nil {
		errs = append(errs, field.Invalid(spath.Child("selector"), t.Spec.Selector, "`selector` will be auto-generated"))
	}
	if ptr.Deref(t.Spec.ManualSelector, false) {
		errs = append(errs, field.NotSupported(spath.Child("manualSelector"), *t.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return errs
}
