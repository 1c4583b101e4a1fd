// Command local-path is Coracle's local-path provisioner add-on, k3s's
// rancher.io/local-path: it provisions PersistentVolumes as directories
// on the node a claim's pod is scheduled to, deletes them on reclaim and
// expands them, with helper pods that run this same binary:
//
//	local-path [--kubeconfig FILE] [--helper-image IMAGE] [--namespace kube-system]
//	           [--configmap-name local-path-config] [--status-address :10260] [--config FILE]
//	local-path helper create --path DIR [--mode 0777]
//	local-path helper delete --path DIR
//
// See coracle.dev/addons/local-path/app for the provisioner and
// coracle.dev/addons/local-path/internal/helper for the helper.
package main

import (
	"os"

	"coracle.dev/addons/local-path/app"
	"coracle.dev/addons/local-path/internal/helper"
	"coracle.dev/shared/component"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == helper.Command {
		os.Exit(helper.Run(os.Args[2:], os.Stderr))
	}
	component.Main(app.Daemon())
}
