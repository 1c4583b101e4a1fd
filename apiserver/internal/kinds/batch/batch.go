// Package batch defines the batch/v1 kinds: Jobs and CronJobs.
package batch

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the batch/v1 kinds.
func All() []*apiresource.Descriptor { return []*apiresource.Descriptor{Jobs(), CronJobs()} }

// batch starts the Descriptor of a batch/v1 kind: namespaced, in the "all"
// category, its generation bumped on every spec change, with a status
// subresource.
func batch(resource string, obj, list runtime.Object) *apiresource.Descriptor {
	d := apiresource.NewDescriptor(batchv1.SchemeGroupVersion, resource, obj, list)
	d.Namespaced = true
	d.Categories = []string{"all"}
	d.TracksGeneration = true
	d.Subresources = []string{apiresource.Status}
	return d
}

// Jobs.
func Jobs() *apiresource.Descriptor {
	d := batch("jobs", &batchv1.Job{}, &batchv1.JobList{})
	d.Strategy = jobStrategy{}
	d.Table = printers.Job()
	d.FieldLabels = []string{"status.successful"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
	}
	return d
}

// CronJobs.
func CronJobs() *apiresource.Descriptor {
	d := batch("cronjobs", &batchv1.CronJob{}, &batchv1.CronJobList{})
	d.ShortNames = []string{"cj"}
	d.Strategy = cronJobStrategy{}
	d.Table = printers.CronJob()
	return d
}
