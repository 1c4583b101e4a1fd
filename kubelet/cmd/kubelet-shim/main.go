// Command kubelet-shim watches one container for the kubelet: it creates
// the container with runc, writes its output to the container's log file
// and records its exit, so that containers outlive the kubelet. The
// kubelet starts it (with its configuration in CORACLE_KUBELET_SHIM);
// people do not. With CORACLE_KUBELET_PAUSE set it is instead the pause
// process holding a pod's shared PID namespace.
package main

import (
	"os"

	"coracle.dev/kubelet/internal/pause"
	"coracle.dev/kubelet/internal/shim"
)

func main() {
	if pause.Requested() {
		os.Exit(pause.Main())
	}
	os.Exit(shim.Main())
}
