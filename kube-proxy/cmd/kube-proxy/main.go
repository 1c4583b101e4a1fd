// Command kube-proxy programs the node's iptables so that Services work,
// as Kubernetes' kube-proxy does:
//
//	kube-proxy --kubeconfig FILE --node-name NAME [--cluster-cidr CIDR]
//	           [--proxy-mode iptables] [--cleanup] [--config FILE]
//
// See coracle.dev/kube-proxy/app for what it runs.
package main

import (
	"coracle.dev/kube-proxy/app"
	"coracle.dev/shared/component"
)

func main() { component.Main(app.Daemon()) }
