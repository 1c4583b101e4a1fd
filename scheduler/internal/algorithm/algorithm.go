// Package algorithm chooses a node for a pod: it runs the framework's
// filters over the snapshot's nodes until it has found enough feasible
// ones (all of them in small clusters, a sample in large ones, as
// Kubernetes' percentageOfNodesToScore), scores those, and picks the
// highest, breaking ties at random. It only decides; binding is the
// caller's business.
package algorithm

import (
	"context"
	"math/rand/v2"
	"sync/atomic"

	"coracle.dev/scheduler/internal/framework"
)

// Kubernetes' bounds on the adaptive sample size.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// Result is a decision.
type Result struct {
	// SuggestedHost is the chosen node.
	SuggestedHost string
	// EvaluatedNodes were run through the filters; FeasibleNodes passed.
	EvaluatedNodes int
	FeasibleNodes  int
}

// Algorithm holds what persists between decisions: where the next search
// starts (so successive pods look at different nodes first) and the
// random source for ties. Schedule is not safe for concurrent use; the
// scheduler calls it from its one scheduling goroutine.
type Algorithm struct {
	fwk *framework.Framework
	// percentage of nodes to find feasible before scoring; 0 is
	// Kubernetes' adaptive default.
	percentage int32
	rand       *rand.Rand

	nextStart int
	// scratch, reused between cycles
	statuses  []*framework.Status
	rejecters []string
	feasible  []*framework.NodeInfo
	totals    []int64
}

// New returns an algorithm over fwk. seed fixes the tie-breaking for
// tests; 0 picks a random seed.
func New(fwk *framework.Framework, percentageOfNodesToScore int32, seed uint64) *Algorithm {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Algorithm{fwk: fwk, percentage: percentageOfNodesToScore, rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// NumFeasibleNodesToFind is how many feasible nodes to find before
// scoring: every node below 100; else the configured percentage, or by
// default 50% less 1% per 125 nodes, at least 5%, and never under 100.
func NumFeasibleNodesToFind(percentage int32, numAllNodes int) int {
	if numAllNodes < minFeasibleNodesToFind || percentage >= 100 {
		return numAllNodes
	}
	if percentage <= 0 {
		percentage = 50 - int32(numAllNodes/125)
		if percentage < minFeasibleNodesPercentageToFind {
			percentage = minFeasibleNodesPercentageToFind
		}
	}
	n := numAllNodes * int(percentage) / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// Schedule chooses a node for pod, or returns a *framework.FitError
// saying why none fits (or another error when a plugin failed).
func (a *Algorithm) Schedule(ctx context.Context, state *framework.CycleState, pod *framework.PodInfo) (Result, error) {
	nodes := a.fwk.SnapshotSharedLister().List()
	if len(nodes) == 0 {
		return Result{}, &framework.FitError{Pod: pod.Pod, NumAllNodes: 0, Diagnosis: framework.Diagnosis{
			NodeToStatus: map[string]*framework.Status{}, UnschedulablePlugins: map[string]bool{}}}
	}
	feasible, diag, evaluated, err := a.findNodesThatFit(ctx, state, pod, nodes)
	if err != nil {
		return Result{}, err
	}
	if len(feasible) == 0 {
		return Result{}, &framework.FitError{Pod: pod.Pod, NumAllNodes: len(nodes), Diagnosis: diag}
	}
	res := Result{EvaluatedNodes: evaluated, FeasibleNodes: len(feasible)}
	if len(feasible) == 1 {
		res.SuggestedHost = feasible[0].Name
		return res, nil
	}
	host, err := a.prioritize(ctx, state, pod, feasible)
	if err != nil {
		return Result{}, err
	}
	res.SuggestedHost = host
	return res, nil
}

// findNodesThatFit runs PreFilter, then the filters: first on the pod's
// nominated node, if any (preemption made room there), then on the nodes
// in turn from where the last search stopped, in parallel, until enough
// are feasible.
func (a *Algorithm) findNodesThatFit(ctx context.Context, state *framework.CycleState, pod *framework.PodInfo, nodes []*framework.NodeInfo) ([]*framework.NodeInfo, framework.Diagnosis, int, error) {
	diag := framework.Diagnosis{NodeToStatus: map[string]*framework.Status{}, UnschedulablePlugins: map[string]bool{}}
	if s := a.fwk.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() {
		if !s.IsRejected() {
			return nil, diag, 0, s.AsError()
		}
		for _, ni := range nodes {
			diag.NodeToStatus[ni.Node().Name] = s
		}
		diag.PreFilterMsg = s.Message()
		diag.UnschedulablePlugins[s.Plugin()] = true
		return nil, diag, 0, nil
	}
	if nominated := pod.Pod.Status.NominatedNodeName; nominated != "" {
		if ni := a.fwk.SnapshotSharedLister().Get(nominated); ni != nil {
			if s, _ := a.fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); s.IsSuccess() {
				return []*framework.NodeInfo{ni}, diag, 1, nil
			} else if !s.IsRejected() {
				return nil, diag, 1, s.AsError()
			}
		}
	}

	// A PreFilter may know, from an index, that only some nodes can pass
	// (a nodeSelector): visit those alone; the rest fail with its status.
	all := nodes
	cands, reject, rejectBy, restricted := state.Candidates()
	if restricted {
		nodes = cands
	}
	want := NumFeasibleNodesToFind(a.percentage, len(all))
	n := len(nodes)
	if n == 0 {
		a.absentNodes(&diag, all, nil, reject, rejectBy)
		return nil, diag, 0, nil
	}
	want = min(want, n)
	if cap(a.statuses) < n {
		a.statuses = make([]*framework.Status, n)
		a.rejecters = make([]string, n)
	}
	statuses, rejecters := a.statuses[:n], a.rejecters[:n]
	clear(statuses)
	if cap(a.feasible) < want {
		a.feasible = make([]*framework.NodeInfo, want)
	}
	feasible := a.feasible[:want]

	var found, rejected, failed atomic.Int64
	var stop atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := a.nextStart % n
	a.fwk.Parallelizer().Until(ctx, n, func(i int) {
		if stop.Load() {
			return
		}
		ni := nodes[(start+i)%n]
		s, plugin := a.fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
		if s.IsSuccess() {
			if k := found.Add(1); k > int64(want) {
				found.Add(-1)
				stop.Store(true)
				cancel()
			} else {
				feasible[k-1] = ni
				if k == int64(want) {
					stop.Store(true)
					cancel()
				}
			}
			return
		}
		statuses[i], rejecters[i] = s, plugin
		rejected.Add(1)
		if !s.IsRejected() {
			failed.Add(1)
		}
	})
	processed := int(found.Load() + rejected.Load())
	a.nextStart = (start + processed) % n

	if failed.Load() > 0 {
		for _, s := range statuses {
			if s != nil && !s.IsRejected() {
				return nil, diag, processed, s.AsError()
			}
		}
	}
	if found.Load() > 0 {
		// The reasons of rejected nodes only matter when no node fits.
		return feasible[:found.Load()], diag, processed, nil
	}
	for i, s := range statuses {
		if s != nil {
			diag.NodeToStatus[nodes[(start+i)%n].Name] = s
			diag.UnschedulablePlugins[rejecters[i]] = true
		}
	}
	if restricted {
		a.absentNodes(&diag, all, nodes, reject, rejectBy)
	}
	// The scratch slice itself: the caller is done with it before the
	// next cycle reuses it.
	return feasible[:found.Load()], diag, processed, nil
}

// absentNodes records reject for every node of all that is not in visited
// (the candidates a PreFilter restricted the search to).
func (a *Algorithm) absentNodes(diag *framework.Diagnosis, all, visited []*framework.NodeInfo, reject *framework.Status, by string) {
	in := make(map[*framework.NodeInfo]bool, len(visited))
	for _, ni := range visited {
		in[ni] = true
	}
	for _, ni := range all {
		if !in[ni] {
			diag.NodeToStatus[ni.Name] = reject
		}
	}
	if len(all) > len(visited) {
		diag.UnschedulablePlugins[by] = true
	}
}

// prioritize scores the feasible nodes and picks the best, choosing at
// random (uniformly, by reservoir sampling) among equals so that equal
// nodes share the load.
func (a *Algorithm) prioritize(ctx context.Context, state *framework.CycleState, pod *framework.PodInfo, feasible []*framework.NodeInfo) (string, error) {
	if cap(a.totals) < len(feasible) {
		a.totals = make([]int64, len(feasible))
	}
	totals := a.totals[:len(feasible)]
	if a.fwk.HasScorePlugins() {
		if s := a.fwk.RunPreScorePlugins(ctx, state, pod, feasible); !s.IsSuccess() {
			return "", s.AsError()
		}
		if s := a.fwk.RunScorePlugins(ctx, state, pod, feasible, totals); !s.IsSuccess() {
			return "", s.AsError()
		}
	} else {
		clear(totals)
	}
	best, ties := 0, 1
	for i := 1; i < len(totals); i++ {
		switch {
		case totals[i] > totals[best]:
			best, ties = i, 1
		case totals[i] == totals[best]:
			ties++
			if a.rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return feasible[best].Name, nil
}
