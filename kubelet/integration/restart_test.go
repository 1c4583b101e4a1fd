package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"coracle.dev/shared/testbin"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startProcess runs bin/kubelet for the node.
func (n *node) startProcess(t testing.TB) {
	t.Helper()
	o := n.opts
	args := []string{
		"--kubeconfig", n.ts.Kubeconfig, "--node-name", o.NodeName, "--root-dir", o.RootDir, "--eviction-hard", o.EvictionHard,
		"--node-ip", o.NodeIP, "--pod-cidr", o.PodCIDR, "--port", "0", "--status-address", "127.0.0.1:0",
		"--cni-conf-dir", o.CNIConfDir, "--bridge-name", o.BridgeName, "--network-name", o.NetworkName,
		"--cgroup-root", o.CgroupRoot, "--node-routes", o.NodeRoutes, "--pod-log-dir", o.PodLogDir, "--sync-frequency", "2s", "--shim", testbin.Path(t, "kubelet-shim"),
		"--log-level", "warn", "--log-format", "console",
	}
	cmd := exec.Command(testbin.Path(t, "kubelet"), args...)
	n.procLog = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = n.procLog, n.procLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.proc = cmd
	t.Cleanup(func() {
		if t.Failed() && n.procLog != nil {
			t.Logf("kubelet output:\n%s", n.procLog.String())
		}
	})
}

// containerPIDs reads the host PIDs of the pod's containers from the
// runtime's records.
func (n *node) containerPIDs(uid string) map[string]int {
	n.t.Helper()
	out := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(n.opts.RootDir, "pods", uid, "containers", "*", "container.json"))
	for _, f := range files {
		var rec struct {
			Name    string `json:"name"`
			Attempt int    `json:"attempt"`
			PID     int    `json:"pid"`
		}
		if err := readJSONFile(f, &rec); err != nil {
			n.t.Fatal(err)
		}
		out[fmt.Sprintf("%s-%d", rec.Name, rec.Attempt)] = rec.PID
	}
	return out
}

func TestKubeletKill9ReadoptsContainers(t *testing.T) {
	n := startNode(t, asProcess)
	n.startProcess(t)
	t.Cleanup(n.deleteAllPods)
	ctx := context.Background()
	eventually(t, 60*time.Second, "node Ready", func() (bool, error) {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		return err == nil && nodeCondition(node, v1.NodeReady) == v1.ConditionTrue, err
	})
	created := n.create(n.pod("survivor", sh("a", "exec sleep 3600"), sh("b", "while true; do echo tick; sleep 1; done")))
	before := n.waitRunning("survivor")
	pids := n.containerPIDs(string(created.UID))
	if len(pids) != 2 {
		t.Fatalf("container records: %v", pids)
	}

	if err := n.proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.proc.Wait()
	n.proc = nil
	for name, pid := range pids {
		if syscall.Kill(pid, 0) != nil {
			t.Fatalf("container %s (pid %d) died with the kubelet", name, pid)
		}
	}

	n.startProcess(t)
	// Give the new kubelet time to sync the pod several times.
	time.Sleep(5 * time.Second)
	after := n.get("survivor")
	if got := n.containerPIDs(string(created.UID)); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("containers after restart %v, before %v", got, pids)
	}
	for i, cs := range after.Status.ContainerStatuses {
		old := before.Status.ContainerStatuses[i]
		if cs.RestartCount != 0 || cs.State.Running == nil || cs.ContainerID != old.ContainerID ||
			!cs.State.Running.StartedAt.Equal(&old.State.Running.StartedAt) {
			t.Errorf("container %s after restart: %+v (before %+v)", cs.Name, cs, old)
		}
	}
	for name, pid := range pids {
		if syscall.Kill(pid, 0) != nil {
			t.Errorf("container %s (pid %d) is gone", name, pid)
		}
	}
	// The restarted kubelet carries on: a new pod runs, a deletion is
	// finished.
	n.create(n.pod("newcomer", sh("c", "exec sleep 3600")))
	n.waitRunning("newcomer")
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, "survivor", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitGone("survivor", 30*time.Second)
	if strings.Contains(n.procLog.String(), "panic") {
		t.Errorf("kubelet log: %s", n.procLog.String())
	}
}

func TestOrphanedContainersAreRemoved(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	created := n.create(n.pod("orphan", sh("c", "exec sleep 3600")))
	n.waitRunning("orphan")
	pids := n.containerPIDs(string(created.UID))
	// The pod goes while the kubelet is down.
	n.stopKubelet()
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, "orphan", metav1.DeleteOptions{GracePeriodSeconds: ptrInt64(0)}); err != nil {
		t.Fatal(err)
	}
	n.startKubelet()
	eventually(t, 30*time.Second, "orphaned pod removed from the node", func() (bool, error) {
		_, err := os.Stat(filepath.Join(n.opts.RootDir, "pods", string(created.UID)))
		return os.IsNotExist(err), err
	})
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("orphan's container (pid %d) still runs", pid)
		}
	}
}
