package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/kubelet"
)

// TestMemoryPressureEviction fills memory in a real pod past the
// eviction threshold: a kubelet whose --system-reserved leaves the pods
// 600Mi (allocatable 500Mi with memory.available<100Mi) and a BestEffort
// "hog" pod that holds 550Mi. allocatableMemory.available, which counts
// the pods' cgroup only, falls to about 50Mi whatever else the machine
// does: the node reports MemoryPressure, the hog is Evicted with
// upstream's message and event, the quiet pod beside it keeps running,
// and MemoryPressure clears after the transition period.
func TestMemoryPressureEviction(t *testing.T) {
	memTotal := meminfoBytes(t, "MemTotal")
	const podsMemory = 600 << 20
	n := startNode(t, func(o *kubelet.Options) {
		o.EvictionHard = "memory.available<100Mi"
		o.SystemReserved = fmt.Sprintf("memory=%d", memTotal-podsMemory)
		o.EvictionPressureTransitionPeriod = 5 * time.Second
		o.EvictionMonitoringInterval = 500 * time.Millisecond
	})
	ctx := context.Background()

	node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := node.Status.Allocatable.Memory().Value(), int64(podsMemory-100<<20); got != want {
		t.Errorf("allocatable memory %d, want %d (capacity less system-reserved less the 100Mi threshold)", got, want)
	}
	if c := memoryPressure(node); c == nil || c.Status != v1.ConditionFalse || c.Reason != "KubeletHasSufficientMemory" {
		t.Errorf("MemoryPressure before the hog: %+v", c)
	}

	quiet := sh("quiet", "trap 'exit 0' TERM; while true; do sleep 1; done")
	quiet.Resources.Requests = v1.ResourceList{v1.ResourceMemory: resource.MustParse("20Mi")}
	n.create(n.pod("quiet", quiet))
	n.waitRunning("quiet")

	// tail keeps all of a line in memory until its end, which never
	// comes while sleep holds the pipe open.
	n.create(n.pod("hog", sh("hog", "(head -c 550m /dev/zero; exec sleep 3600) | tail")))

	sawPressure := make(chan struct{})
	go func() {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
			if c := memoryPressure(node); err == nil && c != nil && c.Status == v1.ConditionTrue {
				if c.Reason == "KubeletHasInsufficientMemory" && c.Message == "kubelet has insufficient memory available" {
					close(sawPressure)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	hog := n.waitPod("hog", 90*time.Second, "Failed by eviction", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	wantPrefix := "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
	if hog.Status.Reason != "Evicted" || !strings.HasPrefix(hog.Status.Message, wantPrefix) ||
		!strings.Contains(hog.Status.Message, "Container hog was using ") ||
		!strings.HasSuffix(hog.Status.Message, ", request is 0, has larger consumption of memory. ") {
		t.Errorf("hog status: reason %q message %q", hog.Status.Reason, hog.Status.Message)
	}
	var disruption *v1.PodCondition
	for i := range hog.Status.Conditions {
		if hog.Status.Conditions[i].Type == v1.DisruptionTarget {
			disruption = &hog.Status.Conditions[i]
		}
	}
	if disruption == nil || disruption.Status != v1.ConditionTrue || disruption.Reason != v1.PodReasonTerminationByKubelet {
		t.Errorf("hog DisruptionTarget condition %+v", disruption)
	}
	msg := n.waitEvent("hog", "Evicted", wantPrefix)
	if msg != hog.Status.Message {
		t.Errorf("event message %q, status message %q", msg, hog.Status.Message)
	}
	for _, e := range n.events("hog") {
		if e.Reason == "Evicted" && (e.Type != v1.EventTypeWarning || e.Annotations["offending_containers"] != "hog" || e.Annotations["starved_resource"] != "memory") {
			t.Errorf("Evicted event: type %s annotations %v", e.Type, e.Annotations)
		}
	}
	select {
	case <-sawPressure:
	case <-time.After(30 * time.Second):
		t.Error("the node never reported MemoryPressure True with upstream's reason and message")
	}

	// The quiet pod was not the one to go, and still runs.
	p, err := n.client.CoreV1().Pods(n.ns).Get(ctx, "quiet", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != v1.PodRunning || hasEvent(n.events("quiet"), "Evicted") {
		t.Errorf("quiet pod: %s, events %v", statusSummary(p), n.events("quiet"))
	}
	if got := evictionsMetric(t, n.kubelet.StatusAddress()); got != 1 {
		t.Errorf(`kubelet_evictions{eviction_signal="allocatableMemory.available"} = %v, want 1`, got)
	}

	// The hog's memory is free again: the condition clears once the
	// transition period passed.
	eventually(t, 60*time.Second, "MemoryPressure False again", func() (bool, error) {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := memoryPressure(node)
		return c != nil && c.Status == v1.ConditionFalse && c.Reason == "KubeletHasSufficientMemory", fmt.Errorf("condition %+v", c)
	})
	if p, err := n.client.CoreV1().Pods(n.ns).Get(ctx, "quiet", metav1.GetOptions{}); err != nil || p.Status.Phase != v1.PodRunning {
		t.Errorf("quiet pod after the pressure: %v %v", err, p.Status.Phase)
	}
}

func memoryPressure(node *v1.Node) *v1.NodeCondition {
	if node == nil {
		return nil
	}
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == v1.NodeMemoryPressure {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// meminfoBytes reads one /proc/meminfo field.
func meminfoBytes(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/meminfo has no %s", field)
	return 0
}

// evictionsMetric reads the kubelet's kubelet_evictions counter of
// allocatableMemory.available from its /metrics.
func evictionsMetric(t *testing.T, addr string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `kubelet_evictions{eviction_signal="allocatableMemory.available"} `); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}
