// Package tainttoleration keeps pods off nodes with NoSchedule or
// NoExecute taints they do not tolerate — including the not-ready and
// unreachable taints a node's Ready condition implies — and prefers nodes
// with fewer untolerated PreferNoSchedule taints.
package tainttoleration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "TaintToleration"

const preScoreKey framework.StateKey = "PreScore" + Name

// TaintToleration is the plugin.
type TaintToleration struct {
	// statuses caches the rejection for each taint: the filter runs on
	// thousands of nodes per pod, and most tainted nodes share a taint.
	// The map is never changed once published; a new taint publishes a
	// copy (mu serialises writers), so readers take no lock.
	statuses atomic.Pointer[map[taintID]*framework.Status]
	mu       sync.Mutex // serialises publishing statuses
}

type taintID struct{ key, value string }

var (
	_ framework.FilterPlugin      = &TaintToleration{}
	_ framework.PreScorePlugin    = &TaintToleration{}
	_ framework.ScorePlugin       = &TaintToleration{}
	_ framework.ScoreNormalizer   = &TaintToleration{}
	_ framework.EnqueueExtensions = &TaintToleration{}
)

// New builds the plugin.
func New(framework.Handle) (framework.Plugin, error) {
	pl := &TaintToleration{}
	pl.statuses.Store(&map[taintID]*framework.Status{})
	return pl, nil
}

// Name implements framework.Plugin.
func (*TaintToleration) Name() string { return Name }

func noScheduleOrNoExecute(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// Filter rejects a node with a NoSchedule or NoExecute taint the pod does
// not tolerate, naming the first such taint as Kubernetes does.
func (pl *TaintToleration) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if len(ni.Taints) == 0 {
		return nil
	}
	taint, found := framework.FindUntoleratedTaint(ni.Taints, pod.Pod.Spec.Tolerations, noScheduleOrNoExecute)
	if !found {
		return nil
	}
	return pl.untolerated(taint)
}

func (pl *TaintToleration) untolerated(t v1.Taint) *framework.Status {
	id := taintID{t.Key, t.Value}
	if s, ok := (*pl.statuses.Load())[id]; ok {
		return s
	}
	s := framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
	pl.mu.Lock()
	defer pl.mu.Unlock()
	old := *pl.statuses.Load()
	next := make(map[taintID]*framework.Status, len(old)+1)
	if len(old) < 1024 { // bounded against churning taint values
		for k, v := range old {
			next[k] = v
		}
	}
	next[id] = s
	pl.statuses.Store(&next)
	return s
}

type preScoreState []v1.Toleration

func (s preScoreState) Clone() framework.StateData { return s }

// PreScore keeps the tolerations that can tolerate PreferNoSchedule.
func (*TaintToleration) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	var tols []v1.Toleration
	for _, t := range pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	state.Write(preScoreKey, preScoreState(tols))
	return nil
}

// Score counts the untolerated PreferNoSchedule taints (fewer is better;
// NormalizeScore reverses).
func (*TaintToleration) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	if len(ni.Taints) == 0 {
		return 0, nil
	}
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	tols := d.(preScoreState)
	var n int64
	for i := range ni.Taints {
		t := &ni.Taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule && !framework.TolerationsTolerateTaint(tols, t) {
			n++
		}
	}
	return n, nil
}

// NormalizeScore gives MaxNodeScore to nodes with the fewest such taints.
func (*TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxNodeScore, true, scores)
	return nil
}

// EventsToRegister: a new node, a taint removed, or a node become ready.
func (*TaintToleration) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeCondition}}
}
