package integration

import (
	"context"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const nodePortsMessage = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"

// hostPortPod is a pod that holds the host port (protocol proto) with a
// sleeping container.
func (n *node) hostPortPod(name string, port int32, proto v1.Protocol) *v1.Pod {
	p := n.pod(name, sh("c", "exec sleep 3600"))
	p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 8080, HostPort: port, Protocol: proto}}
	return p
}

func TestHostPortAdmission(t *testing.T) {
	n := startNode(t)
	port := int32(20000 + mathrand.IntN(9000))
	// Created back to back, maybe within the same second: whichever
	// worker asks first, the older pod gets the port.
	n.create(n.hostPortPod("a-older", port, v1.ProtocolTCP))
	n.create(n.hostPortPod("b-newer", port, v1.ProtocolTCP))
	n.waitRunning("a-older")
	rejected := n.waitPod("b-newer", 30*time.Second, "rejected", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	if rejected.Status.Reason != "NodePorts" || rejected.Status.Message != "Pod was rejected: "+nodePortsMessage {
		t.Errorf("rejected pod's status: reason %q message %q", rejected.Status.Reason, rejected.Status.Message)
	}
	if len(rejected.Status.ContainerStatuses) != 0 {
		t.Errorf("a rejected pod has container statuses: %s", statusSummary(rejected))
	}
	eventually(t, 10*time.Second, "the NodePorts event", func() (bool, error) {
		for _, e := range n.events("b-newer") {
			if e.Reason == "NodePorts" {
				if e.Type != v1.EventTypeWarning || e.Message != nodePortsMessage {
					return false, fmt.Errorf("event %s %q", e.Type, e.Message)
				}
				return true, nil
			}
		}
		return false, nil
	})
	// Never started: nothing of it in the runtime.
	if _, err := os.Stat(filepath.Join(n.opts.RootDir, "pods", string(rejected.UID))); !os.IsNotExist(err) {
		t.Errorf("the rejected pod has runtime state: %v", err)
	}

	// The same port over another protocol is free.
	n.create(n.hostPortPod("udp", port, v1.ProtocolUDP))
	n.waitRunning("udp")

	// Once the holder is gone, a new pod gets the port; the rejected one
	// stays Failed.
	if err := n.client.CoreV1().Pods(n.ns).Delete(context.Background(), "a-older", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitGone("a-older", 30*time.Second)
	n.create(n.hostPortPod("c-after", port, v1.ProtocolTCP))
	n.waitRunning("c-after")
	if p := n.get("b-newer"); p.Status.Phase != v1.PodFailed {
		t.Errorf("the rejected pod is %s now", p.Status.Phase)
	}
}

// holdFinalizer keeps the test's pods in the API after their deletion,
// as the Job controller's finalizer does, until the test lets them go.
const holdFinalizer = "coracle.dev/test-hold"

// release removes the test's finalizer from the pod.
func (n *node) release(name string) {
	n.t.Helper()
	patch := []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + holdFinalizer + `"]}}`)
	_, err := n.client.CoreV1().Pods(n.ns).Patch(context.Background(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		n.t.Errorf("release %s: %v", name, err)
	}
}

// waitRemoved waits until the runtime has nothing left of the pod.
func (n *node) waitRemoved(uid types.UID) {
	n.t.Helper()
	eventually(n.t, 30*time.Second, "pod "+string(uid)+" removed from the runtime", func() (bool, error) {
		_, err := os.Stat(filepath.Join(n.opts.RootDir, "pods", string(uid)))
		return os.IsNotExist(err), err
	})
}

func condition(p *v1.Pod, t v1.PodConditionType) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestTerminalStatusOfDeletedPod(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	// Before the node's cleanup deletes every pod and waits for them.
	t.Cleanup(func() { n.release("evicted"); n.release("exits-zero") })

	// sleep as PID 1 ignores SIGTERM: SIGKILLed after the grace period.
	evicted := n.pod("evicted", sh("c", "exec sleep 3600"))
	evicted.Finalizers = []string{holdFinalizer}
	evicted = n.create(evicted)
	// Exits 0 on SIGTERM.
	zero := n.pod("exits-zero", sh("c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	zero.Finalizers = []string{holdFinalizer}
	zero.Spec.TerminationGracePeriodSeconds = ptrInt64(20)
	zero = n.create(zero)
	n.waitRunning("evicted")
	n.waitRunning("exits-zero")

	// The Eviction API marks the pod with DisruptionTarget, then deletes
	// it.
	if err := n.client.PolicyV1().Evictions(n.ns).Evict(ctx, &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: "evicted", Namespace: n.ns},
	}); err != nil {
		t.Fatal(err)
	}
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, "exits-zero", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	failed := n.waitPod("evicted", 30*time.Second, "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	if failed.DeletionTimestamp == nil {
		t.Error("Failed without a deletionTimestamp")
	}
	checkTerminalStatus(t, failed, "Error", 137, 143)
	if c := condition(failed, v1.DisruptionTarget); c == nil || c.Status != v1.ConditionTrue || c.Reason != "EvictionByEvictionAPI" {
		t.Errorf("DisruptionTarget condition: %+v", c)
	}

	succeeded := n.waitPod("exits-zero", 40*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase != v1.PodRunning })
	if succeeded.Status.Phase != v1.PodSucceeded {
		t.Errorf("a pod whose container exited 0 on deletion ended %s", statusSummary(succeeded))
	}
	checkTerminalStatus(t, succeeded, "Completed", 0)

	// Once the kubelet is done with them (containers removed, the final
	// delete sent), nothing writes their status again.
	n.waitRemoved(evicted.UID)
	n.waitRemoved(zero.UID)
	for name, phase := range map[string]v1.PodPhase{"evicted": v1.PodFailed, "exits-zero": v1.PodSucceeded} {
		p := n.waitPod(name, 20*time.Second, "the kubelet's final delete", func(p *v1.Pod) bool {
			return p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0
		})
		if p.Status.Phase != phase {
			t.Errorf("%s: %s after its removal, want %s", name, statusSummary(p), phase)
		}
	}
	n.release("evicted")
	n.release("exits-zero")
	n.waitGone("evicted", 20*time.Second)
	n.waitGone("exits-zero", 20*time.Second)
}

// checkTerminalStatus checks the container's terminated state and that
// the pod is not ready.
func checkTerminalStatus(t *testing.T, p *v1.Pod, reason string, exitCodes ...int32) {
	t.Helper()
	if len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("%s: %s", p.Name, statusSummary(p))
	}
	cs := p.Status.ContainerStatuses[0]
	term := cs.State.Terminated
	if term == nil || term.Reason != reason || cs.Ready {
		b, _ := json.Marshal(cs)
		t.Fatalf("%s: container status %s, want terminated %s", p.Name, b, reason)
	}
	ok := false
	for _, c := range exitCodes {
		ok = ok || term.ExitCode == c
	}
	if !ok {
		t.Errorf("%s: exit code %d, want one of %v", p.Name, term.ExitCode, exitCodes)
	}
	if term.FinishedAt.IsZero() || term.ContainerID == "" {
		t.Errorf("%s: terminated state without finish time or container ID: %+v", p.Name, term)
	}
	for _, c := range []v1.PodConditionType{v1.PodReady, v1.ContainersReady} {
		if cond := condition(p, c); cond == nil || cond.Status != v1.ConditionFalse {
			t.Errorf("%s: %s condition %+v, want False", p.Name, c, cond)
		}
	}
}
