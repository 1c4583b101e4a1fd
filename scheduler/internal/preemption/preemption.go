// Package preemption makes room for a pod that fits nowhere by evicting
// pods of lower priority from one node, as Kubernetes' DefaultPreemption
// does. Deciding is pure (Evaluator, over the cycle's snapshot and state):
// on each node where removing pods might help, remove every lower-priority
// pod, check the pod fits, then put back as many as still let it fit, most
// important first; the pods not put back are the victims. Of the nodes
// that work, pick the one whose victims matter least (lowest top priority,
// then lowest total priority, then fewest, then most recently started).
// Acting (Actuator) deletes the victims gracefully and leaves the pod
// nominated to the node, so that no lower-priority pod takes the room
// while the victims terminate.
package preemption

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
)

// Messages, as Kubernetes words them.
const (
	MsgNoVictims         = "No preemption victims found for incoming pod"
	MsgNotHelpful        = "Preemption is not helpful for scheduling"
	MsgPolicyNever       = "not eligible due to preemptionPolicy=Never."
	MsgTerminatingOnNode = "not eligible due to a terminating pod on the nominated node."
)

// Candidate is a node and the pods to evict from it.
type Candidate struct {
	Node    string
	Victims []*framework.PodInfo
}

// Evaluator decides preemptions. FindCandidate is not safe for concurrent
// use (it shares the scheduling goroutine's snapshot).
type Evaluator struct {
	fwk  *framework.Framework
	rand *rand.Rand
	// MinCandidateNodesPercentage and MinCandidateNodesAbsolute bound how
	// many nodes are dry-run, as Kubernetes' defaults (10%, 100).
	MinCandidateNodesPercentage int
	MinCandidateNodesAbsolute   int
}

// NewEvaluator returns an evaluator over fwk; seed 0 is random.
func NewEvaluator(fwk *framework.Framework, seed uint64) *Evaluator {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Evaluator{fwk: fwk, rand: rand.New(rand.NewPCG(seed, ^seed)), MinCandidateNodesPercentage: 10, MinCandidateNodesAbsolute: 100}
}

// FindCandidate returns the node to preempt on and its victims, or nil and
// the message (prefixed "preemption: ") that explains why preemption does
// not help, for the pod's FailedScheduling event. nominated is the node
// the pod is already nominated to, if any.
func (e *Evaluator) FindCandidate(ctx context.Context, state *framework.CycleState, pod *framework.PodInfo, nominated string, nodeToStatus map[string]*framework.Status) (*Candidate, string) {
	snap := e.fwk.SnapshotSharedLister()
	if ok, msg := eligible(pod, nominated, snap, nodeToStatus); !ok {
		return nil, "preemption: " + msg
	}
	all := snap.List()
	var potential []*framework.NodeInfo
	for _, ni := range all {
		if s, ok := nodeToStatus[ni.Node().Name]; ok && s.Code() == framework.Unschedulable {
			potential = append(potential, ni)
		}
	}
	statuses := map[string]*framework.Status{}
	var candidates []*Candidate
	if len(potential) > 0 {
		candidates, statuses = e.dryRun(ctx, state, pod, potential)
	}
	if len(candidates) == 0 {
		for _, ni := range all {
			if _, ok := statuses[ni.Node().Name]; !ok {
				statuses[ni.Node().Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, MsgNotHelpful)
			}
		}
		fe := &framework.FitError{Pod: pod.Pod, NumAllNodes: len(all), Diagnosis: framework.Diagnosis{NodeToStatus: statuses}}
		return nil, "preemption: " + trimDot(fe.Error())
	}
	return PickOne(candidates), ""
}

func trimDot(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// eligible: a pod may preempt unless its policy forbids it, or it is
// already nominated to a node where a lower-priority pod is still
// terminating (its earlier preemption is under way) — and that node has
// not since become hopeless.
func eligible(pod *framework.PodInfo, nominated string, snap framework.SharedLister, nodeToStatus map[string]*framework.Status) (bool, string) {
	if p := pod.Pod.Spec.PreemptionPolicy; p != nil && *p == v1.PreemptNever {
		return false, MsgPolicyNever
	}
	if nominated == "" {
		return true, ""
	}
	if nodeToStatus[nominated].Code() == framework.UnschedulableAndUnresolvable {
		return true, ""
	}
	if ni := snap.Get(nominated); ni != nil {
		prio := pod.Priority()
		for _, p := range ni.Pods {
			if p.Pod.DeletionTimestamp != nil && p.Priority() < prio {
				return false, MsgTerminatingOnNode
			}
		}
	}
	return true, ""
}

// dryRun tries nodes from a random offset, in parallel, until it has
// enough candidates.
func (e *Evaluator) dryRun(ctx context.Context, state *framework.CycleState, pod *framework.PodInfo, nodes []*framework.NodeInfo) ([]*Candidate, map[string]*framework.Status) {
	want := max(len(nodes)*e.MinCandidateNodesPercentage/100, e.MinCandidateNodesAbsolute)
	want = min(want, len(nodes))
	offset := e.rand.IntN(len(nodes))
	var mu sync.Mutex // guards candidates and statuses
	var candidates []*Candidate
	statuses := map[string]*framework.Status{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.fwk.Parallelizer().Until(ctx, len(nodes), func(i int) {
		ni := nodes[(offset+i)%len(nodes)]
		victims, s := SelectVictimsOnNode(ctx, e.fwk, state.Clone(), pod, ni.Clone())
		mu.Lock()
		defer mu.Unlock()
		if s.IsSuccess() {
			candidates = append(candidates, &Candidate{Node: ni.Node().Name, Victims: victims})
			if len(candidates) >= want {
				cancel()
			}
			return
		}
		statuses[ni.Node().Name] = s
	})
	// Parallel order is arbitrary; make the choice among equals stable.
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Node < candidates[j].Node })
	return candidates, statuses
}

// SelectVictimsOnNode finds the fewest pods of lower priority than pod to
// remove from node (a clone, changed) for pod to fit, keeping state (a
// clone) in step. It fails when no lower-priority pod exists or when the
// pod does not fit even with all of them gone.
func SelectVictimsOnNode(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) ([]*framework.PodInfo, *framework.Status) {
	prio := pod.Priority()
	var potential []*framework.PodInfo
	for _, p := range append([]*framework.PodInfo(nil), ni.Pods...) {
		if p.Priority() >= prio {
			continue
		}
		potential = append(potential, p)
		if err := ni.RemovePod(p.Pod); err != nil {
			return nil, framework.AsStatus(err)
		}
		if s := fwk.RunPreFilterExtensionRemovePod(ctx, state, pod, p, ni); !s.IsSuccess() {
			return nil, s
		}
	}
	if len(potential) == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, MsgNoVictims)
	}
	if s, _ := fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); !s.IsSuccess() {
		return nil, s
	}
	// Put back the most important first: the victims are what is left.
	sort.SliceStable(potential, func(i, j int) bool { return MoreImportant(potential[i].Pod, potential[j].Pod) })
	var victims []*framework.PodInfo
	for _, p := range potential {
		ni.AddPodInfo(p)
		if s := fwk.RunPreFilterExtensionAddPod(ctx, state, pod, p, ni); !s.IsSuccess() {
			return nil, s
		}
		if s, _ := fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); s.IsSuccess() {
			continue
		}
		if err := ni.RemovePod(p.Pod); err != nil {
			return nil, framework.AsStatus(err)
		}
		if s := fwk.RunPreFilterExtensionRemovePod(ctx, state, pod, p, ni); !s.IsSuccess() {
			return nil, s
		}
		victims = append(victims, p)
	}
	if len(victims) == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, MsgNoVictims)
	}
	return victims, nil
}

// MoreImportant orders pods by priority, then by start time (the longer
// running is more important); creation time stands in for a pod not
// started.
func MoreImportant(a, b *v1.Pod) bool {
	pa, pb := framework.PodPriority(a), framework.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return startTime(a).Before(startTime(b))
}

func startTime(p *v1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// PickOne chooses among candidates by Kubernetes' criteria, in order: the
// lowest highest-priority victim; the lowest sum of victim priorities; the
// fewest victims; the latest start among the highest-priority victims;
// the first.
func PickOne(cs []*Candidate) *Candidate {
	if len(cs) == 0 {
		return nil
	}
	keep := cs
	filter := func(score func(*Candidate) int64) {
		best := int64(math.MinInt64)
		var out []*Candidate
		for _, c := range keep {
			s := score(c)
			switch {
			case s > best:
				best, out = s, []*Candidate{c}
			case s == best:
				out = append(out, c)
			}
		}
		keep = out
	}
	filter(func(c *Candidate) int64 { return -int64(highestPriority(c)) })
	filter(func(c *Candidate) int64 {
		var sum int64
		for _, v := range c.Victims {
			// Offset so negative priorities still add up to less.
			sum += int64(v.Priority()) + math.MaxInt32 + 1
		}
		return -sum
	})
	filter(func(c *Candidate) int64 { return -int64(len(c.Victims)) })
	filter(func(c *Candidate) int64 { return earliestStartOfHighest(c).UnixNano() })
	return keep[0]
}

func highestPriority(c *Candidate) int32 {
	h := int32(math.MinInt32)
	for _, v := range c.Victims {
		h = max(h, v.Priority())
	}
	return h
}

func earliestStartOfHighest(c *Candidate) time.Time {
	h := highestPriority(c)
	var t time.Time
	for _, v := range c.Victims {
		if v.Priority() != h {
			continue
		}
		if st := startTime(v.Pod); t.IsZero() || st.Before(t) {
			t = st
		}
	}
	return t
}

// String is for logs.
func (c *Candidate) String() string {
	names := make([]string, len(c.Victims))
	for i, v := range c.Victims {
		names[i] = framework.PodKey(v.Pod)
	}
	return fmt.Sprintf("node %s, victims %v", c.Node, names)
}
