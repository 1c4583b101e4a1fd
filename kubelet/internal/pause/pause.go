// Package pause is the process that holds a pod's shared PID namespace
// (shareProcessNamespace), as Kubernetes' pause container does: the
// runtime starts it as the first process of a new PID namespace, the
// pod's containers join that namespace, and, being its PID 1, it reaps
// every process orphaned in it. It does nothing else, and ends on
// SIGTERM or SIGINT; the runtime kills it when it removes the sandbox.
//
// It has no binary of its own: the kubelet-shim binary runs as a pause
// process when Env is set (see Requested), so a node needs no extra
// file and no image for it.
package pause

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Env marks a pause process; its value is the pod directory it serves
// (for people reading the process list).
const Env = "CORACLE_KUBELET_PAUSE"

// Name is the pause process's argv[0], as the pause container's command
// shows in `ps` of a pod that shares its PID namespace.
const Name = "/pause"

// Requested reports whether this process was started as a pause
// process.
func Requested() bool {
	_, ok := os.LookupEnv(Env)
	return ok
}

// Main runs the pause process until SIGTERM or SIGINT and returns its
// exit code.
func Main() int {
	// Named as its argv[0], so ps shows "/pause" (busybox's ps shows
	// "{kubelet-shim} /pause" while the two differ). Cosmetic: failing
	// to is no reason not to hold the namespace.
	_ = os.WriteFile("/proc/self/comm", []byte("pause"), 0)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	// Orphans that ended before the handler was in place.
	reap()
	for s := range sigs {
		if s == unix.SIGCHLD {
			reap()
			continue
		}
		return 0
	}
	return 0
}

// reap collects every child that has ended. Signals coalesce, so one
// SIGCHLD may stand for many.
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
