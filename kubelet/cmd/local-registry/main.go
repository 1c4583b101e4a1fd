// Command local-registry serves an OCI registry on a local address with a
// busybox image in it, built from Debian's busybox-static, so pods run on
// a machine with no route to a public registry. The image is pushed as
// busybox:latest, busybox:1.36 and library/busybox (what "busybox" means
// to a kubelet whose docker.io mirror is this registry):
//
//	local-registry [--address 127.0.0.1:5000] [--busybox /bin/busybox] [--username U --password P]
//
// See coracle.dev/kubelet/internal/localregistry.
package main

import (
	"coracle.dev/kubelet/internal/localregistry"
	"coracle.dev/shared/component"
)

func main() { component.Main(localregistry.Daemon()) }
