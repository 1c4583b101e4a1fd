package garbagecollector

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func refs(uids ...string) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, u := range uids {
		out = append(out, metav1.OwnerReference{UID: types.UID(u), Name: u})
	}
	return out
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		refs       []metav1.OwnerReference
		states     []OwnerState
		deps       Dependents
		finalizers []string
		want       Action
	}{
		{"no owners: keep", nil, nil, NoDependents, nil, Action{Kind: Keep}},
		{"solid owner: keep", refs("a"), []OwnerState{Solid}, NoDependents, nil, Action{Kind: Keep}},
		{"dangling owner: delete in the background", refs("a"), []OwnerState{Dangling}, NoDependents, nil,
			Action{Kind: Delete, Policy: metav1.DeletePropagationBackground}},
		{"solid and dangling owners: drop the dangling reference", refs("a", "b"), []OwnerState{Solid, Dangling}, NoDependents, nil,
			Action{Kind: RemoveRefs, Remove: []types.UID{"b"}}},
		{"solid and waiting owners: drop the waiting reference", refs("a", "b"), []OwnerState{Waiting, Solid}, NoDependents, nil,
			Action{Kind: RemoveRefs, Remove: []types.UID{"a"}}},
		{"waiting owner, dependent with dependents: foreground", refs("a"), []OwnerState{Waiting}, HasDependents, nil,
			Action{Kind: Delete, Policy: metav1.DeletePropagationForeground}},
		{"waiting owner, a dependent waiting too: a circle, unblock and foreground", refs("a"), []OwnerState{Waiting}, DependentsWaiting, nil,
			Action{Kind: Delete, Policy: metav1.DeletePropagationForeground, Unblock: true}},
		{"dangling owner, a dependent waiting: no circle through it, background", refs("a"), []OwnerState{Dangling}, DependentsWaiting, nil,
			Action{Kind: Delete, Policy: metav1.DeletePropagationBackground}},
		{"solid owner, a dependent waiting: keep", refs("a"), []OwnerState{Solid}, DependentsWaiting, nil, Action{Kind: Keep}},
		{"waiting owner, leaf dependent: background", refs("a"), []OwnerState{Waiting}, NoDependents, nil,
			Action{Kind: Delete, Policy: metav1.DeletePropagationBackground}},
		{"dangling owner, dependent asks to orphan", refs("a"), []OwnerState{Dangling}, HasDependents, []string{metav1.FinalizerOrphanDependents},
			Action{Kind: Delete, Policy: metav1.DeletePropagationOrphan}},
		{"dangling owner, dependent asks for foreground", refs("a"), []OwnerState{Dangling}, HasDependents, []string{metav1.FinalizerDeleteDependents},
			Action{Kind: Delete, Policy: metav1.DeletePropagationForeground}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.refs, tt.states, tt.deps, tt.finalizers)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBlocking(t *testing.T) {
	dep := func(name string, block *bool) metav1.Object {
		return &metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{UID: "o", BlockOwnerDeletion: block}}}
	}
	got := Blocking("o", []metav1.Object{dep("blocks", ptr.To(true)), dep("unset", nil), dep("false", ptr.To(false))})
	if len(got) != 1 || got[0].GetName() != "blocks" {
		t.Errorf("Blocking = %v, want only the dependent with blockOwnerDeletion", got)
	}
}

func TestUnblockPatch(t *testing.T) {
	owners := []metav1.OwnerReference{
		{APIVersion: "v1", Kind: "Pod", Name: "a", UID: "ua", BlockOwnerDeletion: ptr.To(true)},
		{APIVersion: "v1", Kind: "Pod", Name: "b", UID: "ub", BlockOwnerDeletion: ptr.To(false)},
		{APIVersion: "v1", Kind: "Pod", Name: "c", UID: "uc"},
	}
	got := string(UnblockPatch("me", owners))
	want := `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"a","uid":"ua","blockOwnerDeletion":false}],"uid":"me"}}`
	if got != want {
		t.Errorf("UnblockPatch = %s, want %s", got, want)
	}
	if p := UnblockPatch("me", owners[1:]); p != nil {
		t.Errorf("UnblockPatch of non-blocking references = %s, want nil", p)
	}
}
