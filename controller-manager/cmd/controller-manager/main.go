// Command controller-manager runs Coracle's controllers (ReplicaSet,
// Deployment, garbage collector, namespace, node lifecycle, ...) against
// an apiserver:
//
//	controller-manager --kubeconfig FILE [--leader-elect] [--cluster-cidr 10.244.0.0/16]
//	    [--node-cidr-mask-size 24] [--node-monitor-grace-period 40s] [--config FILE]
//
// See coracle.dev/controller-manager/manager for what it runs.
package main

import (
	"coracle.dev/controller-manager/manager"
	"coracle.dev/shared/component"
)

func main() { component.Main(manager.Daemon()) }
