// Package plugins registers the in-tree plugins by name and defines the
// default profile: which plugins run, in what order, with which score
// weights — Kubernetes' defaults.
package plugins

import (
	"coracle.dev/scheduler/internal/framework"
	"coracle.dev/scheduler/internal/plugins/balancedallocation"
	"coracle.dev/scheduler/internal/plugins/imagelocality"
	"coracle.dev/scheduler/internal/plugins/interpodaffinity"
	"coracle.dev/scheduler/internal/plugins/nodeaffinity"
	"coracle.dev/scheduler/internal/plugins/nodename"
	"coracle.dev/scheduler/internal/plugins/nodeports"
	"coracle.dev/scheduler/internal/plugins/noderesourcesfit"
	"coracle.dev/scheduler/internal/plugins/nodeunschedulable"
	"coracle.dev/scheduler/internal/plugins/podtopologyspread"
	"coracle.dev/scheduler/internal/plugins/tainttoleration"
	"coracle.dev/scheduler/internal/plugins/volumebinding"
)

// Args are the arguments of the plugins that take some (Kubernetes'
// pluginConfig); zero values are the plugins' defaults.
type Args struct {
	VolumeBinding volumebinding.Args
}

// NewRegistry registers every in-tree plugin with its default arguments.
func NewRegistry() (*framework.Registry, error) { return NewRegistryWithArgs(Args{}) }

// NewRegistryWithArgs registers every in-tree plugin, built with args.
func NewRegistryWithArgs(args Args) (*framework.Registry, error) {
	r := framework.NewRegistry()
	for _, e := range []struct {
		name string
		f    framework.PluginFactory
	}{
		{nodeunschedulable.Name, nodeunschedulable.New},
		{nodename.Name, nodename.New},
		{tainttoleration.Name, tainttoleration.New},
		{nodeaffinity.Name, nodeaffinity.New},
		{nodeports.Name, nodeports.New},
		{noderesourcesfit.Name, noderesourcesfit.New},
		{volumebinding.Name, volumebinding.NewWithArgs(args.VolumeBinding)},
		{podtopologyspread.Name, podtopologyspread.New},
		{interpodaffinity.Name, interpodaffinity.New},
		{balancedallocation.Name, balancedallocation.New},
		{imagelocality.Name, imagelocality.New},
	} {
		if err := r.Register(e.name, e.f); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// DefaultProfile is Kubernetes' default plugin set and order: the cheap,
// unresolvable filters first, so that a node's recorded reason is the
// most fundamental one, VolumeBinding after the resource fit as in
// Kubernetes' filter order; score weights as in kube-scheduler's v1 config
// (TaintToleration 3, NodeAffinity 2, PodTopologySpread 2,
// InterPodAffinity 2, the rest 1).
func DefaultProfile() []framework.PluginConfig {
	return []framework.PluginConfig{
		{Name: nodeunschedulable.Name},
		{Name: nodename.Name},
		{Name: tainttoleration.Name, Weight: 3},
		{Name: nodeaffinity.Name, Weight: 2},
		{Name: nodeports.Name},
		{Name: noderesourcesfit.Name, Weight: 1},
		{Name: volumebinding.Name},
		{Name: podtopologyspread.Name, Weight: 2},
		{Name: interpodaffinity.Name, Weight: 2},
		{Name: balancedallocation.Name, Weight: 1},
		{Name: imagelocality.Name, Weight: 1},
	}
}
