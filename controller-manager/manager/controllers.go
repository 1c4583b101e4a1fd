package manager

import (
	"fmt"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/cronjob"
	"coracle.dev/controller-manager/internal/controller/daemonset"
	"coracle.dev/controller-manager/internal/controller/deployment"
	"coracle.dev/controller-manager/internal/controller/endpoints"
	"coracle.dev/controller-manager/internal/controller/endpointslice"
	"coracle.dev/controller-manager/internal/controller/endpointslicemirroring"
	"coracle.dev/controller-manager/internal/controller/garbagecollector"
	"coracle.dev/controller-manager/internal/controller/job"
	"coracle.dev/controller-manager/internal/controller/namespace"
	"coracle.dev/controller-manager/internal/controller/nodeipam"
	"coracle.dev/controller-manager/internal/controller/nodelifecycle"
	"coracle.dev/controller-manager/internal/controller/podgc"
	"coracle.dev/controller-manager/internal/controller/replicaset"
	"coracle.dev/controller-manager/internal/controller/replication"
	"coracle.dev/controller-manager/internal/controller/rootcacert"
	"coracle.dev/controller-manager/internal/controller/serviceaccount"
	"coracle.dev/controller-manager/internal/controller/statefulset"
	"coracle.dev/controller-manager/internal/controller/tainteviction"
	"coracle.dev/controller-manager/internal/controller/ttlafterfinished"
)

// Names lists every controller, in the order they are built.
func Names() []string {
	return []string{
		namespace.Name,
		serviceaccount.Name,
		rootcacert.Name,
		garbagecollector.Name,
		replicaset.Name,
		replication.Name,
		deployment.Name,
		endpoints.Name,
		endpointslice.Name,
		endpointslicemirroring.Name,
		nodeipam.Name,
		nodelifecycle.Name,
		tainteviction.Name,
		podgc.Name,
		job.Name,
		ttlafterfinished.Name,
		daemonset.Name,
		statefulset.Name,
		cronjob.Name,
	}
}

// build builds the controller name; a nil Runner means the controller
// has nothing to do with these settings.
func build(name string, c controller.Context) (controller.Runner, error) {
	switch name {
	case namespace.Name:
		return namespace.New(c)
	case serviceaccount.Name:
		return serviceaccount.New(c)
	case rootcacert.Name:
		return rootcacert.New(c)
	case garbagecollector.Name:
		return garbagecollector.New(c)
	case replicaset.Name:
		return replicaset.New(c)
	case replication.Name:
		return replication.New(c)
	case deployment.Name:
		return deployment.New(c)
	case endpoints.Name:
		return endpoints.New(c)
	case endpointslice.Name:
		return endpointslice.New(c)
	case endpointslicemirroring.Name:
		return endpointslicemirroring.New(c)
	case nodeipam.Name:
		return nodeipam.New(c)
	case nodelifecycle.Name:
		return nodelifecycle.New(c)
	case tainteviction.Name:
		return tainteviction.New(c)
	case podgc.Name:
		return podgc.New(c)
	case job.Name:
		return job.New(c)
	case ttlafterfinished.Name:
		return ttlafterfinished.New(c)
	case daemonset.Name:
		return daemonset.New(c)
	case statefulset.Name:
		return statefulset.New(c)
	case cronjob.Name:
		return cronjob.New(c)
	}
	return nil, fmt.Errorf("unknown controller %q", name)
}
