// Package batch defines the batch/v1 kinds: Jobs and CronJobs.
package batch

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the batch/v1 kinds.
func All() []*resource.Descriptor { return []*resource.Descriptor{Jobs(), CronJobs()} }

// Jobs.
func Jobs() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "batch", Version: "v1", Kind: "Job", Resource: "jobs", Singular: "job",
		Namespaced: true, Categories: []string{"all"}, TracksGeneration: true,
		New:          func() runtime.Object { return &batchv1.Job{} },
		NewList:      func() runtime.Object { return &batchv1.JobList{} },
		Strategy:     jobStrategy{},
		Subresources: []string{resource.Status},
		Table:        printers.Job(),
		FieldLabels:  []string{"status.successful"},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
		},
	}
}

// CronJobs.
func CronJobs() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "batch", Version: "v1", Kind: "CronJob", Resource: "cronjobs", Singular: "cronjob",
		Namespaced: true, Categories: []string{"all"}, TracksGeneration: true, ShortNames: []string{"cj"},
		New:          func() runtime.Object { return &batchv1.CronJob{} },
		NewList:      func() runtime.Object { return &batchv1.CronJobList{} },
		Strategy:     cronJobStrategy{},
		Subresources: []string{resource.Status},
		Table:        printers.CronJob(),
	}
}
