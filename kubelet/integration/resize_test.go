package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestInPlacePodResize resizes a real pod through the pods/resize
// subresource, as the conformance tests do, and reads the containers'
// cgroups from inside them: a container without a resize policy gets its
// new CPU and memory values in place (same container, restartCount 0); a
// container whose memory policy is RestartContainer runs again with them
// (restartCount 1). The status's resources and allocatedResources follow,
// PodResizeInProgress comes and goes, and events say so.
func TestInPlacePodResize(t *testing.T) {
	n := startNode(t)

	res := func(cpuReq, cpuLim, memReq, memLim string) v1.ResourceRequirements {
		return v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpuReq), v1.ResourceMemory: resource.MustParse(memReq)},
			Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpuLim), v1.ResourceMemory: resource.MustParse(memLim)},
		}
	}
	const loop = "trap 'exit 0' TERM; while true; do sleep 1; done"
	inplace := sh("inplace", loop)
	inplace.Resources = res("20m", "30m", "35Mi", "45Mi")
	restart := sh("restart", loop)
	restart.Resources = res("20m", "30m", "35Mi", "45Mi")
	restart.ResizePolicy = []v1.ContainerResizePolicy{
		{ResourceName: v1.ResourceCPU, RestartPolicy: v1.NotRequired},
		{ResourceName: v1.ResourceMemory, RestartPolicy: v1.RestartContainer},
	}
	n.create(n.pod("resize", inplace, restart))
	p := n.waitRunning("resize")
	checkStatusResources(t, p, map[string]v1.ResourceRequirements{"inplace": inplace.Resources, "restart": restart.Resources})
	n.checkCgroups("resize", "inplace", 45<<20, 3000, 20)
	n.checkCgroups("resize", "restart", 45<<20, 3000, 20)
	before := containerStatus(p, "inplace")

	// Up: CPU and memory of inplace, memory of restart.
	newInplace, newRestart := res("25m", "35m", "35Mi", "50Mi"), res("20m", "30m", "40Mi", "50Mi")
	patched := n.resize("resize", fmt.Sprintf(`{"spec":{"containers":[{"name":"inplace","resources":%s},{"name":"restart","resources":%s}]}}`,
		resourcesJSON(newInplace), resourcesJSON(newRestart)))
	if patched.Generation != p.Generation+1 {
		t.Errorf("generation %d after the resize, want %d", patched.Generation, p.Generation+1)
	}
	p = n.waitResized("resize", patched.Generation)
	checkStatusResources(t, p, map[string]v1.ResourceRequirements{"inplace": newInplace, "restart": newRestart})
	if cs := containerStatus(p, "inplace"); cs.RestartCount != 0 || cs.ContainerID != before.ContainerID {
		t.Errorf("inplace was restarted: restartCount %d, %s (was %s)", cs.RestartCount, cs.ContainerID, before.ContainerID)
	}
	if cs := containerStatus(p, "restart"); cs.RestartCount != 1 {
		t.Errorf("restart: restartCount %d, want 1 (its memory policy is RestartContainer)", cs.RestartCount)
	}
	n.checkCgroups("resize", "inplace", 50<<20, 3500, 25)
	n.checkCgroups("resize", "restart", 50<<20, 3000, 20)
	reasons := map[string]bool{}
	for _, e := range n.events("resize") {
		reasons[e.Reason] = true
		if e.Reason == "Killing" && e.Message != "Container restart resize requires restart" {
			t.Errorf("Killing event %q", e.Message)
		}
	}
	for _, r := range []string{"ResizeStarted", "ResizeCompleted", "Killing"} {
		if !reasons[r] {
			t.Errorf("no %s event; events: %v", r, reasons)
		}
	}

	// Down again, in place.
	patched = n.resize("resize", fmt.Sprintf(`{"spec":{"containers":[{"name":"inplace","resources":%s}]}}`, resourcesJSON(inplace.Resources)))
	p = n.waitResized("resize", patched.Generation)
	checkStatusResources(t, p, map[string]v1.ResourceRequirements{"inplace": inplace.Resources, "restart": newRestart})
	n.checkCgroups("resize", "inplace", 45<<20, 3000, 20)
	if cs := containerStatus(p, "inplace"); cs.RestartCount != 0 {
		t.Errorf("inplace restarted by a decrease: restartCount %d", cs.RestartCount)
	}
}

// TestInPlacePodResizeInfeasible asks for more CPU than the node has: the
// resize is PodResizePending/Infeasible with upstream's message, the
// allocation and the cgroup stay, and taking it back clears the
// condition. The kubelet must give its pod workers the Node (GetNode).
func TestInPlacePodResizeInfeasible(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := sh("c", "trap 'exit 0' TERM; while true; do sleep 1; done")
	c.Resources = v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("20m"), v1.ResourceMemory: resource.MustParse("35Mi")},
		Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("30m"), v1.ResourceMemory: resource.MustParse("45Mi")},
	}
	n.create(n.pod("infeasible", c))
	n.waitRunning("infeasible")

	node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	capacity := node.Status.Allocatable.Cpu().MilliValue()
	huge := fmt.Sprintf("%dm", capacity*2)
	patched := n.resize("infeasible", fmt.Sprintf(`{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":%q},"limits":{"cpu":%q}}}]}}`, huge, huge))
	wantMsg := fmt.Sprintf("Node didn't have enough capacity: cpu, requested: %d, capacity: %d", capacity*2, capacity)
	p := n.waitPod("infeasible", 60*time.Second, "PodResizePending Infeasible", func(p *v1.Pod) bool {
		c := condition(p, v1.PodResizePending)
		return c != nil && c.Reason == v1.PodReasonInfeasible && c.ObservedGeneration == patched.Generation
	})
	if c := condition(p, v1.PodResizePending); c.Message != wantMsg || c.Status != v1.ConditionTrue {
		t.Errorf("PodResizePending %+v, want message %q", c, wantMsg)
	}
	checkStatusResources(t, p, map[string]v1.ResourceRequirements{"c": c.Resources})
	n.checkCgroups("infeasible", "c", 45<<20, 3000, 20)
	found := false
	for _, e := range n.events("infeasible") {
		found = found || e.Reason == "ResizeInfeasible" && e.Type == v1.EventTypeWarning
	}
	if !found {
		t.Error("no ResizeInfeasible event")
	}

	// Taken back: the condition goes.
	patched = n.resize("infeasible", fmt.Sprintf(`{"spec":{"containers":[{"name":"c","resources":%s}]}}`, resourcesJSON(c.Resources)))
	n.waitResized("infeasible", patched.Generation)
}

// resize patches the pod through the pods/resize subresource.
func (n *node) resize(name, patch string) *v1.Pod {
	n.t.Helper()
	p, err := n.client.CoreV1().Pods(n.ns).Patch(context.Background(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "resize")
	if err != nil {
		n.t.Fatalf("resize %s: %v", name, err)
	}
	return p
}

// waitResized waits as the conformance tests' WaitForPodResizeActuation:
// the status is of the generation, has no resize condition, and the pod
// is ready.
func (n *node) waitResized(name string, generation int64) *v1.Pod {
	n.t.Helper()
	return n.waitPod(name, 60*time.Second, "resized", func(p *v1.Pod) bool {
		return p.Status.ObservedGeneration >= generation && condition(p, v1.PodResizePending) == nil &&
			condition(p, v1.PodResizeInProgress) == nil && podReady(p)
	})
}

// checkCgroups reads the container's cgroup values from inside it, as
// the conformance tests do.
func (n *node) checkCgroups(pod, container string, memLimit, cpuQuota, cpuShares int64) {
	n.t.Helper()
	files := []string{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.shares"}
	want := fmt.Sprintf("%d %d %d", memLimit, cpuQuota, cpuShares)
	var got string
	eventually(n.t, 30*time.Second, pod+"/"+container+" cgroup values "+want, func() (bool, error) {
		r := n.exec(pod, container, "", false, append([]string{"cat"}, files...)...)
		if r.err != nil {
			return false, fmt.Errorf("exec: %v: %s", r.err, r.stderr)
		}
		got = strings.Join(strings.Fields(r.stdout), " ")
		return got == want, fmt.Errorf("read %q", got)
	})
}

func checkStatusResources(t *testing.T, p *v1.Pod, want map[string]v1.ResourceRequirements) {
	t.Helper()
	for name, w := range want {
		cs := containerStatus(p, name)
		if cs == nil {
			t.Errorf("no status of %s", name)
			continue
		}
		if !sameList(cs.AllocatedResources, w.Requests) {
			t.Errorf("%s: allocatedResources %v, want %v", name, cs.AllocatedResources, w.Requests)
		}
		if cs.Resources == nil || !sameList(cs.Resources.Requests, w.Requests) || !sameList(cs.Resources.Limits, w.Limits) {
			t.Errorf("%s: resources %+v, want %+v", name, cs.Resources, w)
		}
	}
}

func sameList(a, b v1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, q := range a {
		if o, ok := b[k]; !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}

func containerStatus(p *v1.Pod, name string) *v1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func resourcesJSON(r v1.ResourceRequirements) string {
	q := func(l v1.ResourceList) string {
		var parts []string
		for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			if v, ok := l[name]; ok {
				parts = append(parts, fmt.Sprintf("%q:%q", name, v.String()))
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprintf(`{"requests":%s,"limits":%s}`, q(r.Requests), q(r.Limits))
}
