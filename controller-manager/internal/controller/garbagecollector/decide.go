package garbagecollector

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
}

// Decide is the pure part of collecting a dependent, as Kubernetes'
// garbage collector decides: with a solid owner it stays, shedding its
// dangling and waiting references; with owners that wait for it in the
// foreground it goes in the foreground too when it has dependents of its
// own; otherwise it goes with the policy its own finalizers ask for.
func Decide(refs []metav1.OwnerReference, states []OwnerState, hasDependents bool, finalizers []string) Action {
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
	case waiting > 0 && hasDependents:
		return Action{Kind: Delete, Policy: metav1.DeletePropagationForeground}
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
