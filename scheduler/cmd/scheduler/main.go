// Command scheduler assigns pods to nodes, as kube-scheduler does:
//
//	scheduler --kubeconfig FILE [--scheduler-name NAME] [--leader-elect] [--config FILE]
//
// See coracle.dev/scheduler/app for what it runs.
package main

import (
	"coracle.dev/scheduler/app"
	"coracle.dev/shared/component"
)

func main() { component.Main(app.Daemon()) }
