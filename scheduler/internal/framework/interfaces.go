package framework

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"coracle.dev/scheduler/internal/parallelize"
)

// MaxNodeScore is the highest score a Score plugin's normalised score may
// take; MinNodeScore the lowest.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// Plugin is anything the framework runs. Name is unique in a registry.
type Plugin interface {
	Name() string
}

// PreFilterPlugin runs once per scheduling cycle before any Filter. It may
// compute state for Filter (stored in the CycleState), reject the pod for
// every node at once, or return Skip when it has nothing to check for this
// pod, in which case its Filter is not called.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status
}

// PreFilterExtensions is implemented by PreFilter plugins whose state
// depends on pods other than the one being scheduled (inter-pod affinity,
// topology spread). Preemption calls AddPod and RemovePod to keep that
// state right while it tries removing pods from a node, and the framework
// calls AddPod for pods nominated to a node. Both change only state.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *PodInfo, podToAdd *PodInfo, node *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *PodInfo, podToRemove *PodInfo, node *NodeInfo) *Status
}

// FilterPlugin decides whether the pod can run on one node. It returns nil
// (Success), Unschedulable or UnschedulableAndUnresolvable with the
// reasons people will read in the pod's events, or Error. Filter is called
// concurrently for different nodes: it must only read state and node.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// PreScorePlugin runs once per cycle before Score, with the nodes that
// passed the filters; Skip means its Score is not called.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks a feasible node. Score is called concurrently for
// different nodes. Without a ScoreNormalizer, scores must lie in
// [MinNodeScore, MaxNodeScore].
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status)
}

// ScoreNormalizer is implemented by Score plugins whose raw scores need
// rescaling into [MinNodeScore, MaxNodeScore] once all nodes are scored.
type ScoreNormalizer interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *PodInfo, scores []NodeScore) *Status
}

// NodeScore is one node's score from one plugin.
type NodeScore struct {
	Name  string
	Score int64
}

// ReservePlugin is told which node was chosen for the pod, before the
// binding cycle starts, so that it can set aside what the pod will use
// there (volumes chosen for its claims) and the next pod's cycle does not
// pick it again. Reserve runs on the scheduling goroutine. If any Reserve
// fails, or a later step of the pod's binding fails, Unreserve is called
// on every ReservePlugin, in reverse order, to undo it: Unreserve must be
// idempotent and must tolerate a Reserve that never ran or that failed.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *PodInfo, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *PodInfo, nodeName string)
}

// PreBindPlugin runs in the binding cycle, before the pod is bound, and may
// write to the API and wait for others to act (volume binding). It runs on
// the binding goroutine, concurrently with other pods' scheduling cycles,
// so it must only read what its own Reserve put in the state. A failure
// un-reserves the pod and sends it back to the queue.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *PodInfo, nodeName string) *Status
}

// EnqueueExtensions is implemented by plugins that can reject a pod: it
// names the cluster events after which a pod it rejected may fit, so the
// queue retries the pod then and not before.
type EnqueueExtensions interface {
	EventsToRegister() []ClusterEvent
}

// SharedLister gives plugins the snapshot of the cluster the current cycle
// works on.
type SharedLister interface {
	// List is every node, in the order nodes are evaluated.
	List() []*NodeInfo
	// HavePodsWithAffinityList are the nodes with a pod that has a term
	// weighing on other pods' scores (PodInfo.HasScoringAffinity).
	HavePodsWithAffinityList() []*NodeInfo
	// HavePodsWithRequiredAntiAffinityList are the nodes with a pod that
	// has a required anti-affinity term.
	HavePodsWithRequiredAntiAffinityList() []*NodeInfo
	// Get is the node named name, or nil.
	Get(name string) *NodeInfo
	// ImageNodeCount is how many nodes hold the (normalised) image.
	ImageNodeCount(image string) int
	// NodesWithLabel are the nodes labelled key=value, in List order.
	NodesWithLabel(key, value string) []*NodeInfo
	// ForEachPodMatching calls fn for every pod, in any namespace, whose
	// labels sel matches, with its node; an index on labels makes this
	// cost the number of candidate pods, not of all pods.
	ForEachPodMatching(sel labels.Selector, fn func(*PodInfo, *NodeInfo))
	// ForEachExistingAntiAffinityTerm calls fn for every distinct required
	// anti-affinity term of existing pods that selects pod (whose
	// namespace has nsLabels), once per node holding pods with that term,
	// with how many such pods the node holds.
	ForEachExistingAntiAffinityTerm(pod *v1.Pod, nsLabels labels.Set, fn func(t *AffinityTerm, node *NodeInfo, count int))
}

// Listers are the informer caches some plugins read. Any may be nil in
// tests; plugins then behave as if the objects did not exist.
type Listers struct {
	Namespaces   corelisters.NamespaceLister
	Services     corelisters.ServiceLister
	ReplicaSets  appslisters.ReplicaSetLister
	StatefulSets appslisters.StatefulSetLister
}

// Handle is what the framework gives plugins when it builds them.
type Handle interface {
	// SnapshotSharedLister is the snapshot the current cycle works on; the
	// same object for the framework's lifetime, updated between cycles.
	SnapshotSharedLister() SharedLister
	Listers() Listers
	// Parallelizer runs a plugin's work over all nodes.
	Parallelizer() parallelize.Parallelizer
	// PodNominator knows the pods preemption nominated; may be nil.
	PodNominator() PodNominator
	// ClientSet is the scheduler's API client, for the plugins that
	// write in PreBind; nil in tests of pure filtering.
	ClientSet() kubernetes.Interface
	// SharedInformerFactory is the scheduler's informer factory: a
	// plugin that needs a kind the Listers do not carry asks it for the
	// informer in its factory, before the scheduler starts the factory
	// and waits for it to sync. Nil in tests of pure filtering.
	SharedInformerFactory() informers.SharedInformerFactory
}

// PodNominator knows which pods have been promised a node by preemption
// and are waiting for victims to leave. Filters count them on their node so
// lower-priority pods do not take the room back.
type PodNominator interface {
	// NominatedPodsForNode lists the pods nominated to the node.
	NominatedPodsForNode(nodeName string) []*PodInfo
	// Empty reports cheaply that no pod is nominated anywhere, the common
	// case, so the filters need not ask per node.
	Empty() bool
}

// NamespaceLabels returns the labels of namespace ns from the listers, or
// nil when unknown.
func (l Listers) NamespaceLabels(ns string) map[string]string {
	if l.Namespaces == nil {
		return nil
	}
	n, err := l.Namespaces.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

// PodKey is namespace/name.
func PodKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }
