// Command kubelet-shim watches one container for the kubelet: it creates
// the container with runc, writes its output to the container's log file
// and records its exit, so that containers outlive the kubelet. The
// kubelet starts it (with its configuration in CORACLE_KUBELET_SHIM);
// people do not.
package main

import (
	"os"

	"coracle.dev/kubelet/internal/shim"
)

func main() {
	os.Exit(shim.Main())
}
