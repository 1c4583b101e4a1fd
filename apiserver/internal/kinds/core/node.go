package core

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"coracle.dev/apiserver/internal/apiresource"
)

// nodeStrategy: a node registers itself, status included; its pod CIDRs and
// provider ID are set once and then fixed.
type nodeStrategy struct{ apiresource.DefaultStrategy }

// Default keeps the v1 API's podCIDR and podCIDRs in step, and makes a
// node reporting only its capacity allocate all of it.
func (nodeStrategy) Default(obj runtime.Object) {
	node := obj.(*corev1.Node)
	switch {
	case len(node.Spec.PodCIDRs) == 0 && node.Spec.PodCIDR != "":
		node.Spec.PodCIDRs = []string{node.Spec.PodCIDR}
	case len(node.Spec.PodCIDRs) > 0 && node.Spec.PodCIDR == "":
		node.Spec.PodCIDR = node.Spec.PodCIDRs[0]
	}
	if node.Status.Allocatable == nil && node.Status.Capacity != nil {
		node.Status.Allocatable = node.Status.Capacity.DeepCopy()
	}
}

func (nodeStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateNode(obj.(*corev1.Node))
}

func validateNode(node *corev1.Node) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateTaints(node.Spec.Taints, spec.Child("taints"))
	cidrs := spec.Child("podCIDRs")
	for i, cidr := range node.Spec.PodCIDRs {
		errs = append(errs, validation.IsValidCIDR(cidrs.Index(i), cidr)...)
	}
	if len(errs) == 0 && len(node.Spec.PodCIDRs) > 1 {
		if dual, err := netutils.IsDualStackCIDRStrings(node.Spec.PodCIDRs); err != nil || !dual || len(node.Spec.PodCIDRs) > 2 {
			errs = append(errs, field.Invalid(cidrs, node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		}
	}
	if len(node.Spec.PodCIDRs) > 0 && node.Spec.PodCIDR != node.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(spec.Child("podCIDR"), node.Spec.PodCIDR, "must match the first entry of `podCIDRs`"))
	}
	for _, name := range sortedKeys(node.Status.Capacity) {
		errs = append(errs, validateResourceQuantity(name, node.Status.Capacity[name], field.NewPath("status", "capacity", string(name)))...)
	}
	for _, name := range sortedKeys(node.Status.Allocatable) {
		errs = append(errs, validateResourceQuantity(name, node.Status.Allocatable[name], field.NewPath("status", "allocatable", string(name)))...)
	}
	return errs
}

func (nodeStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return validateNodeUpdate(obj.(*corev1.Node), old.(*corev1.Node))
}

// ValidateStatusUpdate is ValidateUpdate, as in Kubernetes: the kubelet's
// status writes carry the whole node.
func (nodeStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return validateNodeUpdate(obj.(*corev1.Node), old.(*corev1.Node))
}

func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	errs := validateNode(node)
	seen := map[corev1.NodeAddress]bool{}
	for i, addr := range node.Status.Addresses {
		if seen[addr] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), addr))
		}
		seen[addr] = true
	}
	// The node IPAM controller may assign pod CIDRs once.
	if len(old.Spec.PodCIDRs) > 0 && !slices.Equal(old.Spec.PodCIDRs, node.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), `node updates may not change podCIDR except from "" to valid`))
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != node.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), `node updates may not change providerID except from "" to valid`))
	}
	return errs
}
