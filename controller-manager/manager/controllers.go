package manager

import (
	"fmt"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/bootstrapsigner"
	"coracle.dev/controller-manager/internal/controller/cronjob"
	"coracle.dev/controller-manager/internal/controller/csrapproving"
	"coracle.dev/controller-manager/internal/controller/csrsigning"
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
	"coracle.dev/controller-manager/internal/controller/tokencleaner"
	"coracle.dev/controller-manager/internal/controller/ttlafterfinished"
)

// builder builds a controller; a nil Runner means the controller has
// nothing to do with these settings.
type builder func(controller.Context) (controller.Runner, error)

// runner turns a controller's New into a builder. Such a New returns a
// controller or an error, never neither: a typed nil would not be a nil
// Runner.
func runner[R controller.Runner](newFn func(controller.Context) (R, error)) builder {
	return func(c controller.Context) (controller.Runner, error) { return newFn(c) }
}

// controllers are every controller, in the order they are built: adding
// one is one line here. All run by default; unlike Kubernetes, that
// includes the bootstrap signer and the token cleaner, which
// kube-controller-manager runs only when asked: nodes join Coracle only
// through bootstrap tokens.
var controllers = []struct {
	name  string
	build builder
}{
	{namespace.Name, runner(namespace.New)},
	{serviceaccount.Name, runner(serviceaccount.New)},
	{rootcacert.Name, rootcacert.New},
	{bootstrapsigner.Name, runner(bootstrapsigner.New)},
	{tokencleaner.Name, runner(tokencleaner.New)},
	{csrapproving.Name, csrapproving.New},
	{csrsigning.Name, csrsigning.New},
	{garbagecollector.Name, runner(garbagecollector.New)},
	{replicaset.Name, runner(replicaset.New)},
	{replication.Name, runner(replication.New)},
	{deployment.Name, runner(deployment.New)},
	{endpoints.Name, runner(endpoints.New)},
	{endpointslice.Name, runner(endpointslice.New)},
	{endpointslicemirroring.Name, runner(endpointslicemirroring.New)},
	{nodeipam.Name, nodeipam.New},
	{nodelifecycle.Name, runner(nodelifecycle.New)},
	{tainteviction.Name, runner(tainteviction.New)},
	{podgc.Name, runner(podgc.New)},
	{job.Name, runner(job.New)},
	{ttlafterfinished.Name, runner(ttlafterfinished.New)},
	{daemonset.Name, runner(daemonset.New)},
	{statefulset.Name, runner(statefulset.New)},
	{cronjob.Name, runner(cronjob.New)},
}

// Names lists every controller, in the order they are built.
func Names() []string {
	names := make([]string, len(controllers))
	for i, c := range controllers {
		names[i] = c.name
	}
	return names
}

// build builds the controller name; a nil Runner means the controller
// has nothing to do with these settings.
func build(name string, c controller.Context) (controller.Runner, error) {
	for _, ctl := range controllers {
		if ctl.name == name {
			return ctl.build(c)
		}
	}
	return nil, fmt.Errorf("unknown controller %q", name)
}
