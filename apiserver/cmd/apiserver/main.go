// Command apiserver serves the Kubernetes API from etcd:
//
//	apiserver [--data-dir DIR] [--secure-port 6443] [--etcd-servers URL,...] [--config FILE]
//
// See coracle.dev/apiserver/server for what it runs.
package main

import (
	"coracle.dev/apiserver/server"
	"coracle.dev/shared/component"
)

func main() { component.Main(server.Daemon()) }
