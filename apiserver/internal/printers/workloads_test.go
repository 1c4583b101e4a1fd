package printers

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(images ...string) corev1.PodTemplateSpec {
	var t corev1.PodTemplateSpec
	for i, img := range images {
		t.Spec.Containers = append(t.Spec.Containers, corev1.Container{Name: []string{"app", "sidecar", "third"}[i], Image: img})
	}
	return t
}

func selector(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func TestDeploymentCells(t *testing.T) {
	tests := []struct {
		name string
		d    appsv1.Deployment
		want []interface{}
	}{
		{"rolling deployment", appsv1.Deployment{
			ObjectMeta: meta("web"),
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector("app", "web"), Template: template("nginx:1.27", "envoy:1.30")},
			Status:     appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2},
		}, []interface{}{"web", "2/3", int64(1), int64(2), "10d", "app,sidecar", "nginx:1.27,envoy:1.30", "app=web"}},
		{"unset replicas default to one, empty selector is blank", appsv1.Deployment{
			ObjectMeta: meta("web"),
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{}},
		}, []interface{}{"web", "0/1", int64(0), int64(0), "10d", "", "", ""}},
		{"invalid selector", appsv1.Deployment{
			ObjectMeta: meta("web"),
			Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0)), Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: "Bogus"},
			}}},
		}, []interface{}{"web", "0/0", int64(0), int64(0), "10d", "", "", "<invalid>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, deploymentCells(&tt.d, testNow()), tt.want)
		})
	}
}

func TestReplicaSetReplicationControllerDaemonSetStatefulSetCells(t *testing.T) {
	now := testNow()
	tests := []struct {
		name string
		got  []interface{}
		want []interface{}
	}{
		{"replica set counts", replicaSetCells(&appsv1.ReplicaSet{
			ObjectMeta: meta("web-6d4f"),
			Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: selector("app", "web"), Template: template("nginx:1.27")},
			Status:     appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1},
		}, now), []interface{}{"web-6d4f", int64(3), int64(3), int64(1), "10d", "app", "nginx:1.27", "app=web"}},
		{"replica set without selector", replicaSetCells(&appsv1.ReplicaSet{ObjectMeta: meta("rs")}, now),
			[]interface{}{"rs", int64(1), int64(0), int64(0), "10d", "", "", "<none>"}},
		{"replication controller counts", replicationControllerCells(&corev1.ReplicationController{
			ObjectMeta: meta("web"),
			Spec: corev1.ReplicationControllerSpec{Replicas: ptr(int32(3)), Selector: map[string]string{"app": "web"},
				Template: func() *corev1.PodTemplateSpec { t := template("nginx:1.27"); return &t }()},
			Status: corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1},
		}, now), []interface{}{"web", int64(3), int64(2), int64(1), "10d", "app", "nginx:1.27", "app=web"}},
		{"replication controller without template or selector", replicationControllerCells(&corev1.ReplicationController{ObjectMeta: meta("rc")}, now),
			[]interface{}{"rc", int64(1), int64(0), int64(0), "10d", "", "", "<none>"}},
		{"daemon set counts and node selector", daemonSetCells(&appsv1.DaemonSet{
			ObjectMeta: meta("proxy"),
			Spec: appsv1.DaemonSetSpec{Selector: selector("k8s-app", "proxy"), Template: func() corev1.PodTemplateSpec {
				t := template("kube-proxy:v1.37")
				t.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
				return t
			}()},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2},
		}, now), []interface{}{"proxy", int64(3), int64(3), int64(2), int64(1), int64(2), "kubernetes.io/os=linux", "10d", "app", "kube-proxy:v1.37", "k8s-app=proxy"}},
		{"daemon set without node selector", daemonSetCells(&appsv1.DaemonSet{ObjectMeta: meta("ds")}, now),
			[]interface{}{"ds", int64(0), int64(0), int64(0), int64(0), int64(0), "<none>", "10d", "", "", "<none>"}},
		{"stateful set ready of desired", statefulSetCells(&appsv1.StatefulSet{
			ObjectMeta: meta("db"),
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: template("postgres:17")},
			Status:     appsv1.StatefulSetStatus{ReadyReplicas: 2},
		}, now), []interface{}{"db", "2/3", "10d", "app", "postgres:17"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, tt.got, tt.want)
		})
	}
}

func TestJobCells(t *testing.T) {
	cond := func(typ batchv1.JobConditionType, s corev1.ConditionStatus) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: typ, Status: s}}
	}
	tests := []struct {
		name string
		job  func() batchv1.Job
		want []interface{} // Status, Completions, Duration
	}{
		{"not started job", func() batchv1.Job {
			return batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr(int32(1)), Parallelism: ptr(int32(1))}}
		}, []interface{}{"Running", "0/1", ""}},
		{"running job measures its duration so far", func() batchv1.Job {
			return batchv1.Job{
				Spec:   batchv1.JobSpec{Completions: ptr(int32(5)), Parallelism: ptr(int32(2))},
				Status: batchv1.JobStatus{Succeeded: 2, StartTime: agoPtr(3 * time.Minute)},
			}
		}, []interface{}{"Running", "2/5", "3m"}},
		{"complete job measures start to completion", func() batchv1.Job {
			return batchv1.Job{
				Spec: batchv1.JobSpec{Completions: ptr(int32(1))},
				Status: batchv1.JobStatus{
					Succeeded: 1, StartTime: agoPtr(time.Hour), CompletionTime: agoPtr(time.Hour - 45*time.Second),
					Conditions: cond(batchv1.JobComplete, corev1.ConditionTrue),
				},
			}
		}, []interface{}{"Complete", "1/1", "45s"}},
		{"work queue job with parallelism", func() batchv1.Job {
			return batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr(int32(3))}}
		}, []interface{}{"Running", "0/1 of 3", ""}},
		{"work queue job without parallelism", func() batchv1.Job {
			return batchv1.Job{Status: batchv1.JobStatus{Succeeded: 1}}
		}, []interface{}{"Running", "1/1", ""}},
		{"failed job", func() batchv1.Job {
			return batchv1.Job{Status: batchv1.JobStatus{Conditions: cond(batchv1.JobFailed, corev1.ConditionTrue)}}
		}, []interface{}{"Failed", "0/1", ""}},
		{"deleted job is Terminating", func() batchv1.Job {
			j := batchv1.Job{Status: batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended, corev1.ConditionTrue)}}
			j.DeletionTimestamp = agoPtr(time.Second)
			return j
		}, []interface{}{"Terminating", "0/1", ""}},
		{"deleted complete job stays Complete", func() batchv1.Job {
			j := batchv1.Job{Status: batchv1.JobStatus{Conditions: cond(batchv1.JobComplete, corev1.ConditionTrue)}}
			j.DeletionTimestamp = agoPtr(time.Second)
			return j
		}, []interface{}{"Complete", "0/1", ""}},
		{"suspended job", func() batchv1.Job {
			return batchv1.Job{Status: batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended, corev1.ConditionTrue)}}
		}, []interface{}{"Suspended", "0/1", ""}},
		{"resumed job is Running again", func() batchv1.Job {
			return batchv1.Job{Status: batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended, corev1.ConditionFalse)}}
		}, []interface{}{"Running", "0/1", ""}},
		{"job failing its pods is FailureTarget", func() batchv1.Job {
			return batchv1.Job{Status: batchv1.JobStatus{Conditions: cond(batchv1.JobFailureTarget, corev1.ConditionTrue)}}
		}, []interface{}{"FailureTarget", "0/1", ""}},
		{"job meeting its success policy is SuccessCriteriaMet", func() batchv1.Job {
			return batchv1.Job{Status: batchv1.JobStatus{Conditions: cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue)}}
		}, []interface{}{"SuccessCriteriaMet", "0/1", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.job()
			checkCells(t, jobCells(&j, testNow())[1:4], tt.want)
		})
	}
}

func TestJobWideCells(t *testing.T) {
	j := batchv1.Job{
		ObjectMeta: meta("pi"),
		Spec: batchv1.JobSpec{
			Completions: ptr(int32(1)),
			Selector:    selector("batch.kubernetes.io/controller-uid", "abc"),
			Template:    template("perl:5.40"),
		},
	}
	checkCells(t, jobCells(&j, testNow()), []interface{}{"pi", "Running", "0/1", "", "10d", "app", "perl:5.40", "batch.kubernetes.io/controller-uid=abc"})
}

func TestCronJobCells(t *testing.T) {
	tests := []struct {
		name string
		cj   batchv1.CronJob
		want []interface{}
	}{
		{"never scheduled, unset suspend and time zone", batchv1.CronJob{
			ObjectMeta: meta("backup"),
			Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *"},
		}, []interface{}{"backup", "0 3 * * *", "<none>", "<unset>", int64(0), "<none>", "10d", "", "", "<none>"}},
		{"active cron job", batchv1.CronJob{
			ObjectMeta: meta("report"),
			Spec: batchv1.CronJobSpec{
				Schedule: "*/5 * * * *", TimeZone: ptr("Europe/Paris"), Suspend: ptr(false),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template("busybox:1.37"), Selector: selector("app", "report")}},
			},
			Status: batchv1.CronJobStatus{
				Active:           []corev1.ObjectReference{{Name: "report-1"}, {Name: "report-2"}},
				LastScheduleTime: agoPtr(10 * time.Minute),
			},
		}, []interface{}{"report", "*/5 * * * *", "Europe/Paris", "False", int64(2), "10m", "10d", "app", "busybox:1.37", "app=report"}},
		{"suspended cron job", batchv1.CronJob{
			ObjectMeta: meta("off"),
			Spec:       batchv1.CronJobSpec{Schedule: "@hourly", Suspend: ptr(true)},
		}, []interface{}{"off", "@hourly", "<none>", "True", int64(0), "<none>", "10d", "", "", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, cronJobCells(&tt.cj, testNow()), tt.want)
		})
	}
}

func TestControllerRevisionCells(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "ds-abc", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", Controller: ptrTrue()}}},
		Revision: 3,
	}
	got := controllerRevisionCells(cr, now)
	want := []interface{}{"ds-abc", "daemonset.apps/ds", int64(3), "60m"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cells %v, want %v", got, want)
	}
	orphan := controllerRevisionCells(&appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, now)
	if orphan[1] != "<none>" {
		t.Fatalf("controller cell %v", orphan[1])
	}
}

func ptrTrue() *bool { b := true; return &b }
