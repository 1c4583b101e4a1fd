// Command kubelet is Coracle's node agent: it registers the node, runs the
// pods bound to it with runc and CNI, and serves their logs and exec to
// the apiserver:
//
//	kubelet --kubeconfig FILE [--node-name NAME] [--root-dir DIR] [--config FILE]
//	kubelet --kubeconfig FILE --bootstrap-kubeconfig TOKEN-FILE ...   # a joining node: TLS bootstrap first
//	kubelet --teardown [--root-dir DIR ...]   # what make down runs
//
// See coracle.dev/kubelet for what it runs.
package main

import (
	"coracle.dev/kubelet"
	"coracle.dev/shared/component"
)

func main() { component.Main(kubelet.Daemon()) }
