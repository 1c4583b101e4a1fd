package integration

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/cronjob"
	"coracle.dev/controller-manager/manager"
)

// A CronJob driven by a fake clock: a run on time; a controller restart
// five minutes later makes one run for the latest missed time, not five;
// then Forbid, Replace and a completed job.
func TestCronJobAcrossRestart(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Now())
	withClock := func(c *manager.Config) { c.Clock = fc }
	e := start(t, withControllers(cronjob.Name), withClock)
	ctx := e.ctx()
	ns := e.namespace("cron")
	tmpl := podTemplate(map[string]string{"app": "backup"})
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	_, err := e.client.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup"},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/1 * * * *", ConcurrencyPolicy: batchv1.AllowConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](10),
			JobTemplate:                batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	minute := func(k int) time.Time {
		return fc.Now().Truncate(time.Minute).Add(time.Duration(k) * time.Minute)
	}
	m1 := minute(1)
	jobName := func(t time.Time) string { return fmt.Sprintf("backup-%d", t.Unix()/60) }
	jobs := func() map[string]*batchv1.Job {
		list, err := e.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*batchv1.Job{}
		for i := range list.Items {
			out[list.Items[i].Name] = &list.Items[i]
		}
		return out
	}
	waitRun := func(at time.Time) {
		t.Helper()
		eventually(t, 30*time.Second, "job for "+at.Format(time.TimeOnly), func() (bool, error) {
			cj, err := e.client.BatchV1().CronJobs(ns).Get(ctx, "backup", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, ok := jobs()[jobName(at)]
			return ok && cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(at), nil
		})
	}

	fc.SetTime(m1.Add(time.Second))
	waitRun(m1)
	j := jobs()[jobName(m1)]
	if j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != m1.UTC().Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp annotation %q", j.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	}
	if ref := metav1.GetControllerOf(j); ref == nil || ref.Kind != "CronJob" {
		t.Errorf("job owner %v", j.OwnerReferences)
	}
	e.waitEvent(ns, "backup", "SuccessfulCreate")

	// The controller is down for five schedule times.
	_ = e.cm.Close()
	m6 := m1.Add(5 * time.Minute)
	fc.SetTime(m6.Add(10 * time.Second))
	e.cm = e.startManager(withControllers(cronjob.Name), withClock)
	waitRun(m6)
	if got := jobs(); len(got) != 2 {
		names := []string{}
		for n := range got {
			names = append(names, n)
		}
		t.Fatalf("jobs after the restart: %v; want only %s and %s", names, jobName(m1), jobName(m6))
	}

	t.Run("Forbid skips a time while a job runs", func(t *testing.T) {
		patch := []byte(`{"spec":{"concurrencyPolicy":"Forbid"}}`)
		if _, err := e.client.BatchV1().CronJobs(ns).Patch(ctx, "backup", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		fc.SetTime(m6.Add(time.Minute + time.Second))
		e.waitEvent(ns, "backup", "JobAlreadyActive")
		if _, ok := jobs()[jobName(m6.Add(time.Minute))]; ok {
			t.Error("a job started although Forbid and jobs running")
		}
	})

	t.Run("Replace deletes the running jobs", func(t *testing.T) {
		patch := []byte(`{"spec":{"concurrencyPolicy":"Replace"}}`)
		if _, err := e.client.BatchV1().CronJobs(ns).Patch(ctx, "backup", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		m8 := m6.Add(2 * time.Minute)
		fc.SetTime(m8.Add(time.Second))
		waitRun(m8)
		eventually(t, 30*time.Second, "old jobs deleted, one active", func() (bool, error) {
			cj, err := e.client.BatchV1().CronJobs(ns).Get(ctx, "backup", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			left := 0
			for _, j := range jobs() {
				if j.DeletionTimestamp == nil {
					left++
				}
			}
			return len(cj.Status.Active) == 1 && cj.Status.Active[0].Name == jobName(m8) && left == 1, nil
		})
	})
}
