// Package policy defines policy/v1 PodDisruptionBudgets: how many of the
// pods a selector matches may be down at once by voluntary disruption.
// The disruption controller writes the status (how many disruptions are
// allowed now); the pods/eviction subresource reads and decrements it.
package policy

import (
	policyv1 "k8s.io/api/policy/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the policy/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{PodDisruptionBudgets()}
}

// PodDisruptionBudgets: namespaced, with the status subresource, their
// generation bumped on every spec change so that the eviction handler can
// tell a status computed for an older spec (observedGeneration).
func PodDisruptionBudgets() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(policyv1.SchemeGroupVersion, "poddisruptionbudgets",
		&policyv1.PodDisruptionBudget{}, &policyv1.PodDisruptionBudgetList{})
	d.Namespaced = true
	d.ShortNames = []string{"pdb"}
	d.Subresources = []string{apiresource.Status}
	d.TracksGeneration = true
	d.Strategy = pdbStrategy{}
	d.Table = printers.PodDisruptionBudget()
	return d
}
