package framework

import (
	"context"
	"fmt"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/scheduler/internal/parallelize"
)

// PluginConfig enables one plugin in a profile. Weight applies to its
// Score, if it has one; 0 means 1.
type PluginConfig struct {
	Name   string
	Weight int64
}

// Options build a Framework.
type Options struct {
	// Plugins are the enabled plugins; Filters run in this order and a
	// node's first rejection is the reason recorded for it, as in
	// Kubernetes.
	Plugins   []PluginConfig
	Snapshot  SharedLister
	Listers   Listers
	Nominator PodNominator
	// Client and InformerFactory are what plugins that talk to the API
	// use (Handle.ClientSet, Handle.SharedInformerFactory); nil in tests.
	Client          kubernetes.Interface
	InformerFactory informers.SharedInformerFactory
	// Parallelism bounds the goroutines used over nodes; 0 means 1.
	Parallelism int
}

// Framework runs a profile's plugins at each extension point.
type Framework struct {
	snapshot    SharedLister
	listers     Listers
	nominator   PodNominator
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	parallel    parallelize.Parallelizer
	plugins     []Plugin
	preFilter   []PreFilterPlugin
	filter      []FilterPlugin
	preScore    []PreScorePlugin
	score       []ScorePlugin
	reserve     []ReservePlugin
	preBind     []PreBindPlugin
	scoreWeight []int64
	events      map[string][]ClusterEvent
	// scores is RunScorePlugins' scratch, one row per Score plugin,
	// reused between cycles: the scheduling goroutine is its only user.
	scores [][]NodeScore
}

var _ Handle = &Framework{}

// New builds the plugins named in opts from the registry.
func New(reg *Registry, opts Options) (*Framework, error) {
	f := &Framework{
		snapshot: opts.Snapshot, listers: opts.Listers, nominator: opts.Nominator,
		client: opts.Client, factory: opts.InformerFactory,
		parallel: parallelize.New(opts.Parallelism), events: map[string][]ClusterEvent{},
	}
	seen := map[string]bool{}
	for _, pc := range opts.Plugins {
		if seen[pc.Name] {
			return nil, fmt.Errorf("profile: plugin %q enabled twice", pc.Name)
		}
		seen[pc.Name] = true
		factory, ok := reg.Get(pc.Name)
		if !ok {
			return nil, fmt.Errorf("profile: plugin %q is not registered (have %v)", pc.Name, reg.Names())
		}
		p, err := factory(f)
		if err != nil {
			return nil, fmt.Errorf("build plugin %q: %w", pc.Name, err)
		}
		if p.Name() != pc.Name {
			return nil, fmt.Errorf("plugin registered as %q calls itself %q", pc.Name, p.Name())
		}
		f.plugins = append(f.plugins, p)
		if pl, ok := p.(PreFilterPlugin); ok {
			f.preFilter = append(f.preFilter, pl)
		}
		if pl, ok := p.(FilterPlugin); ok {
			f.filter = append(f.filter, pl)
		}
		if pl, ok := p.(PreScorePlugin); ok {
			f.preScore = append(f.preScore, pl)
		}
		if pl, ok := p.(ScorePlugin); ok {
			w := pc.Weight
			if w == 0 {
				w = 1
			}
			if w < 0 {
				return nil, fmt.Errorf("plugin %q: negative score weight %d", pc.Name, w)
			}
			f.score = append(f.score, pl)
			f.scoreWeight = append(f.scoreWeight, w)
		}
		if pl, ok := p.(ReservePlugin); ok {
			f.reserve = append(f.reserve, pl)
		}
		if pl, ok := p.(PreBindPlugin); ok {
			f.preBind = append(f.preBind, pl)
		}
		if pl, ok := p.(EnqueueExtensions); ok {
			f.events[p.Name()] = pl.EventsToRegister()
		}
	}
	return f, nil
}

// SnapshotSharedLister implements Handle.
func (f *Framework) SnapshotSharedLister() SharedLister { return f.snapshot }

// Listers implements Handle.
func (f *Framework) Listers() Listers { return f.listers }

// PodNominator implements Handle.
func (f *Framework) PodNominator() PodNominator { return f.nominator }

// ClientSet implements Handle.
func (f *Framework) ClientSet() kubernetes.Interface { return f.client }

// SharedInformerFactory implements Handle.
func (f *Framework) SharedInformerFactory() informers.SharedInformerFactory { return f.factory }

// Parallelizer implements Handle.
func (f *Framework) Parallelizer() parallelize.Parallelizer { return f.parallel }

// ClusterEventsByPlugin maps each plugin that can reject a pod to the
// events after which such a pod may fit.
func (f *Framework) ClusterEventsByPlugin() map[string][]ClusterEvent { return f.events }

// HasScorePlugins reports whether any plugin scores nodes.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// RunPreFilterPlugins runs every PreFilter. A rejection rejects the pod on
// every node; it is returned with the plugin's name.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *PodInfo) *Status {
	if pod.ParseError != nil {
		return NewStatus(UnschedulableAndUnresolvable, pod.ParseError.Error()).WithPlugin("PodInfo")
	}
	nodes := f.snapshot.List()
	for _, pl := range f.preFilter {
		s := pl.PreFilter(ctx, state, pod, nodes)
		switch {
		case s.IsSuccess():
		case s.IsSkip():
			state.skipFilter[pl.Name()] = true
		case s.Code() == Error:
			return AsStatus(fmt.Errorf("prefilter %s: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		default:
			return s.WithPlugin(pl.Name())
		}
	}
	state.filters = make([]int, 0, len(f.filter))
	for i, pl := range f.filter {
		if !state.skipFilter[pl.Name()] {
			state.filters = append(state.filters, i)
		}
	}
	return nil
}

// RunPreFilterExtensionAddPod tells every PreFilter that keeps state that
// podToAdd now runs on node.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, pod, podToAdd *PodInfo, node *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		ext, ok := pl.(PreFilterExtensions)
		if !ok || state.skipFilter[pl.Name()] {
			continue
		}
		if s := ext.AddPod(ctx, state, pod, podToAdd, node); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("prefilter %s add pod: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod tells every PreFilter that keeps state
// that podToRemove no longer runs on node.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, pod, podToRemove *PodInfo, node *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		ext, ok := pl.(PreFilterExtensions)
		if !ok || state.skipFilter[pl.Name()] {
			continue
		}
		if s := ext.RemovePod(ctx, state, pod, podToRemove, node); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("prefilter %s remove pod: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunFilterPlugins runs the Filters in order on one node and returns the
// first rejection and the name of the plugin that made it, or nil. This
// is the scheduler's innermost loop: it allocates nothing on success or
// on a rejection with a fixed reason.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (*Status, string) {
	if state.filters == nil {
		for _, pl := range f.filter {
			if s, name := f.runFilter(ctx, pl, state, pod, node); s != nil {
				return s, name
			}
		}
		return nil, ""
	}
	for _, i := range state.filters {
		if s, name := f.runFilter(ctx, f.filter[i], state, pod, node); s != nil {
			return s, name
		}
	}
	return nil, ""
}

func (f *Framework) runFilter(ctx context.Context, pl FilterPlugin, state *CycleState, pod *PodInfo, node *NodeInfo) (*Status, string) {
	s := pl.Filter(ctx, state, pod, node)
	if s.IsSuccess() {
		return nil, ""
	}
	if !s.IsRejected() {
		s = AsStatus(fmt.Errorf("filter %s on node %s: %w", pl.Name(), nodeName(node), s.AsError()))
	}
	return s, pl.Name()
}

// RunFilterPluginsWithNominatedPods runs the Filters on node as it will be
// once the pods nominated to it (by preemption) with at least pod's
// priority arrive, so that a lower-priority pod does not take the room
// preemption made. As in Kubernetes, the filters run twice when such pods
// exist: with them (for resources, ports, anti-affinity) and without them
// (so that affinity to a pod not yet there does not count).
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (*Status, string) {
	if f.nominator == nil || f.nominator.Empty() || node.Node() == nil {
		return f.RunFilterPlugins(ctx, state, pod, node)
	}
	nominated := f.nominator.NominatedPodsForNode(node.Node().Name)
	if len(nominated) == 0 {
		return f.RunFilterPlugins(ctx, state, pod, node)
	}
	withNominated, stateWith := node, state
	added := false
	for _, np := range nominated {
		if np.Pod.UID == pod.Pod.UID || np.Priority() < pod.Priority() {
			continue
		}
		if !added {
			withNominated, stateWith = node.Clone(), state.Clone()
			added = true
		}
		withNominated.AddPodInfo(np)
		if s := f.RunPreFilterExtensionAddPod(ctx, stateWith, pod, np, withNominated); !s.IsSuccess() {
			return s, s.Plugin()
		}
	}
	if !added {
		return f.RunFilterPlugins(ctx, state, pod, node)
	}
	if s, name := f.RunFilterPlugins(ctx, stateWith, pod, withNominated); s != nil {
		return s, name
	}
	return f.RunFilterPlugins(ctx, state, pod, node)
}

// RunPreScorePlugins runs every PreScore on the feasible nodes.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status {
	for _, pl := range f.preScore {
		s := pl.PreScore(ctx, state, pod, nodes)
		switch {
		case s.IsSuccess():
		case s.IsSkip():
			state.skipScore[pl.Name()] = true
		default:
			return AsStatus(fmt.Errorf("prescore %s: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunScorePlugins scores every node with every Score plugin, normalises,
// weighs and sums, into totals (indexed like nodes, overwritten). Plugins
// run per node in parallel. It reuses buffers between calls, so it must
// not be called concurrently (the scheduling goroutine calls it).
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo, totals []int64) *Status {
	active := make([]int, 0, len(f.score))
	for i, pl := range f.score {
		if !state.skipScore[pl.Name()] {
			active = append(active, i)
		}
	}
	for i := range nodes {
		totals[i] = 0
	}
	if len(active) == 0 {
		return nil
	}
	for len(f.scores) < len(active) {
		f.scores = append(f.scores, nil)
	}
	scores := f.scores[:len(active)]
	for k := range scores {
		if cap(scores[k]) < len(nodes) {
			scores[k] = make([]NodeScore, len(nodes))
		}
		scores[k] = scores[k][:len(nodes)]
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var errOnce onceError
	f.parallel.Until(ctx, len(nodes), func(n int) {
		name := nodes[n].Name
		for k, i := range active {
			v, s := f.score[i].Score(ctx, state, pod, nodes[n])
			if !s.IsSuccess() {
				errOnce.set(fmt.Errorf("score %s on node %s: %w", f.score[i].Name(), name, s.AsError()))
				cancel()
				return
			}
			scores[k][n] = NodeScore{Name: name, Score: v}
		}
	})
	if err := errOnce.get(); err != nil {
		return AsStatus(err)
	}
	for k, i := range active {
		pl := f.score[i]
		if nz, ok := pl.(ScoreNormalizer); ok {
			if s := nz.NormalizeScore(ctx, state, pod, scores[k]); !s.IsSuccess() {
				return AsStatus(fmt.Errorf("normalize score %s: %w", pl.Name(), s.AsError()))
			}
		}
		w := f.scoreWeight[i]
		for n := range nodes {
			v := scores[k][n].Score
			if v < MinNodeScore || v > MaxNodeScore {
				return AsStatus(fmt.Errorf("plugin %s scored node %s %d, outside [%d, %d]", pl.Name(), scores[k][n].Name, v, MinNodeScore, MaxNodeScore))
			}
			totals[n] += v * w
		}
	}
	return nil
}

// RunReservePluginsReserve runs every Reserve for the node chosen for pod,
// stopping at the first failure, which it returns; the caller must then
// call RunReservePluginsUnreserve, which undoes the Reserves that ran.
func (f *Framework) RunReservePluginsReserve(ctx context.Context, state *CycleState, pod *PodInfo, nodeName string) *Status {
	for _, pl := range f.reserve {
		s := pl.Reserve(ctx, state, pod, nodeName)
		if s.IsSuccess() {
			continue
		}
		if s.IsRejected() {
			return s.WithPlugin(pl.Name())
		}
		return AsStatus(fmt.Errorf("running Reserve plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
	}
	return nil
}

// RunReservePluginsUnreserve runs every Unreserve, in the reverse order of
// the Reserves, after a Reserve or a step of the binding cycle failed.
func (f *Framework) RunReservePluginsUnreserve(ctx context.Context, state *CycleState, pod *PodInfo, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// RunPreBindPlugins runs every PreBind before pod is bound to nodeName,
// stopping at the first failure, which it returns.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *CycleState, pod *PodInfo, nodeName string) *Status {
	for _, pl := range f.preBind {
		s := pl.PreBind(ctx, state, pod, nodeName)
		if s.IsSuccess() {
			continue
		}
		if s.IsRejected() {
			return s.WithPlugin(pl.Name())
		}
		return AsStatus(fmt.Errorf("running PreBind plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
	}
	return nil
}

func nodeName(n *NodeInfo) string {
	if n.Node() == nil {
		return "<nil>"
	}
	return n.Name
}
