package cronjob

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) // a Sunday

func cronJob(schedule string, created time.Time, last *time.Time) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "ns", CreationTimestamp: metav1.NewTime(created)},
		Spec:       batchv1.CronJobSpec{Schedule: schedule, ConcurrencyPolicy: batchv1.AllowConcurrent},
	}
	if last != nil {
		cj.Status.LastScheduleTime = &metav1.Time{Time: *last}
	}
	return cj
}

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		tz       *string
		from     time.Time
		want     time.Time
		wantErr  bool
	}{
		{"every five minutes", "*/5 * * * *", nil, t0.Add(time.Minute), t0.Add(5 * time.Minute), false},
		{"@hourly", "@hourly", nil, t0.Add(time.Minute), t0.Add(time.Hour), false},
		{"@daily", "@daily", nil, t0, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), false},
		{"weekdays at nine", "0 9 * * 1-5", nil, t0, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), false},
		{"timeZone", "0 9 * * *", ptr.To("Europe/Paris"), t0, time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), false},
		{"TZ prefix", "TZ=America/New_York 0 9 * * *", nil, t0, time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC), false},
		{"unknown time zone", "0 9 * * *", ptr.To("Mars/Olympus"), t0, time.Time{}, true},
		{"garbage", "every now and then", nil, t0, time.Time{}, true},
		{"six fields are not standard", "0 0 9 * * *", nil, t0, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := cronJob(tt.schedule, t0, nil)
			cj.Spec.TimeZone = tt.tz
			sched, _, err := ParseSchedule(cj)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !sched.Next(tt.from).Equal(tt.want) {
				t.Errorf("next = %v, want %v", sched.Next(tt.from).UTC(), tt.want)
			}
		})
	}
}

func TestMostRecent(t *testing.T) {
	cj := cronJob("*/1 * * * *", t0, nil)
	sched, _, _ := ParseSchedule(cj)
	tests := []struct {
		name       string
		earliest   time.Time
		now        time.Time
		want       *time.Time
		wantMissed int64
	}{
		{"nothing due yet", t0, t0.Add(30 * time.Second), nil, 0},
		{"one due", t0, t0.Add(90 * time.Second), ptr.To(t0.Add(time.Minute)), 1},
		{"five missed, the latest counts", t0, t0.Add(5*time.Minute + 10*time.Second), ptr.To(t0.Add(5 * time.Minute)), 5},
		{"far behind is estimated right", t0, t0.Add(48*time.Hour + 30*time.Second), ptr.To(t0.Add(48 * time.Hour)), 48 * 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missed, err := MostRecent(sched, tt.earliest, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && !got.Equal(*tt.want)) || missed != tt.wantMissed {
				t.Errorf("MostRecent = %v, %d; want %v, %d", got, missed, tt.want, tt.wantMissed)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	last := t0.Add(time.Minute)
	active := []corev1.ObjectReference{{Name: "backup-1", UID: types.UID("a")}}
	tests := []struct {
		name       string
		cj         func() *batchv1.CronJob
		now        time.Time
		wantRun    *time.Time
		wantEvent  string
		wantDelete int
	}{
		{"runs when due", func() *batchv1.CronJob { return cronJob("*/1 * * * *", t0, nil) }, t0.Add(61 * time.Second), ptr.To(t0.Add(time.Minute)), "", 0},
		{"not yet due", func() *batchv1.CronJob { return cronJob("*/1 * * * *", t0, &last) }, t0.Add(90 * time.Second), nil, "", 0},
		{"after a restart: one run for the latest missed time", func() *batchv1.CronJob { return cronJob("*/1 * * * *", t0, &last) },
			t0.Add(6*time.Minute + 5*time.Second), ptr.To(t0.Add(6 * time.Minute)), "", 0},
		// As in Kubernetes, the window looked at starts
		// startingDeadlineSeconds ago: an older time is not run.
		{"missed past the starting deadline is skipped", func() *batchv1.CronJob {
			cj := cronJob("*/5 * * * *", t0, nil)
			cj.Spec.StartingDeadlineSeconds = ptr.To[int64](30)
			return cj
		}, t0.Add(5*time.Minute + 45*time.Second), nil, "", 0},
		{"within the starting deadline", func() *batchv1.CronJob {
			cj := cronJob("*/5 * * * *", t0, nil)
			cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60)
			return cj
		}, t0.Add(5*time.Minute + 45*time.Second), ptr.To(t0.Add(5 * time.Minute)), "", 0},
		{"suspended", func() *batchv1.CronJob {
			cj := cronJob("*/1 * * * *", t0, nil)
			cj.Spec.Suspend = ptr.To(true)
			return cj
		}, t0.Add(61 * time.Second), nil, "", 0},
		{"forbid skips while a job runs", func() *batchv1.CronJob {
			cj := cronJob("*/1 * * * *", t0, &last)
			cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
			cj.Status.Active = active
			return cj
		}, t0.Add(2*time.Minute + time.Second), nil, ReasonJobAlreadyActive, 0},
		{"replace deletes the running job", func() *batchv1.CronJob {
			cj := cronJob("*/1 * * * *", t0, &last)
			cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
			cj.Status.Active = active
			return cj
		}, t0.Add(2*time.Minute + time.Second), ptr.To(t0.Add(2 * time.Minute)), "", 1},
		{"allow runs beside", func() *batchv1.CronJob {
			cj := cronJob("*/1 * * * *", t0, &last)
			cj.Status.Active = active
			return cj
		}, t0.Add(2*time.Minute + time.Second), ptr.To(t0.Add(2 * time.Minute)), "", 0},
		{"too many missed times is reported", func() *batchv1.CronJob { return cronJob("*/1 * * * *", t0, nil) },
			t0.Add(3 * time.Hour), ptr.To(t0.Add(3 * time.Hour)), ReasonTooManyMissedTimes, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := tt.cj()
			sched, loc, err := ParseSchedule(cj)
			if err != nil {
				t.Fatal(err)
			}
			plan := Decide(cj, sched, loc, tt.now)
			if (plan.Run == nil) != (tt.wantRun == nil) || (plan.Run != nil && !plan.Run.Equal(*tt.wantRun)) {
				t.Errorf("run = %v, want %v", plan.Run, tt.wantRun)
			}
			gotEvent := ""
			if len(plan.Events) > 0 {
				gotEvent = plan.Events[0].Reason
			}
			if gotEvent != tt.wantEvent {
				t.Errorf("event = %q, want %q", gotEvent, tt.wantEvent)
			}
			if len(plan.Replace) != tt.wantDelete {
				t.Errorf("replace %v", plan.Replace)
			}
			if plan.Next <= 0 && !(cj.Spec.Suspend != nil) {
				t.Errorf("no next look: %v", plan.Next)
			}
		})
	}
}

func TestToDelete(t *testing.T) {
	job := func(name string, ct batchv1.JobConditionType, age int) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: t0.Add(-time.Duration(age) * time.Minute)}}}
		if ct != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: ct, Status: corev1.ConditionTrue}}
		}
		return j
	}
	cj := cronJob("@hourly", t0, nil)
	cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
	got := ToDelete(cj, []*batchv1.Job{
		job("ok-old", batchv1.JobComplete, 30), job("ok-new", batchv1.JobComplete, 10), job("ok-mid", batchv1.JobComplete, 20),
		job("bad-old", batchv1.JobFailed, 30), job("bad-new", batchv1.JobFailed, 5), job("running", "", 40),
	})
	names := map[string]bool{}
	for _, j := range got {
		names[j.Name] = true
	}
	if len(got) != 3 || !names["ok-old"] || !names["ok-mid"] || !names["bad-old"] {
		t.Errorf("ToDelete = %v, want ok-old, ok-mid, bad-old", names)
	}
}
