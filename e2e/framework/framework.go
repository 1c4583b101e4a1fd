// Package framework holds what only the end-to-end tests start: a cluster
// of Debian's etcd for the apiserver's --etcd-servers, and the host's own
// programs (kubectl, etcd). The apiserver itself is started with
// coracle.dev/shared/testserver, as every module's tests start it:
//
//	cluster := framework.StartEtcdCluster(t, 3)
//	s := testserver.Start(t, testserver.WithEtcdServers(cluster.ClientURLs()...))
//	s.Process().Kill() // SIGKILL
//	s.Restart()        // same data directory, same ports
//
// Every process listens on loopback ports picked free, keeps its state in
// the test's temporary directory, writes its output to a log file there
// (whose tail is printed when the test fails), and is killed by its PID when
// the test ends.
package framework

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SystemBinary is the path of a program the host provides (kubectl, etcd):
// /usr/bin/name if it is there, else name on $PATH. The test fails with
// hint when it is missing; an end-to-end test never skips.
func SystemBinary(t testing.TB, name, hint string) string {
	t.Helper()
	if fi, err := os.Stat(filepath.Join("/usr/bin", name)); err == nil && !fi.IsDir() {
		return filepath.Join("/usr/bin", name)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in /usr/bin or $PATH: %s", name, hint)
	}
	return path
}
