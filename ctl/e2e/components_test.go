package e2e

import (
	"testing"
	"time"

	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
)

// startComponent runs bin/NAME against the cluster with its status server
// on a free loopback port and waits for its /readyz; it is stopped by its
// PID when the test ends.
func startComponent(t *testing.T, c *cluster, name string, args ...string) {
	t.Helper()
	status := testnet.FreeAddr(t)
	args = append([]string{"--kubeconfig", c.ts.Kubeconfig, "--status-address", status, "--log-format", "console"}, args...)
	p := testproc.Start(t, name, testbin.Path(t, name), args...)
	p.WaitReady(t, 60*time.Second, testproc.Readyz(status))
}
