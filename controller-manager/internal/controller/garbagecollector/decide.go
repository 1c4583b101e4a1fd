package garbagecollector

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// OwnerState is what the collector found of one owner reference.
type OwnerState int

// Owner states.
const (
	// Solid: the owner exists and is not waiting for its dependents.
	Solid OwnerState = iota
	// Dangling: no object with the owner's name and UID exists.
	Dangling
	// Waiting: the owner is being deleted in the foreground and waits
	// for its dependents to go.
	Waiting
)

// ActionKind is what to do with a dependent.
type ActionKind int

// Action kinds.
const (
	// Keep: the dependent stays as it is.
	Keep ActionKind = iota
	// RemoveRefs: the dependent stays, without the references in Remove.
	RemoveRefs
	// Delete: the dependent goes, with Policy.
	Delete
)

// Action is the collector's decision about one dependent.
type Action struct {
	Kind   ActionKind
	Remove []types.UID
	Policy metav1.DeletionPropagation
	// Unblock: before the delete, the dependent's owner references stop
	// blocking their owners' deletion, to break a circle (see Decide).
	Unblock bool
}

// Dependents is what the collector knows of an object's own dependents.
type Dependents int

// Dependents states.
const (
	// NoDependents: nothing names the object as its owner.
	NoDependents Dependents = iota
	// HasDependents: some objects name it as their owner.
	HasDependents
	// DependentsWaiting: one of them is itself being deleted in the
	// foreground, waiting for its own dependents.
	DependentsWaiting
)

// Decide is the pure part of collecting a dependent, as Kubernetes'
// garbage collector decides: with a solid owner it stays, shedding its
// dangling and waiting references; with owners that wait for it in the
// foreground it goes in the foreground too when it has dependents of its
// own; otherwise it goes with the policy its own finalizers ask for.
//
// Owner references can form a circle (a owns b owns c owns a). Deleting
// one of them in the foreground makes each wait, in the foreground, for
// the next, and the last for the first, which waits already: none would
// ever finish. So, as Kubernetes does, an object whose owner waits for it
// and one of whose own dependents waits too is deleted with its owner
// references unblocked: its owners then stop waiting for it, and the
// circle unwinds from there.
func Decide(refs []metav1.OwnerReference, states []OwnerState, deps Dependents, finalizers []string) Action {
	var solid, remove []types.UID
	waiting := 0
	for i, ref := range refs {
		switch states[i] {
		case Solid:
			solid = append(solid, ref.UID)
		case Dangling:
			remove = append(remove, ref.UID)
		case Waiting:
			remove = append(remove, ref.UID)
			waiting++
		}
	}
	switch {
	case len(refs) == 0:
		return Action{Kind: Keep}
	case len(solid) > 0 && len(remove) == 0:
		return Action{Kind: Keep}
	case len(solid) > 0:
		return Action{Kind: RemoveRefs, Remove: remove}
	case waiting > 0 && deps != NoDependents:
		return Action{Kind: Delete, Policy: metav1.DeletePropagationForeground, Unblock: deps == DependentsWaiting}
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case has(finalizers, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case has(finalizers, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return Action{Kind: Delete, Policy: policy}
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Blocking returns the dependents that keep an owner with uid from
// finishing a foreground deletion: those whose reference to it has
// blockOwnerDeletion set.
func Blocking(owner types.UID, dependents []metav1.Object) []metav1.Object {
	var out []metav1.Object
	for _, d := range dependents {
		for _, ref := range d.GetOwnerReferences() {
			if ref.UID == owner && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// UnblockPatch is the strategic merge patch that sets blockOwnerDeletion
// false on those of refs that have it true, on the object with uid only.
// Nil when no reference blocks.
func UnblockPatch(uid types.UID, refs []metav1.OwnerReference) []byte {
	var unblocked []metav1.OwnerReference
	for _, ref := range refs {
		if ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
			ref.BlockOwnerDeletion = ptr.To(false)
			unblocked = append(unblocked, ref)
		}
	}
	if len(unblocked) == 0 {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid, "ownerReferences": unblocked}})
	return patch
}

// waitingForDependents reports whether m is being deleted in the
// foreground, waiting for its dependents.
func waitingForDependents(m metav1.Object) bool {
	return m.GetDeletionTimestamp() != nil && has(m.GetFinalizers(), metav1.FinalizerDeleteDependents)
}
