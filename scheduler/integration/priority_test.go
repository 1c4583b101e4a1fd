package integration

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/scheduler/app"
)

func createPriorityClass(t *testing.T, c *cluster, name string, value int32) {
	t.Helper()
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
	if _, err := c.client.SchedulingV1().PriorityClasses().Create(ctxFor(t), pc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create priority class %s: %v", name, err)
	}
}

// TestPriorityOrder: pods waiting when the scheduler starts are tried
// highest priority first, then oldest; the node has room for two.
func TestPriorityOrder(t *testing.T) {
	c := startCluster(t)
	createPriorityClass(t, c, "high", 1000)
	createNode(t, c, nodeSpec{name: "n", cpu: "2"})
	createPod(t, c, podSpec{name: "low-old", cpu: "1"})
	// Creation timestamps have one-second resolution.
	time.Sleep(1100 * time.Millisecond)
	createPod(t, c, podSpec{name: "low-young", cpu: "1"})
	createPod(t, c, podSpec{name: "high", cpu: "1", priorityClass: "high"})
	p, err := c.client.CoreV1().Pods("default").Get(ctxFor(t), "high", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Priority == nil || *p.Spec.Priority != 1000 {
		t.Fatalf("the apiserver set priority %v, want 1000", p.Spec.Priority)
	}
	startScheduler(t, c, func(cfg *app.Config) { cfg.Seed = 1 })
	waitBound(t, c, "default", "high")
	waitBound(t, c, "default", "low-old")
	// low-young waits: preemption cannot help it (no lower priority pod).
	msg := waitUnschedulable(t, c, "default", "low-young")
	if !strings.Contains(msg, "Insufficient cpu") {
		t.Errorf("low-young: %q", msg)
	}
}

// TestPreemption: a high-priority pod that fits nowhere evicts the fewest
// lower-priority pods on one node, gracefully, is nominated to it, and is
// bound there once the victims are gone.
func TestPreemption(t *testing.T) {
	c := startCluster(t)
	createPriorityClass(t, c, "high", 1000)
	createPriorityClass(t, c, "mid", 500)
	createNode(t, c, nodeSpec{name: "n1", cpu: "2"})
	createNode(t, c, nodeSpec{name: "n2", cpu: "2"})
	startScheduler(t, c)
	// n1 holds two mid-priority pods; n2 two low-priority pods, one large.
	createPod(t, c, podSpec{name: "mid-1", cpu: "1", priorityClass: "mid", nodeSelector: map[string]string{v1.LabelHostname: "n1"}})
	createPod(t, c, podSpec{name: "mid-2", cpu: "1", priorityClass: "mid", nodeSelector: map[string]string{v1.LabelHostname: "n1"}})
	createPod(t, c, podSpec{name: "low-small", cpu: "500m", nodeSelector: map[string]string{v1.LabelHostname: "n2"}})
	createPod(t, c, podSpec{name: "low-large", cpu: "1500m", nodeSelector: map[string]string{v1.LabelHostname: "n2"}})
	for _, p := range []string{"mid-1", "mid-2", "low-small", "low-large"} {
		waitBound(t, c, "default", p)
	}

	createPod(t, c, podSpec{name: "urgent", cpu: "1500m", priorityClass: "high"})
	// The fewest, least important victims: low-large alone on n2.
	eventually(t, 30*time.Second, "urgent nominated to n2", func() (bool, error) {
		p, err := c.client.CoreV1().Pods("default").Get(ctxFor(t), "urgent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.NominatedNodeName == "n2", nil
	})
	victim, err := c.client.CoreV1().Pods("default").Get(ctxFor(t), "low-large", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if victim.DeletionTimestamp == nil {
		t.Fatal("low-large was not deleted gracefully")
	}
	disrupted := false
	for _, cond := range victim.Status.Conditions {
		disrupted = disrupted || (cond.Type == v1.DisruptionTarget && cond.Reason == v1.PodReasonPreemptionByScheduler)
	}
	if !disrupted {
		t.Errorf("victim lacks the DisruptionTarget condition: %+v", victim.Status.Conditions)
	}
	waitEvent(t, c, "default", "low-large", "Preempted", "Preempted by pod")
	for _, spared := range []string{"low-small", "mid-1", "mid-2"} {
		p, err := c.client.CoreV1().Pods("default").Get(ctxFor(t), spared, metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp != nil {
			t.Errorf("%s was evicted too (err %v)", spared, err)
		}
	}
	// Until the victim is gone (the kubelet would finish its graceful
	// deletion), the room stays the victim's.
	stillPending(t, c, "default", "urgent", 500*time.Millisecond)
	// A lower-priority pod must not take the room meanwhile.
	createPod(t, c, podSpec{name: "sneaky", cpu: "1500m", priorityClass: "mid"})
	mustDeletePod(t, c, "default", "low-large", 0) // what the kubelet does
	if got := waitBound(t, c, "default", "urgent"); got != "n2" {
		t.Errorf("urgent bound to %s, want n2", got)
	}
	stillPending(t, c, "default", "sneaky", 300*time.Millisecond)
}
