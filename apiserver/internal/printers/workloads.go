package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"

	"coracle.dev/apiserver/internal/apiresource"
)

// Deployment columns: Name, Ready, Up-to-date, Available, Age; wide
// Containers, Images, Selector.
func Deployment() *apiresource.Table {
	status := appsv1.DeploymentStatus{}.SwaggerDoc()
	return newTable(append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		column("Up-to-date", "string", status["updatedReplicas"]),
		column("Available", "string", status["availableReplicas"]),
		ageColumn(),
	}, withSelector(containerColumns(), appsv1.DeploymentSpec{}.SwaggerDoc()["selector"])...), deploymentCells)
}

func deploymentCells(d *appsv1.Deployment, now time.Time) []interface{} {
	// Kubernetes prints the parsed selector here, where the other workloads
	// use FormatLabelSelector: an empty one is blank rather than "<none>".
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []interface{}{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		since(d.CreationTimestamp, now),
		names, images, selector,
	}
}

// ReplicaSet columns: Name, Desired, Current, Ready, Age; wide Containers,
// Images, Selector.
func ReplicaSet() *apiresource.Table {
	status := appsv1.ReplicaSetStatus{}.SwaggerDoc()
	return newTable(append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
		column("Current", "integer", status["replicas"]),
		column("Ready", "integer", status["readyReplicas"]),
		ageColumn(),
	}, withSelector(containerColumns(), appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"])...), replicaSetCells)
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []interface{} {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []interface{}{
		rs.Name,
		replicas(rs.Spec.Replicas),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		since(rs.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

// ReplicationController columns: as a ReplicaSet's; the selector is a
// plain label map.
func ReplicationController() *apiresource.Table {
	status := corev1.ReplicationControllerStatus{}.SwaggerDoc()
	return newTable(append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]),
		column("Current", "integer", status["replicas"]),
		column("Ready", "integer", status["readyReplicas"]),
		ageColumn(),
	}, withSelector(containerColumns(), corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"])...), replicationControllerCells)
}

func replicationControllerCells(rc *corev1.ReplicationController, now time.Time) []interface{} {
	var names, images string
	if rc.Spec.Template != nil {
		names, images = containerCells(rc.Spec.Template.Spec.Containers)
	}
	return []interface{}{
		rc.Name,
		replicas(rc.Spec.Replicas),
		int64(rc.Status.Replicas),
		int64(rc.Status.ReadyReplicas),
		since(rc.CreationTimestamp, now),
		names, images, labels.FormatLabels(rc.Spec.Selector),
	}
}

// DaemonSet columns: Name, Desired, Current, Ready, Up-to-date, Available,
// Node Selector, Age; wide Containers, Images, Selector.
func DaemonSet() *apiresource.Table {
	status := appsv1.DaemonSetStatus{}.SwaggerDoc()
	return newTable(append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", status["desiredNumberScheduled"]),
		column("Current", "integer", status["currentNumberScheduled"]),
		column("Ready", "integer", status["numberReady"]),
		column("Up-to-date", "integer", status["updatedNumberScheduled"]),
		column("Available", "integer", status["numberAvailable"]),
		column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn(),
	}, withSelector(containerColumns(), appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"])...), daemonSetCells)
}

func daemonSetCells(ds *appsv1.DaemonSet, now time.Time) []interface{} {
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []interface{}{
		ds.Name,
		int64(ds.Status.DesiredNumberScheduled),
		int64(ds.Status.CurrentNumberScheduled),
		int64(ds.Status.NumberReady),
		int64(ds.Status.UpdatedNumberScheduled),
		int64(ds.Status.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		since(ds.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}

// StatefulSet columns: Name, Ready, Age; wide Containers, Images.
func StatefulSet() *apiresource.Table {
	return newTable(append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		ageColumn(),
	}, containerColumns()...), statefulSetCells)
}

func statefulSetCells(ss *appsv1.StatefulSet, now time.Time) []interface{} {
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return []interface{}{
		ss.Name,
		fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, replicas(ss.Spec.Replicas)),
		since(ss.CreationTimestamp, now),
		names, images,
	}
}

// ControllerRevision columns: Name, Controller, Revision, Age.
func ControllerRevision() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Controller", "string", "Controller of the object"),
		column("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
		ageColumn(),
	}, controllerRevisionCells)
}

func controllerRevisionCells(cr *appsv1.ControllerRevision, now time.Time) []interface{} {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err == nil {
			controller = strings.ToLower(ref.Kind)
			if gv.Group != "" {
				controller += "." + gv.Group
			}
			controller += "/" + ref.Name
		}
	}
	return []interface{}{cr.Name, controller, cr.Revision, since(cr.CreationTimestamp, now)}
}

// Job columns: Name, Status, Completions, Duration, Age; wide Containers,
// Images, Selector.
func Job() *apiresource.Table {
	return newTable(append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "Status of the job."),
		column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		column("Duration", "string", "Time required to complete the job."),
		ageColumn(),
	}, withSelector(containerColumns(), batchv1.JobSpec{}.SwaggerDoc()["selector"])...), jobCells)
}

func jobCells(job *batchv1.Job, now time.Time) []interface{} {
	// Without spec.completions any one success completes the job; parallel
	// such jobs say how many pods race for it: "0/1 of 3".
	var completions string
	switch {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	case job.Spec.Parallelism != nil && *job.Spec.Parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *job.Spec.Parallelism)
	default:
		completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
	}

	var took string
	switch {
	case job.Status.StartTime == nil:
	case job.Status.CompletionTime == nil:
		took = duration.HumanDuration(now.Sub(job.Status.StartTime.Time))
	default:
		took = duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
	}

	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return []interface{}{
		job.Name,
		jobStatus(job),
		completions,
		took,
		since(job.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(job.Spec.Selector),
	}
}

// jobStatus is the job's outcome if it has one, else what it is doing.
func jobStatus(job *batchv1.Job) string {
	is := func(typ batchv1.JobConditionType) bool {
		for _, c := range job.Status.Conditions {
			if c.Type == typ {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	switch {
	case is(batchv1.JobComplete):
		return "Complete"
	case is(batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case is(batchv1.JobSuspended):
		return "Suspended"
	case is(batchv1.JobFailureTarget):
		return "FailureTarget"
	case is(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

// CronJob columns: Name, Schedule, Timezone, Suspend, Active, Last
// Schedule, Age; wide Containers, Images, Selector.
func CronJob() *apiresource.Table {
	spec := batchv1.CronJobSpec{}.SwaggerDoc()
	status := batchv1.CronJobStatus{}.SwaggerDoc()
	return newTable(append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Schedule", "string", spec["schedule"]),
		column("Timezone", "string", spec["timeZone"]),
		column("Suspend", "boolean", spec["suspend"]),
		column("Active", "integer", status["active"]),
		column("Last Schedule", "string", status["lastScheduleTime"]),
		ageColumn(),
	}, withSelector(containerColumns(), batchv1.JobSpec{}.SwaggerDoc()["selector"])...), cronJobCells)
}

func cronJobCells(cj *batchv1.CronJob, now time.Time) []interface{} {
	last := "<none>"
	if cj.Status.LastScheduleTime != nil {
		last = since(*cj.Status.LastScheduleTime, now)
	}
	zone := "<none>"
	if cj.Spec.TimeZone != nil {
		zone = *cj.Spec.TimeZone
	}
	tmpl := cj.Spec.JobTemplate.Spec
	names, images := containerCells(tmpl.Template.Spec.Containers)
	return []interface{}{
		cj.Name,
		cj.Spec.Schedule,
		zone,
		boolPtr(cj.Spec.Suspend), // Kubernetes prints the flag as text despite the column type
		int64(len(cj.Status.Active)),
		last,
		since(cj.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(tmpl.Selector),
	}
}

// withSelector appends the wide Selector column.
func withSelector(cols []metav1.TableColumnDefinition, description string) []metav1.TableColumnDefinition {
	return append(cols, wideColumn("Selector", "string", description))
}
