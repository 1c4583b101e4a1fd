package manager

import (
	"fmt"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/addons"
	"coracle.dev/controller-manager/internal/controller/bootstrapsigner"
	"coracle.dev/controller-manager/internal/controller/clusterroleaggregation"
	"coracle.dev/controller-manager/internal/controller/cronjob"
	"coracle.dev/controller-manager/internal/controller/csrapproving"
	"coracle.dev/controller-manager/internal/controller/csrsigning"
	"coracle.dev/controller-manager/internal/controller/daemonset"
	"coracle.dev/controller-manager/internal/controller/deployment"
	"coracle.dev/controller-manager/internal/controller/disruption"
	"coracle.dev/controller-manager/internal/controller/endpoints"
	"coracle.dev/controller-manager/internal/controller/endpointslice"
	"coracle.dev/controller-manager/internal/controller/endpointslicemirroring"
	"coracle.dev/controller-manager/internal/controller/garbagecollector"
	"coracle.dev/controller-manager/internal/controller/job"
	"coracle.dev/controller-manager/internal/controller/namespace"
	"coracle.dev/controller-manager/internal/controller/nodeipam"
	"coracle.dev/controller-manager/internal/controller/nodelifecycle"
	"coracle.dev/controller-manager/internal/controller/persistentvolume"
	"coracle.dev/controller-manager/internal/controller/podgc"
	"coracle.dev/controller-manager/internal/controller/pvcprotection"
	"coracle.dev/controller-manager/internal/controller/pvprotection"
	"coracle.dev/controller-manager/internal/controller/replicaset"
	"coracle.dev/controller-manager/internal/controller/replication"
	"coracle.dev/controller-manager/internal/controller/resourcequota"
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
//
// serviceAccount is the ServiceAccount in kube-system the controller
// runs as with --use-service-account-credentials: Kubernetes' name for
// it (cmd/kube-controller-manager's NewClient calls), so that the
// apiserver's bootstrap policy, which binds system:controller:<name> to
// it, gives it the rights Kubernetes gives that controller. Controllers
// that are one in Kubernetes share one: node IPAM, node lifecycle and
// taint eviction are node-controller; the CSR approver and signer
// certificate-controller.
var controllers = []struct {
	name           string
	serviceAccount string
	build          builder
}{
	{namespace.Name, "namespace-controller", runner(namespace.New)},
	{serviceaccount.Name, "service-account-controller", runner(serviceaccount.New)},
	{rootcacert.Name, "root-ca-cert-publisher", rootcacert.New},
	{bootstrapsigner.Name, "bootstrap-signer", runner(bootstrapsigner.New)},
	{tokencleaner.Name, "token-cleaner", runner(tokencleaner.New)},
	{csrapproving.Name, "certificate-controller", csrapproving.New},
	{csrsigning.Name, "certificate-controller", csrsigning.New},
	{clusterroleaggregation.Name, "clusterrole-aggregation-controller", clusterroleaggregation.New},
	{garbagecollector.Name, "generic-garbage-collector", runner(garbagecollector.New)},
	{replicaset.Name, "replicaset-controller", runner(replicaset.New)},
	{replication.Name, "replication-controller", runner(replication.New)},
	{deployment.Name, "deployment-controller", runner(deployment.New)},
	{endpoints.Name, "endpoint-controller", runner(endpoints.New)},
	{endpointslice.Name, "endpointslice-controller", runner(endpointslice.New)},
	{endpointslicemirroring.Name, "endpointslicemirroring-controller", runner(endpointslicemirroring.New)},
	{nodeipam.Name, "node-controller", nodeipam.New},
	{nodelifecycle.Name, "node-controller", runner(nodelifecycle.New)},
	{tainteviction.Name, "node-controller", runner(tainteviction.New)},
	{podgc.Name, "pod-garbage-collector", runner(podgc.New)},
	{job.Name, "job-controller", runner(job.New)},
	{ttlafterfinished.Name, "ttl-after-finished-controller", runner(ttlafterfinished.New)},
	{daemonset.Name, "daemon-set-controller", runner(daemonset.New)},
	{statefulset.Name, "statefulset-controller", runner(statefulset.New)},
	{cronjob.Name, "cronjob-controller", runner(cronjob.New)},
	{resourcequota.Name, "resourcequota-controller", runner(resourcequota.New)},
	{disruption.Name, "disruption-controller", disruption.New},
	{persistentvolume.Name, "persistent-volume-binder", runner(persistentvolume.New)},
	{pvcprotection.Name, "pvc-protection-controller", runner(pvcprotection.New)},
	{pvprotection.Name, "pv-protection-controller", runner(pvprotection.New)},
	{addons.Name, "addon-manager", addons.New},
}

// Names lists every controller, in the order they are built.
func Names() []string {
	names := make([]string, len(controllers))
	for i, c := range controllers {
		names[i] = c.name
	}
	return names
}

// ServiceAccounts maps each controller to the ServiceAccount in
// kube-system it runs as with --use-service-account-credentials.
func ServiceAccounts() map[string]string {
	out := make(map[string]string, len(controllers))
	for _, c := range controllers {
		out[c.name] = c.serviceAccount
	}
	return out
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
