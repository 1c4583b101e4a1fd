package volumebinding

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/storage/ephemeral"
	"k8s.io/component-helpers/storage/volume"
)

// ConflictReason says why a node cannot satisfy a pod's claims; the
// texts are Kubernetes', people read them in the pod's events.
type ConflictReason string

// ConflictReasons are a node's reasons, in the order they were found.
type ConflictReasons []ConflictReason

// Kubernetes' reasons. Its fourth, "node(s) did not have enough free
// storage", is about CSI storage capacity, which this scheduler does not
// track.
const (
	// ErrReasonBindConflict: an unbound claim has neither a matching
	// available volume nor a way to be provisioned on the node.
	ErrReasonBindConflict ConflictReason = "node(s) didn't find available persistent volumes to bind"
	// ErrReasonNodeConflict: a bound claim's volume is not reachable from
	// the node (its nodeAffinity).
	ErrReasonNodeConflict ConflictReason = "node(s) didn't match PersistentVolume's node affinity"
	// ErrReasonPVNotExist: a bound claim's volume does not exist.
	ErrReasonPVNotExist ConflictReason = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
)

// bindPollInterval is how often PreBind looks whether the claims it waits
// for are bound, as Kubernetes' binder does.
const bindPollInterval = time.Second

// BindingInfo is a decision to bind an unbound claim to an available
// static volume.
type BindingInfo struct {
	pvc *v1.PersistentVolumeClaim
	pv  *v1.PersistentVolume
}

// PodVolumes is what a pod's unbound claims need on one node.
type PodVolumes struct {
	// StaticBindings pair claims with existing volumes.
	StaticBindings []*BindingInfo
	// DynamicProvisions are claims a provisioner is to create volumes for
	// once they name the node.
	DynamicProvisions []*v1.PersistentVolumeClaim
}

// PodVolumeClaims are a pod's claims sorted by what scheduling must do
// for them, read once per cycle.
type PodVolumeClaims struct {
	// boundClaims are bound (volumeName set and the binding completed):
	// only their volume's node affinity matters.
	boundClaims []*v1.PersistentVolumeClaim
	// unboundClaimsDelayBinding wait for this pod (WaitForFirstConsumer):
	// the scheduler picks their volume or has one provisioned.
	unboundClaimsDelayBinding []*v1.PersistentVolumeClaim
	// unboundClaimsImmediate should already be bound by the PV
	// controller (Immediate classes, and claims naming their volume);
	// the pod waits for that.
	unboundClaimsImmediate []*v1.PersistentVolumeClaim
	// unboundVolumesDelayBinding are the volumes of the classes of the
	// delay-binding claims, by class name: the candidates for Filter.
	unboundVolumesDelayBinding map[string][]*v1.PersistentVolume
}

// binder is the volume binder: it decides on the informers' view with the
// assumed overlay (GetPodVolumeClaims, FindPodVolumes), records decisions
// in the overlay (AssumePodVolumes, RevertAssumedPodVolumes) and carries
// them out through the API (BindPodVolumes).
type binder struct {
	client      kubernetes.Interface
	pvcCache    *assumeCache[*v1.PersistentVolumeClaim]
	pvCache     *assumeCache[*v1.PersistentVolume]
	classLister storagelisters.StorageClassLister
	nodeLister  corelisters.NodeLister
	podLister   corelisters.PodLister
	bindTimeout time.Duration
}

// stores are the informer stores the binder reads.
type stores struct {
	pvcs, pvs, classes, nodes, pods toolscache.Indexer
}

func newBinder(client kubernetes.Interface, s stores, bindTimeout time.Duration) *binder {
	return &binder{
		client:      client,
		pvcCache:    newAssumeCache[*v1.PersistentVolumeClaim](s.pvcs, v1.Resource("persistentvolumeclaims")),
		pvCache:     newAssumeCache[*v1.PersistentVolume](s.pvs, v1.Resource("persistentvolumes")),
		classLister: storagelisters.NewStorageClassLister(s.classes),
		nodeLister:  corelisters.NewNodeLister(s.nodes),
		podLister:   corelisters.NewPodLister(s.pods),
		bindTimeout: bindTimeout,
	}
}

func claimKey(pvc *v1.PersistentVolumeClaim) string { return pvc.Namespace + "/" + pvc.Name }

// isPVCFullyBound: the PV controller has finished binding the claim.
func isPVCFullyBound(pvc *v1.PersistentVolumeClaim) bool {
	return pvc.Spec.VolumeName != "" && metav1.HasAnnotation(pvc.ObjectMeta, volume.AnnBindCompleted)
}

// podClaim is one claim a pod's volumes name.
type podClaim struct {
	name string
	// ephemeral: a generic ephemeral volume's claim, named after the pod
	// and the volume, which must be owned by the pod.
	ephemeral bool
}

// podClaims lists the claims of pod's volumes, in volume order.
func podClaims(pod *v1.Pod) []podClaim {
	var out []podClaim
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		switch {
		case vol.PersistentVolumeClaim != nil:
			out = append(out, podClaim{name: vol.PersistentVolumeClaim.ClaimName})
		case vol.Ephemeral != nil:
			out = append(out, podClaim{name: ephemeral.VolumeClaimName(pod, vol), ephemeral: true})
		}
	}
	return out
}

// getPodClaim returns a claim of pod from the assumed view, checking that
// a generic ephemeral volume's claim belongs to the pod.
func (b *binder) getPodClaim(pod *v1.Pod, c podClaim) (*v1.PersistentVolumeClaim, error) {
	pvc, err := b.pvcCache.Get(pod.Namespace + "/" + c.name)
	if err != nil {
		return nil, err
	}
	if c.ephemeral {
		if err := ephemeral.VolumeIsForPod(pod, pvc); err != nil {
			return nil, err
		}
	}
	return pvc, nil
}

// GetPodVolumeClaims sorts pod's claims into bound, unbound with delayed
// binding and unbound immediate, and lists the candidate volumes of the
// delay-binding claims' classes. The claims must exist (PreFilter checked).
func (b *binder) GetPodVolumeClaims(pod *v1.Pod) (*PodVolumeClaims, error) {
	out := &PodVolumeClaims{
		boundClaims:                []*v1.PersistentVolumeClaim{},
		unboundClaimsDelayBinding:  []*v1.PersistentVolumeClaim{},
		unboundClaimsImmediate:     []*v1.PersistentVolumeClaim{},
		unboundVolumesDelayBinding: map[string][]*v1.PersistentVolume{},
	}
	for _, c := range podClaims(pod) {
		pvc, err := b.getPodClaim(pod, c)
		if err != nil {
			return nil, err
		}
		if isPVCFullyBound(pvc) {
			out.boundClaims = append(out.boundClaims, pvc)
			continue
		}
		delay, err := volume.IsDelayBindingMode(pvc, b.classLister)
		if err != nil {
			return nil, err
		}
		// A claim naming its volume is the PV controller's to bind,
		// whatever its class's mode.
		if delay && pvc.Spec.VolumeName == "" {
			out.unboundClaimsDelayBinding = append(out.unboundClaimsDelayBinding, pvc)
		} else {
			out.unboundClaimsImmediate = append(out.unboundClaimsImmediate, pvc)
		}
	}
	for _, pvc := range out.unboundClaimsDelayBinding {
		class := volume.GetPersistentVolumeClaimClass(pvc)
		if _, done := out.unboundVolumesDelayBinding[class]; done {
			continue
		}
		pvs, err := b.pvCache.ByIndex(storageClassIndex, class)
		if err != nil {
			return nil, err
		}
		out.unboundVolumesDelayBinding[class] = pvs
	}
	return out, nil
}

// FindPodVolumes decides whether node can satisfy the pod's claims: bound
// claims' volumes must admit the node; each unbound delay-binding claim
// needs an available matching volume the node can reach (the smallest,
// each volume used once), or a class that can provision there. The
// reasons say why not; an error is a failure to decide. It is called for
// many nodes in parallel and only reads.
func (b *binder) FindPodVolumes(pod *v1.Pod, claims *PodVolumeClaims, node *v1.Node) (*PodVolumes, ConflictReasons, error) {
	podVolumes := &PodVolumes{}
	boundSatisfied, boundFound, unboundSatisfied := true, true, true
	// The reasons in Kubernetes' order.
	reasons := func() ConflictReasons {
		var r ConflictReasons
		if !boundSatisfied {
			r = append(r, ErrReasonNodeConflict)
		}
		if !unboundSatisfied {
			r = append(r, ErrReasonBindConflict)
		}
		if !boundFound {
			r = append(r, ErrReasonPVNotExist)
		}
		return r
	}

	if len(claims.boundClaims) > 0 {
		var err error
		boundSatisfied, boundFound, err = b.checkBoundClaims(claims.boundClaims, node)
		if err != nil {
			return nil, nil, err
		}
	}
	if len(claims.unboundClaimsDelayBinding) == 0 {
		return podVolumes, reasons(), nil
	}

	var toMatch, toProvision []*v1.PersistentVolumeClaim
	for _, pvc := range claims.unboundClaimsDelayBinding {
		selected, ok := pvc.Annotations[volume.AnnSelectedNode]
		if !ok {
			toMatch = append(toMatch, pvc)
			continue
		}
		// Provisioning for another node has started: only that node
		// will do.
		if selected != node.Name {
			unboundSatisfied = false
			return podVolumes, reasons(), nil
		}
		toProvision = append(toProvision, pvc)
	}
	if len(toMatch) > 0 {
		bindings, unmatched, err := b.findMatchingVolumes(toMatch, claims.unboundVolumesDelayBinding, node)
		if err != nil {
			return nil, nil, err
		}
		podVolumes.StaticBindings = bindings
		toProvision = append(toProvision, unmatched...)
		unboundSatisfied = len(unmatched) == 0
	}
	if len(toProvision) > 0 {
		ok, err := b.checkVolumeProvisions(toProvision, node)
		if err != nil {
			return nil, nil, err
		}
		unboundSatisfied = ok
		if ok {
			podVolumes.DynamicProvisions = toProvision
		}
	}
	return podVolumes, reasons(), nil
}

// checkBoundClaims reports whether every bound claim's volume admits node
// (satisfied) and exists (found).
func (b *binder) checkBoundClaims(claims []*v1.PersistentVolumeClaim, node *v1.Node) (satisfied, found bool, err error) {
	for _, pvc := range claims {
		pv, err := b.pvCache.Get(pvc.Spec.VolumeName)
		if err != nil {
			if apierrors.IsNotFound(err) {
				return true, false, nil
			}
			return false, false, err
		}
		if volume.CheckNodeAffinity(pv, node.Labels) != nil {
			return false, true, nil
		}
	}
	return true, true, nil
}

// findMatchingVolumes picks, for each claim from the smallest request up,
// the smallest available volume that fits it on node (the PV controller's
// matching, volume.FindMatchingVolume), never the same volume twice. It
// returns the pairs and the claims left without a volume.
func (b *binder) findMatchingVolumes(claims []*v1.PersistentVolumeClaim, pvsByClass map[string][]*v1.PersistentVolume, node *v1.Node) ([]*BindingInfo, []*v1.PersistentVolumeClaim, error) {
	sorted := append([]*v1.PersistentVolumeClaim(nil), claims...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a := sorted[i].Spec.Resources.Requests[v1.ResourceStorage]
		c := sorted[j].Spec.Resources.Requests[v1.ResourceStorage]
		return a.Cmp(c) < 0
	})
	chosen := map[string]*v1.PersistentVolume{}
	var bindings []*BindingInfo
	var unmatched []*v1.PersistentVolumeClaim
	for _, pvc := range sorted {
		pvs := pvsByClass[volume.GetPersistentVolumeClaimClass(pvc)]
		// VolumeAttributesClass is GA (on) in Kubernetes 1.37.
		pv, err := volume.FindMatchingVolume(pvc, pvs, node, chosen, true, true)
		if err != nil {
			return nil, nil, err
		}
		if pv == nil {
			unmatched = append(unmatched, pvc)
			continue
		}
		chosen[pv.Name] = pv
		bindings = append(bindings, &BindingInfo{pvc: pvc, pv: pv})
	}
	return bindings, unmatched, nil
}

// checkVolumeProvisions reports whether every claim's class can provision
// a volume reachable from node: it has a provisioner and its
// allowedTopologies admit the node.
func (b *binder) checkVolumeProvisions(claims []*v1.PersistentVolumeClaim, node *v1.Node) (bool, error) {
	for _, pvc := range claims {
		className := volume.GetPersistentVolumeClaimClass(pvc)
		if className == "" {
			return false, fmt.Errorf("no class for claim %q", claimKey(pvc))
		}
		class, err := b.classLister.Get(className)
		if err != nil {
			return false, fmt.Errorf("failed to find storage class %q", className)
		}
		if class.Provisioner == "" || class.Provisioner == volume.NotSupportedProvisioner {
			return false, nil
		}
		if !matchTopologySelectorTerms(class.AllowedTopologies, node.Labels) {
			return false, nil
		}
	}
	return true, nil
}

// matchTopologySelectorTerms is a StorageClass's allowedTopologies test:
// no terms admit every node; otherwise some non-empty term must have all
// its expressions (label In values) hold.
func matchTopologySelectorTerms(terms []v1.TopologySelectorTerm, nodeLabels map[string]string) bool {
	if len(terms) == 0 {
		return true
	}
	set := labels.Set(nodeLabels)
	for _, term := range terms {
		if len(term.MatchLabelExpressions) == 0 {
			continue
		}
		sel := labels.NewSelector()
		ok := true
		for _, expr := range term.MatchLabelExpressions {
			req, err := labels.NewRequirement(expr.Key, selection.In, expr.Values)
			if err != nil {
				ok = false
				break
			}
			sel = sel.Add(*req)
		}
		if ok && sel.Matches(set) {
			return true
		}
	}
	return false
}

// AssumePodVolumes records in the overlay what FindPodVolumes chose for
// nodeName: each chosen volume pre-bound to its claim, each claim to
// provision annotated with the node. podVolumes is updated to the assumed
// objects, which BindPodVolumes writes. allBound is true when the pod's
// claims are all bound already and there is nothing to do.
func (b *binder) AssumePodVolumes(pod *v1.Pod, nodeName string, podVolumes *PodVolumes) (allBound bool, err error) {
	if b.arePodVolumesBound(pod) {
		return true, nil
	}
	var bindings []*BindingInfo
	for _, bi := range podVolumes.StaticBindings {
		pv, dirty, err := volume.GetBindVolumeToClaim(bi.pv, bi.pvc)
		if err != nil {
			b.revertAssumedPVs(bindings)
			return false, err
		}
		if dirty {
			if err := b.pvCache.Assume(pv); err != nil {
				b.revertAssumedPVs(bindings)
				return false, err
			}
		}
		bindings = append(bindings, &BindingInfo{pvc: bi.pvc, pv: pv})
	}
	var provisions []*v1.PersistentVolumeClaim
	for _, pvc := range podVolumes.DynamicProvisions {
		claim := pvc.DeepCopy()
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, volume.AnnSelectedNode, nodeName)
		if err := b.pvcCache.Assume(claim); err != nil {
			b.revertAssumedPVs(bindings)
			b.revertAssumedPVCs(provisions)
			return false, err
		}
		provisions = append(provisions, claim)
	}
	podVolumes.StaticBindings = bindings
	podVolumes.DynamicProvisions = provisions
	return false, nil
}

// RevertAssumedPodVolumes forgets what AssumePodVolumes recorded.
func (b *binder) RevertAssumedPodVolumes(podVolumes *PodVolumes) {
	b.revertAssumedPVs(podVolumes.StaticBindings)
	b.revertAssumedPVCs(podVolumes.DynamicProvisions)
}

func (b *binder) revertAssumedPVs(bindings []*BindingInfo) {
	for _, bi := range bindings {
		b.pvCache.Restore(bi.pv)
	}
}

func (b *binder) revertAssumedPVCs(claims []*v1.PersistentVolumeClaim) {
	for _, pvc := range claims {
		b.pvcCache.Restore(pvc)
	}
}

// arePodVolumesBound: every claim of pod is bound in the assumed view.
func (b *binder) arePodVolumesBound(pod *v1.Pod) bool {
	for _, c := range podClaims(pod) {
		pvc, err := b.getPodClaim(pod, c)
		if err != nil || !isPVCFullyBound(pvc) {
			return false
		}
	}
	return true
}

// BindPodVolumes writes the assumed decisions (bindAPIUpdate), then waits,
// up to the bind timeout, until the PV controller and the provisioners
// have bound every claim (checkBindings). An error means the pod must be
// scheduled again.
func (b *binder) BindPodVolumes(ctx context.Context, pod *v1.Pod, nodeName string, podVolumes *PodVolumes) error {
	if err := b.bindAPIUpdate(ctx, podVolumes); err != nil {
		return err
	}
	err := wait.PollUntilContextTimeout(ctx, bindPollInterval, b.bindTimeout, false, func(context.Context) (bool, error) {
		return b.checkBindings(pod, nodeName, podVolumes)
	})
	if err != nil {
		return fmt.Errorf("binding volumes: %w", err)
	}
	return nil
}

// bindAPIUpdate pre-binds each chosen volume to its claim (the volume's
// claimRef and the bound-by-controller annotation: the PV controller then
// completes the binding as for one it made itself) and annotates each
// claim to provision with the selected node (the provisioner's cue).
// podVolumes is updated with the objects the API returned. The writes are
// updates on the version the decision was made on, so a volume someone
// else took meanwhile fails with a conflict instead of being stolen. What
// was not written is un-assumed; written objects expire from the overlay
// when the informer delivers them.
func (b *binder) bindAPIUpdate(ctx context.Context, podVolumes *PodVolumes) error {
	bindings, claims := podVolumes.StaticBindings, podVolumes.DynamicProvisions
	doneBindings, doneClaims := 0, 0
	defer func() {
		b.revertAssumedPVs(bindings[doneBindings:])
		b.revertAssumedPVCs(claims[doneClaims:])
	}()
	for _, bi := range bindings {
		pv, err := b.client.CoreV1().PersistentVolumes().Update(ctx, bi.pv, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("bind persistentvolume %q to claim %q: %w", bi.pv.Name, claimKey(bi.pvc), err)
		}
		bi.pv = pv
		doneBindings++
	}
	for i, pvc := range claims {
		updated, err := b.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("select node for persistentvolumeclaim %q: %w", claimKey(pvc), err)
		}
		claims[i] = updated
		doneClaims++
	}
	return nil
}

// errBindingUndone marks checkBindings' failures: something undid the
// binding or provisioning, so waiting longer cannot help.
var errBindingUndone = errors.New("volume binding undone")

// checkBindings reports whether every claim the pod's PreBind acted on is
// fully bound, on the informers' view of the API (not the overlay, which
// later cycles may have changed). It fails when the pod is gone, when a
// volume's claimRef was dropped (the PV controller unbound it), when a
// provisioner removed the selected-node annotation (provisioning failed:
// its signal to reschedule) or when a volume no longer admits the node.
func (b *binder) checkBindings(pod *v1.Pod, nodeName string, podVolumes *PodVolumes) (bool, error) {
	node, err := b.nodeLister.Get(nodeName)
	if err != nil {
		return false, fmt.Errorf("failed to get node %q: %w", nodeName, err)
	}
	if _, err := b.podLister.Pods(pod.Namespace).Get(pod.Name); apierrors.IsNotFound(err) {
		return false, fmt.Errorf("pod does not exist any more: %w", err)
	}
	for _, bi := range podVolumes.StaticBindings {
		pv, err := b.pvCache.GetAPIObj(bi.pv.Name)
		if err != nil {
			return false, fmt.Errorf("failed to check binding: %w", err)
		}
		pvc, err := b.pvcCache.GetAPIObj(claimKey(bi.pvc))
		if err != nil {
			return false, fmt.Errorf("failed to check binding: %w", err)
		}
		// Our write has not reached the informer yet.
		if newerThan(bi.pv.ResourceVersion, pv.ResourceVersion) {
			return false, nil
		}
		if err := volume.CheckNodeAffinity(pv, node.Labels); err != nil {
			return false, fmt.Errorf("%w: pv %q node affinity doesn't match node %q: %v", errBindingUndone, pv.Name, node.Name, err)
		}
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == "" {
			return false, fmt.Errorf("%w: ClaimRef got reset for pv %q", errBindingUndone, pv.Name)
		}
		if !isPVCFullyBound(pvc) {
			return false, nil
		}
	}
	for _, claim := range podVolumes.DynamicProvisions {
		pvc, err := b.pvcCache.GetAPIObj(claimKey(claim))
		if err != nil {
			return false, fmt.Errorf("failed to check provisioning pvc: %w", err)
		}
		if newerThan(claim.ResourceVersion, pvc.ResourceVersion) {
			return false, nil
		}
		if pvc.Annotations[volume.AnnSelectedNode] != nodeName {
			return false, fmt.Errorf("%w: provisioning failed for PVC %q", errBindingUndone, pvc.Name)
		}
		if pvc.Spec.VolumeName != "" {
			pv, err := b.pvCache.GetAPIObj(pvc.Spec.VolumeName)
			if err != nil {
				if apierrors.IsNotFound(err) {
					// The volume may not have reached the informer yet;
					// if it was deleted, the claim will be unbound.
					return false, nil
				}
				return false, fmt.Errorf("failed to get pv %q from cache: %w", pvc.Spec.VolumeName, err)
			}
			if err := volume.CheckNodeAffinity(pv, node.Labels); err != nil {
				return false, fmt.Errorf("%w: pv %q node affinity doesn't match node %q: %v", errBindingUndone, pv.Name, node.Name, err)
			}
		}
		if !isPVCFullyBound(pvc) {
			return false, nil
		}
	}
	return true, nil
}
