// Package volumebinding places pods that use PersistentVolumeClaims where
// their volumes are, and binds the claims that wait for their first
// consumer (WaitForFirstConsumer classes) to volumes on the chosen node,
// as Kubernetes' VolumeBinding plugin does:
//
//	PreFilter  every claim must exist, not be lost or deleting; claims
//	           of Immediate classes must be bound already (by the PV
//	           controller); the rest are sorted into bound and delayed.
//	Filter     a bound claim's volume must admit the node (nodeAffinity);
//	           a delayed claim needs an available matching volume the
//	           node can reach, else a class that can provision there
//	           (allowedTopologies).
//	Reserve    the chosen volumes are pre-bound, and the claims to
//	           provision given the node, in an in-memory overlay of the
//	           informers, so the next pod does not take the same volume.
//	PreBind    those decisions are written (the volume's claimRef; the
//	           claim's volume.kubernetes.io/selected-node annotation, which
//	           the provisioner acts on), then the pod waits until the PV
//	           controller has bound every claim, up to bindTimeoutSeconds.
//	Unreserve  the overlay forgets the decisions of a pod that failed.
//
// A pod it rejects is retried when a claim, volume or class is added or
// changes, or a node is added or relabelled.
package volumebinding

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/storage/ephemeral"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "VolumeBinding"

// DefaultBindTimeoutSeconds is Kubernetes' default for how long PreBind
// waits for a pod's claims to be bound.
const DefaultBindTimeoutSeconds = 600

// Args are the plugin's arguments, as Kubernetes' VolumeBindingArgs.
type Args struct {
	// BindTimeoutSeconds bounds PreBind's wait for the claims to be bound
	// (and provisioned); the pod is then scheduled again. 0 means
	// DefaultBindTimeoutSeconds.
	BindTimeoutSeconds int64
}

// ErrReasonUnboundImmediate is PreFilter's reason when an Immediate claim
// is not bound yet.
const ErrReasonUnboundImmediate = "pod has unbound immediate PersistentVolumeClaims"

const stateKey framework.StateKey = "PreFilter" + Name

// stateData is one cycle's decisions. PreFilter writes the claims; Filter,
// on many nodes at once, adds each feasible node's PodVolumes (under mu);
// Reserve and PreBind read the chosen node's. Clone shares it, as in
// Kubernetes: preemption's copies of the state must see the same
// decisions.
type stateData struct {
	claims *PodVolumeClaims
	// allBound is set by Reserve: nothing for PreBind to do.
	allBound bool

	mu sync.Mutex // guards podVolumesByNode while Filter runs
	// podVolumesByNode are the feasible nodes' volume decisions.
	podVolumesByNode map[string]*PodVolumes
}

func (d *stateData) Clone() framework.StateData { return d }

func (d *stateData) podVolumes(node string) (*PodVolumes, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pv, ok := d.podVolumesByNode[node]
	return pv, ok
}

// VolumeBinding is the plugin.
type VolumeBinding struct {
	binder    *binder
	pvcLister corelisters.PersistentVolumeClaimLister
}

var (
	_ framework.PreFilterPlugin   = &VolumeBinding{}
	_ framework.FilterPlugin      = &VolumeBinding{}
	_ framework.ReservePlugin     = &VolumeBinding{}
	_ framework.PreBindPlugin     = &VolumeBinding{}
	_ framework.EnqueueExtensions = &VolumeBinding{}
)

// New builds the plugin with the default arguments.
func New(h framework.Handle) (framework.Plugin, error) { return NewWithArgs(Args{})(h) }

// NewWithArgs returns the plugin's factory for args.
//
// The plugin reads claims, volumes, classes, nodes and pods from the
// handle's informer factory (asking for those informers is what makes the
// scheduler start and sync them). Without a factory, as in tests of other
// plugins, it sees no objects: pods without claims schedule as usual and
// pods with claims are unschedulable, their claims not found.
func NewWithArgs(args Args) framework.PluginFactory {
	return func(h framework.Handle) (framework.Plugin, error) {
		if args.BindTimeoutSeconds < 0 {
			return nil, fmt.Errorf("%s: bindTimeoutSeconds %d: must not be negative", Name, args.BindTimeoutSeconds)
		}
		timeout := args.BindTimeoutSeconds
		if timeout == 0 {
			timeout = DefaultBindTimeoutSeconds
		}
		s, err := informerStores(h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", Name, err)
		}
		b := newBinder(h.ClientSet(), s.stores, time.Duration(timeout)*time.Second)
		if s.pvcInformer != nil {
			if _, err := s.pvcInformer.AddEventHandler(b.pvcCache.handler()); err != nil {
				return nil, fmt.Errorf("%s: %w", Name, err)
			}
			if _, err := s.pvInformer.AddEventHandler(b.pvCache.handler()); err != nil {
				return nil, fmt.Errorf("%s: %w", Name, err)
			}
		}
		return &VolumeBinding{binder: b, pvcLister: corelisters.NewPersistentVolumeClaimLister(s.pvcs)}, nil
	}
}

type informerSet struct {
	stores
	pvcInformer, pvInformer toolscache.SharedIndexInformer
}

// informerStores gets the stores from the handle's informer factory, or
// empty stores without one. Volumes are indexed by class.
func informerStores(h framework.Handle) (informerSet, error) {
	index := toolscache.Indexers{storageClassIndex: pvStorageClassIndexFunc}
	f := h.SharedInformerFactory()
	if f == nil {
		empty := func() toolscache.Indexer {
			return toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
		}
		return informerSet{stores: stores{
			pvcs: empty(), pvs: toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, index),
			classes: empty(), nodes: empty(), pods: empty(),
		}}, nil
	}
	if h.ClientSet() == nil {
		return informerSet{}, errors.New("an informer factory without an API client: PreBind could not write")
	}
	pvcInf := f.Core().V1().PersistentVolumeClaims().Informer()
	pvInf := f.Core().V1().PersistentVolumes().Informer()
	// Another profile's instance may have added the index already.
	if _, ok := pvInf.GetIndexer().GetIndexers()[storageClassIndex]; !ok {
		if err := pvInf.AddIndexers(index); err != nil {
			return informerSet{}, fmt.Errorf("index persistentvolumes by class: %w", err)
		}
	}
	return informerSet{
		stores: stores{
			pvcs: pvcInf.GetIndexer(), pvs: pvInf.GetIndexer(),
			classes: f.Storage().V1().StorageClasses().Informer().GetIndexer(),
			nodes:   f.Core().V1().Nodes().Informer().GetIndexer(),
			pods:    f.Core().V1().Pods().Informer().GetIndexer(),
		},
		pvcInformer: pvcInf, pvInformer: pvInf,
	}, nil
}

// Name implements framework.Plugin.
func (*VolumeBinding) Name() string { return Name }

// EventsToRegister: a claim or volume created or changed (bound,
// provisioned, its selected node removed), a class created or changed
// (allowedTopologies), a node added or relabelled (volume node affinity,
// topologies) may each let a pod this plugin rejected fit.
func (*VolumeBinding) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.StorageClass, ActionType: framework.Add | framework.Update},
		{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add | framework.Update},
		{Resource: framework.PersistentVolume, ActionType: framework.Add | framework.Update},
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
	}
}

// checkPodClaims checks that the pod's claims can be used at all; hasPVC
// is false when it names none.
func (pl *VolumeBinding) checkPodClaims(pod *v1.Pod) (hasPVC bool, err error) {
	for _, c := range podClaims(pod) {
		hasPVC = true
		pvc, err := pl.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(c.name)
		if err != nil {
			// The lister's error already reads `persistentvolumeclaim
			// "x" not found`; a generic ephemeral volume's claim is
			// missing for a moment after the pod is created, normally.
			if c.ephemeral && apierrors.IsNotFound(err) {
				err = fmt.Errorf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", c.name)
			}
			return true, err
		}
		if pvc.Status.Phase == v1.ClaimLost {
			return true, fmt.Errorf("persistentvolumeclaim %q bound to non-existent persistentvolume %q", pvc.Name, pvc.Spec.VolumeName)
		}
		if pvc.DeletionTimestamp != nil {
			return true, fmt.Errorf("persistentvolumeclaim %q is being deleted", pvc.Name)
		}
		if c.ephemeral {
			if err := ephemeral.VolumeIsForPod(pod, pvc); err != nil {
				return true, err
			}
		}
	}
	return hasPVC, nil
}

// PreFilter rejects a pod whose claims are missing, lost, being deleted,
// or of an Immediate class and not bound yet (the PV controller binds
// those; the pod is retried when it does), and sorts the claims for
// Filter. A pod without claims skips Filter.
func (pl *VolumeBinding) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	hasPVC, err := pl.checkPodClaims(pod.Pod)
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if !hasPVC {
		state.Write(stateKey, &stateData{})
		return framework.NewStatus(framework.Skip)
	}
	claims, err := pl.binder.GetPodVolumeClaims(pod.Pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(claims.unboundClaimsImmediate) > 0 {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundImmediate)
	}
	state.Write(stateKey, &stateData{claims: claims, podVolumesByNode: map[string]*PodVolumes{}})
	return nil
}

func getStateData(cs *framework.CycleState) (*stateData, error) {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil, err
	}
	s, ok := d.(*stateData)
	if !ok {
		return nil, fmt.Errorf("%s: cycle state holds %T", Name, d)
	}
	return s, nil
}

// Filter checks that node can satisfy the pod's claims (see
// binder.FindPodVolumes) and records what they would need there.
func (pl *VolumeBinding) Filter(_ context.Context, cs *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	state, err := getStateData(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if state.claims == nil {
		return nil
	}
	node := ni.Node()
	podVolumes, reasons, err := pl.binder.FindPodVolumes(pod.Pod, state.claims, node)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(reasons) > 0 {
		texts := make([]string, len(reasons))
		for i, r := range reasons {
			texts[i] = string(r)
		}
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, texts...)
	}
	state.mu.Lock()
	state.podVolumesByNode[node.Name] = podVolumes
	state.mu.Unlock()
	return nil
}

// Reserve records the chosen node's volume decisions in the overlay.
func (pl *VolumeBinding) Reserve(_ context.Context, cs *framework.CycleState, pod *framework.PodInfo, nodeName string) *framework.Status {
	state, err := getStateData(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	podVolumes, ok := state.podVolumes(nodeName)
	if !ok {
		// The pod names no claims.
		state.allBound = true
		return nil
	}
	allBound, err := pl.binder.AssumePodVolumes(pod.Pod, nodeName, podVolumes)
	if err != nil {
		return framework.AsStatus(err)
	}
	state.allBound = allBound
	return nil
}

// PreBind writes the decisions and waits for the claims to be bound.
func (pl *VolumeBinding) PreBind(ctx context.Context, cs *framework.CycleState, pod *framework.PodInfo, nodeName string) *framework.Status {
	state, err := getStateData(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if state.allBound {
		return nil
	}
	podVolumes, ok := state.podVolumes(nodeName)
	if !ok {
		return framework.AsStatus(fmt.Errorf("no pod volume found for node %q", nodeName))
	}
	if err := pl.binder.BindPodVolumes(ctx, pod.Pod, nodeName, podVolumes); err != nil {
		return framework.AsStatus(err)
	}
	return nil
}

// Unreserve forgets the node's decisions; idempotent.
func (pl *VolumeBinding) Unreserve(_ context.Context, cs *framework.CycleState, _ *framework.PodInfo, nodeName string) {
	state, err := getStateData(cs)
	if err != nil {
		return
	}
	if podVolumes, ok := state.podVolumes(nodeName); ok {
		pl.binder.RevertAssumedPodVolumes(podVolumes)
	}
}
