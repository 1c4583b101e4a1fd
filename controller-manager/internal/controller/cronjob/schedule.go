package cronjob

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// ParseSchedule parses a CronJob's schedule with robfig/cron, as
// Kubernetes does: five fields or a macro (@hourly, @daily, ...), in the
// CronJob's timeZone (UTC when unset, or a TZ= prefix in the schedule).
func ParseSchedule(cj *batchv1.CronJob) (cron.Schedule, *time.Location, error) {
	loc := time.UTC
	if cj.Spec.TimeZone != nil {
		l, err := time.LoadLocation(*cj.Spec.TimeZone)
		if err != nil {
			return nil, nil, fmt.Errorf("unknown time zone %s: %w", *cj.Spec.TimeZone, err)
		}
		loc = l
	}
	spec := cj.Spec.Schedule
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		if cj.Spec.TimeZone != nil {
			return nil, nil, errors.New("schedule names a time zone (TZ=) and spec.timeZone is set too")
		}
	} else if cj.Spec.TimeZone != nil {
		spec = "TZ=" + *cj.Spec.TimeZone + " " + spec
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("unparseable schedule %q: %w", cj.Spec.Schedule, err)
	}
	return sched, loc, nil
}

// maxExact is how many missed times are counted one by one; beyond it
// the count is estimated from the spacing of two consecutive times, as
// Kubernetes estimates it.
const maxExact = 1000

// MostRecent returns the latest schedule time in (earliest, now], if any,
// and how many times were missed in that span.
func MostRecent(sched cron.Schedule, earliest, now time.Time) (*time.Time, int64, error) {
	t := sched.Next(earliest)
	if t.IsZero() {
		return nil, 0, errors.New("schedule never fires")
	}
	if t.After(now) {
		return nil, 0, nil
	}
	var count int64
	last := t
	for i := 0; i < maxExact; i++ {
		count++
		last = t
		t = sched.Next(t)
		if t.IsZero() || t.After(now) {
			return &last, count, nil
		}
	}
	// Far behind: estimate from the spacing of two times.
	step := sched.Next(t).Sub(t)
	if step < time.Second {
		return nil, 0, errors.New("time between two schedules is less than a second")
	}
	n := int64(now.Sub(t) / step)
	est := t.Add(time.Duration(n) * step)
	for next := sched.Next(est); !next.IsZero() && !next.After(now); next = sched.Next(est) {
		est = next
		n++
	}
	for est.After(now) {
		est = est.Add(-step)
		n--
	}
	count += n + 1
	return &est, count, nil
}
