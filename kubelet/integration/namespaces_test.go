package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPIDAndIPCNamespaces runs real pods that share one PID namespace
// (shareProcessNamespace: a container sees the other's processes, under
// the pod's pause process as PID 1, which goes with the pod), that use
// the host's PID and IPC namespaces (hostPID, hostIPC), and gets an
// ephemeral container, added through the API as `kubectl debug
// --target` does, into its target's PID namespace.
func TestPIDAndIPCNamespaces(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	share := true

	shared := n.pod("shared",
		sh("a", `until ps | grep -q '[s]leep 3602'; do sleep 0.2; done; ps; echo found; exec sleep 3600`),
		sh("b", "exec sleep 3602"))
	shared.Spec.ShareProcessNamespace = &share
	shared.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	sharedPod := n.create(shared)

	hostIPC, _ := os.Readlink("/proc/self/ns/ipc")
	hostPIDNS, _ := os.Readlink("/proc/self/ns/pid")
	host := n.pod("host", sh("c", fmt.Sprintf(`echo ipc=$(readlink /proc/self/ns/ipc) pid=$(readlink /proc/self/ns/pid); test -d /proc/%d && echo sees-host; exec sleep 3600`, os.Getpid())))
	host.Spec.HostPID, host.Spec.HostIPC = true, true
	host.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	n.create(host)

	target := n.pod("target", sh("c", "exec sleep 3603"))
	target.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	n.create(target)

	// One PID namespace: a sees b's sleep, and the pause process is
	// PID 1.
	n.waitRunning("shared")
	log := n.waitLog("shared", "a", "found")
	if !strings.Contains(log, "sleep 3602") || !pid1Is(log, "/pause") {
		t.Errorf("shared PID namespace: ps shows\n%s", log)
	}
	var rec struct {
		PausePID int `json:"pausePid"`
	}
	if err := readJSONFile(filepath.Join(n.opts.RootDir, "pods", string(sharedPod.UID), "pod.json"), &rec); err != nil {
		t.Fatalf("pod record of shared: %v", err)
	}
	if rec.PausePID <= 0 {
		t.Fatalf("no pause process recorded: %+v", rec)
	}

	// The host's namespaces.
	n.waitRunning("host")
	log = n.waitLog("host", "c", "pid=")
	if want := "ipc=" + hostIPC + " pid=" + hostPIDNS; !strings.Contains(log, want) || !strings.Contains(log, "sees-host") {
		t.Errorf("hostPID and hostIPC: log %q, want %q and sees-host", log, want)
	}

	// An ephemeral container targeting c sees c's process.
	tp := n.waitRunning("target")
	tp.Spec.EphemeralContainers = []v1.EphemeralContainer{{
		EphemeralContainerCommon: v1.EphemeralContainerCommon{
			Name: "debugger", Image: n.image, Command: []string{"sh", "-c", "ps; echo listed; exec sleep 3600"},
			TerminationMessagePolicy: v1.TerminationMessageReadFile, ImagePullPolicy: v1.PullIfNotPresent,
		},
		TargetContainerName: "c",
	}}
	if _, err := n.client.CoreV1().Pods(n.ns).UpdateEphemeralContainers(ctx, "target", tp, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("add ephemeral container: %v", err)
	}
	got := n.waitPod("target", 60*time.Second, "the ephemeral container running", func(p *v1.Pod) bool {
		es := p.Status.EphemeralContainerStatuses
		return len(es) == 1 && es[0].State.Running != nil
	})
	es := got.Status.EphemeralContainerStatuses[0]
	if es.Name != "debugger" || es.Image != n.image || es.ImageID == "" || !strings.HasPrefix(es.ContainerID, "runc://") {
		t.Errorf("ephemeral container status %+v", es)
	}
	log = n.waitLog("target", "debugger", "listed")
	if !strings.Contains(log, "sleep 3603") || !pid1Is(log, "sleep 3603") {
		t.Errorf("the ephemeral container's ps shows\n%s", log)
	}
	if got.Status.Phase != v1.PodRunning || !podReady(got) {
		t.Errorf("the ephemeral container changes nothing of the pod: %s", statusSummary(got))
	}

	// Deleted, the shared pod's pause process goes.
	n.deletePod("shared")
	if _, err := os.Stat("/proc/" + strconv.Itoa(rec.PausePID)); err == nil {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(rec.PausePID) + "/cmdline")
		if strings.HasPrefix(string(comm), "/pause") {
			t.Errorf("pause process %d still runs after its pod was deleted", rec.PausePID)
		}
	}
}

// pid1Is reports whether busybox ps output shows PID 1 running command.
func pid1Is(ps, command string) bool {
	for _, line := range strings.Split(ps, "\n") {
		f := strings.Fields(line)
		// PID USER COMMAND...
		if len(f) >= 3 && f[0] == "1" {
			return strings.HasPrefix(strings.Join(f[2:], " "), command)
		}
	}
	return false
}
