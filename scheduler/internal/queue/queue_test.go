package queue_test

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"coracle.dev/scheduler/internal/framework"
	"coracle.dev/scheduler/internal/queue"
	st "coracle.dev/scheduler/internal/schedtest"
)

var events = map[string][]framework.ClusterEvent{
	"NodeResourcesFit": {{Resource: framework.AssignedPod, ActionType: framework.Delete}, {Resource: framework.Node, ActionType: framework.Add}},
	"TaintToleration":  {{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint}},
}

func newQueue() (*queue.Queue, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	return queue.New(queue.Options{Clock: clk, EventsByPlugin: events}), clk
}

func pop(t *testing.T, q *queue.Queue) *queue.QueuedPodInfo {
	t.Helper()
	done := make(chan *queue.QueuedPodInfo, 1)
	go func() {
		p, err := q.Pop()
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	select {
	case p := <-done:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("Pop blocked")
		return nil
	}
}

func TestOrderByPriorityThenAge(t *testing.T) {
	q, _ := newQueue()
	t0 := time.Unix(500, 0)
	q.Add(st.MakePod("young-low").Priority(0).Created(t0.Add(time.Minute)).Obj())
	q.Add(st.MakePod("old-low").Priority(0).Created(t0).Obj())
	q.Add(st.MakePod("high").Priority(100).Created(t0.Add(time.Hour)).Obj())
	q.Add(st.MakePod("same-second-first").Priority(0).Created(t0.Add(2 * time.Minute)).Obj())
	q.Add(st.MakePod("same-second-second").Priority(0).Created(t0.Add(2 * time.Minute)).Obj())
	want := []string{"high", "old-low", "young-low", "same-second-first", "same-second-second"}
	for _, w := range want {
		p := pop(t, q)
		if p.Pod.Name != w {
			t.Fatalf("popped %s, want %s", p.Pod.Name, w)
		}
		q.Done(p)
	}
}

func TestUnschedulablePodWaitsForARelevantEvent(t *testing.T) {
	tests := []struct {
		name      string
		rejecters map[string]bool
		event     framework.ClusterEvent
		wantMoved bool
	}{
		{"resources: a pod deleted helps", map[string]bool{"NodeResourcesFit": true}, framework.EventAssignedPodDel, true},
		{"resources: a node added helps", map[string]bool{"NodeResourcesFit": true}, framework.EventNodeAdd, true},
		{"resources: a taint removed does not help", map[string]bool{"NodeResourcesFit": true},
			framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeTaint}, false},
		{"taints: a taint removed helps", map[string]bool{"TaintToleration": true},
			framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeTaint}, true},
		{"taints: a pod deleted does not help", map[string]bool{"TaintToleration": true}, framework.EventAssignedPodDel, false},
		{"rejected by no plugin in particular: any event", nil, framework.EventAssignedPodDel, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, clk := newQueue()
			pod := st.MakePod("p").Obj()
			q.Add(pod)
			p := pop(t, q)
			p.UnschedulablePlugins = tc.rejecters
			q.AddUnschedulableIfNotPresent(p, pod, false)
			if where := q.Where(pod); where != "unschedulable" {
				t.Fatalf("pod in %q, want unschedulable", where)
			}
			q.MoveAllToActiveOrBackoffQueue(tc.event)
			where := q.Where(pod)
			if moved := where != "unschedulable"; moved != tc.wantMoved {
				t.Fatalf("pod in %q after %s; want moved=%v", where, tc.event.Label, tc.wantMoved)
			}
			if tc.wantMoved && where != "backoff" {
				t.Errorf("moved to %q, want backoff (its first back-off has not expired)", where)
			}
			_ = clk
		})
	}
}

func TestBackoffDoublesToTheMaximum(t *testing.T) {
	q, clk := newQueue()
	pod := st.MakePod("p").Obj()
	q.Add(pod)
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		p := pop(t, q)
		q.AddUnschedulableIfNotPresent(p, pod, true) // errors go straight to back-off
		if where := q.Where(pod); where != "backoff" {
			t.Fatalf("attempt %d: pod in %q, want backoff", attempt+1, where)
		}
		clk.Step(want - time.Millisecond)
		q.FlushBackoffForTest()
		if where := q.Where(pod); where != "backoff" {
			t.Fatalf("attempt %d: left back-off before %v", attempt+1, want)
		}
		clk.Step(time.Millisecond)
		q.FlushBackoffForTest()
		if where := q.Where(pod); where != "active" {
			t.Fatalf("attempt %d: still in %q after %v", attempt+1, where, want)
		}
	}
}

func TestEventDuringAttemptIsNotLost(t *testing.T) {
	q, _ := newQueue()
	pod := st.MakePod("p").Obj()
	q.Add(pod)
	p := pop(t, q)
	// A node arrives while the pod is being scheduled on a snapshot that
	// predates it...
	q.MoveAllToActiveOrBackoffQueue(framework.EventNodeAdd)
	// ... and the attempt fails: the pod must be retried, not parked.
	p.UnschedulablePlugins = map[string]bool{"NodeResourcesFit": true}
	q.AddUnschedulableIfNotPresent(p, pod, false)
	if where := q.Where(pod); where != "backoff" {
		t.Fatalf("pod in %q, want backoff", where)
	}
}

func TestIrrelevantEventDuringAttemptParksThePod(t *testing.T) {
	q, _ := newQueue()
	pod := st.MakePod("p").Obj()
	q.Add(pod)
	p := pop(t, q)
	q.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeLabel})
	p.UnschedulablePlugins = map[string]bool{"NodeResourcesFit": true}
	q.AddUnschedulableIfNotPresent(p, pod, false)
	if where := q.Where(pod); where != "unschedulable" {
		t.Fatalf("pod in %q, want unschedulable", where)
	}
}

func TestSpecUpdateRetriesAWaitingPodButAStatusUpdateDoesNot(t *testing.T) {
	q, _ := newQueue()
	pod := st.MakePod("p").Obj()
	q.Add(pod)
	p := pop(t, q)
	p.UnschedulablePlugins = map[string]bool{"TaintToleration": true}
	q.AddUnschedulableIfNotPresent(p, pod, false)

	statusOnly := pod.DeepCopy()
	statusOnly.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
	q.Update(statusOnly)
	if where := q.Where(pod); where != "unschedulable" {
		t.Fatalf("status update moved the pod to %q", where)
	}
	tolerating := statusOnly.DeepCopy()
	tolerating.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpExists}}
	q.Update(tolerating)
	if where := q.Where(pod); where == "unschedulable" {
		t.Fatal("spec update left the pod waiting")
	}
}

func TestGatedPodsWaitForTheirGatesToLift(t *testing.T) {
	q, _ := newQueue()
	gated := st.MakePod("g").SchedulingGate("example.com/wait").Obj()
	q.Add(gated)
	if where := q.Where(gated); where != "unschedulable" {
		t.Fatalf("gated pod in %q", where)
	}
	q.MoveAllToActiveOrBackoffQueue(framework.EventNodeAdd)
	if where := q.Where(gated); where != "unschedulable" {
		t.Fatalf("an event moved a gated pod to %q", where)
	}
	if _, _, _, g := q.Pending(); g != 1 {
		t.Errorf("gated count %d, want 1", g)
	}
	lifted := gated.DeepCopy()
	lifted.Spec.SchedulingGates = nil
	q.Update(lifted)
	if where := q.Where(gated); where != "active" {
		t.Fatalf("pod with its gates lifted in %q, want active", where)
	}
}

func TestDeleteForgetsThePod(t *testing.T) {
	q, _ := newQueue()
	pod := st.MakePod("p").Obj()
	q.Add(pod)
	q.Delete(pod)
	if q.Contains(pod) {
		t.Fatal("deleted pod still queued")
	}
}

func TestCloseUnblocksPop(t *testing.T) {
	q, _ := newQueue()
	errc := make(chan error, 1)
	go func() { _, err := q.Pop(); errc <- err }()
	q.Close()
	select {
	case err := <-errc:
		if err != queue.ErrClosed {
			t.Fatalf("Pop: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop still blocked after Close")
	}
}
