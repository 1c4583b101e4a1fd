// Package balancedallocation prefers nodes whose cpu and memory would be
// used in similar proportions once the pod is placed, so that neither is
// exhausted while the other sits idle.
package balancedallocation

import (
	"context"
	"math"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "NodeResourcesBalancedAllocation"

// BalancedAllocation is the plugin.
type BalancedAllocation struct{}

var (
	_ framework.PreScorePlugin = &BalancedAllocation{}
	_ framework.ScorePlugin    = &BalancedAllocation{}
)

// New builds the plugin.
func New(framework.Handle) (framework.Plugin, error) { return &BalancedAllocation{}, nil }

// Name implements framework.Plugin.
func (*BalancedAllocation) Name() string { return Name }

// PreScore skips pods that request neither cpu nor memory: they change no
// node's balance.
func (*BalancedAllocation) PreScore(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	if pod.Requests.MilliCPU == 0 && pod.Requests.Memory == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score is (1 - the standard deviation of the cpu and memory fractions
// requested) × 100; with two resources the deviation is half their
// difference. Fractions are capped at 1.
func (*BalancedAllocation) Score(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	cpuAlloc, memAlloc := ni.Allocatable.MilliCPU, ni.Allocatable.Memory
	if cpuAlloc == 0 || memAlloc == 0 {
		// One resource or none: no spread to measure.
		return framework.MaxNodeScore, nil
	}
	cpu := min(float64(ni.Requested.MilliCPU+pod.Requests.MilliCPU)/float64(cpuAlloc), 1)
	mem := min(float64(ni.Requested.Memory+pod.Requests.Memory)/float64(memAlloc), 1)
	std := math.Abs(cpu-mem) / 2
	return int64((1 - std) * float64(framework.MaxNodeScore)), nil
}
