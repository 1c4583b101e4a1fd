package cronjob

import (
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Event reasons and the missed-times limit, as Kubernetes has them.
const (
	ReasonSuccessfulCreate    = "SuccessfulCreate"
	ReasonSuccessfulDelete    = "SuccessfulDelete"
	ReasonFailedCreate        = "FailedCreate"
	ReasonMissSchedule        = "MissSchedule"
	ReasonTooManyMissedTimes  = "TooManyMissedTimes"
	ReasonJobAlreadyActive    = "JobAlreadyActive"
	ReasonSawCompletedJob     = "SawCompletedJob"
	ReasonMissingJob          = "MissingJob"
	ReasonUnparseableSchedule = "UnparseableSchedule"
	ReasonUnexpectedJob       = "UnexpectedJob"
	// ScheduledTimestampAnnotation is on every Job: when it was due.
	ScheduledTimestampAnnotation = batchv1.CronJobScheduledTimestampAnnotation
	tooManyMissed                = 100
)

// JobName is the name of the Job due at t: the CronJob's name and t in
// minutes, so the name itself keeps a restarted controller from creating
// the same run twice.
func JobName(cj *batchv1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}

// Plan is what one sync of a CronJob does.
type Plan struct {
	// Run, if set, is the schedule time to start a Job for.
	Run *time.Time
	// Replace lists active Jobs to delete first (concurrencyPolicy Replace).
	Replace []types.UID
	// Events to record: reason and message, warning or not.
	Events []Event
	// Next is when to look again.
	Next time.Duration
}

// Event is an event Decide asks for.
type Event struct {
	Warning         bool
	Reason, Message string
}

// Decide is the pure part of a CronJob's sync, as Kubernetes' controller
// decides: the most recent schedule time missed since the last run (or
// creation), within startingDeadlineSeconds; at most one run for it,
// however many were missed; Forbid skips it while a Job runs, Replace
// deletes the running Jobs first.
func Decide(cj *batchv1.CronJob, sched cron.Schedule, loc *time.Location, now time.Time) Plan {
	var plan Plan
	next := func(from time.Time) time.Duration {
		t := sched.Next(from.In(loc))
		if t.IsZero() {
			return 0
		}
		return t.Sub(now) + 100*time.Millisecond
	}
	plan.Next = next(now)
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return plan
	}
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if limit := now.Add(-time.Duration(*d) * time.Second); limit.After(earliest) {
			earliest = limit
		}
	}
	scheduled, missed, err := MostRecent(sched, earliest.In(loc), now.In(loc))
	if err != nil {
		plan.Events = append(plan.Events, Event{Warning: true, Reason: "InvalidSchedule", Message: fmt.Sprintf("invalid schedule: %s : %v", cj.Spec.Schedule, err)})
		plan.Next = 0
		return plan
	}
	if missed > tooManyMissed {
		plan.Events = append(plan.Events, Event{Warning: true, Reason: ReasonTooManyMissedTimes,
			Message: "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"})
	}
	if scheduled == nil {
		return plan
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		plan.Events = append(plan.Events, Event{Warning: true, Reason: ReasonMissSchedule,
			Message: fmt.Sprintf("Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))})
		return plan
	}
	if cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*scheduled) {
		return plan
	}
	for _, ref := range cj.Status.Active {
		if ref.Name == JobName(cj, *scheduled) {
			return plan
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			plan.Events = append(plan.Events, Event{Reason: ReasonJobAlreadyActive,
				Message: "Not starting job because prior execution is running and concurrency policy is Forbid"})
			return plan
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range cj.Status.Active {
			plan.Replace = append(plan.Replace, ref.UID)
		}
	}
	plan.Run = scheduled
	return plan
}

// finished reports whether j is done and whether it failed.
func finished(j *batchv1.Job) (bool, bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, false
		case batchv1.JobFailed:
			return true, true
		}
	}
	return false, false
}

// ToDelete is the pure part of history clean-up: the oldest finished
// Jobs beyond successfulJobsHistoryLimit (default 3) and
// failedJobsHistoryLimit (default 1).
func ToDelete(cj *batchv1.CronJob, jobs []*batchv1.Job) []*batchv1.Job {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		done, bad := finished(j)
		switch {
		case !done || j.DeletionTimestamp != nil:
		case bad:
			failed = append(failed, j)
		default:
			succeeded = append(succeeded, j)
		}
	}
	limit := func(p *int32, def int32) int {
		if p == nil {
			return int(def)
		}
		return int(*p)
	}
	var out []*batchv1.Job
	for _, g := range []struct {
		jobs  []*batchv1.Job
		limit int
	}{{succeeded, limit(cj.Spec.SuccessfulJobsHistoryLimit, 3)}, {failed, limit(cj.Spec.FailedJobsHistoryLimit, 1)}} {
		if len(g.jobs) <= g.limit {
			continue
		}
		sort.SliceStable(g.jobs, func(a, b int) bool { return started(g.jobs[a]).Before(started(g.jobs[b])) })
		out = append(out, g.jobs[:len(g.jobs)-g.limit]...)
	}
	return out
}

func started(j *batchv1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}
