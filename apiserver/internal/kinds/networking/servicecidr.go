package networking

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// ServiceCIDRs: cluster-scoped ranges ClusterIPs are allocated from, with
// a status subresource (the Ready condition).
func ServiceCIDRs() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(networkingv1.SchemeGroupVersion, "servicecidrs", &networkingv1.ServiceCIDR{}, &networkingv1.ServiceCIDRList{})
	d.Strategy = serviceCIDRStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.ServiceCIDR()
	return d
}

// IPAddresses: cluster-scoped, one per allocated ClusterIP, named by the
// address itself.
func IPAddresses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(networkingv1.SchemeGroupVersion, "ipaddresses", &networkingv1.IPAddress{}, &networkingv1.IPAddressList{})
	d.ShortNames = []string{"ip"}
	d.Strategy = ipAddressStrategy{}
	d.NameValidator = validateIPAddressName
	d.Table = printers.IPAddress()
	return d
}

// serviceCIDRStrategy validates ServiceCIDRs as Kubernetes'
// pkg/apis/networking/validation does: one or two CIDRs, one per IP
// family; an existing CIDR never changes (Services were allocated from
// it), though a single-stack range may gain the other family.
type serviceCIDRStrategy struct{ apiresource.DefaultStrategy }

func (serviceCIDRStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*networkingv1.ServiceCIDR).Status = networkingv1.ServiceCIDRStatus{}
}

func (serviceCIDRStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateServiceCIDRSpec(&obj.(*networkingv1.ServiceCIDR).Spec)
}

func (serviceCIDRStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	cidrs, was := obj.(*networkingv1.ServiceCIDR).Spec.CIDRs, old.(*networkingv1.ServiceCIDR).Spec.CIDRs
	path := specPath.Child("cidrs")
	var errs field.ErrorList
	switch {
	case len(was) == len(cidrs):
		for i := range was {
			if cidrs[i] != was[i] {
				errs = append(errs, field.Invalid(path.Index(i), cidrs[i], apivalidation.FieldImmutableErrorMsg))
			}
		}
	case len(was) == 1 && len(cidrs) == 2:
		if cidrs[0] != was[0] {
			errs = append(errs, field.Invalid(path.Index(0), cidrs[0], apivalidation.FieldImmutableErrorMsg))
		}
		errs = append(errs, validateServiceCIDRSpec(&obj.(*networkingv1.ServiceCIDR).Spec)...)
	default:
		errs = append(errs, field.Invalid(path, cidrs, apivalidation.FieldImmutableErrorMsg))
	}
	return errs
}

func validateServiceCIDRSpec(spec *networkingv1.ServiceCIDRSpec) field.ErrorList {
	path := specPath.Child("cidrs")
	switch {
	case len(spec.CIDRs) == 0:
		return field.ErrorList{field.Required(path, "at least one CIDR required")}
	case len(spec.CIDRs) > 2:
		return field.ErrorList{field.Invalid(path, spec, "may only hold up to 2 values")}
	}
	var errs field.ErrorList
	for i, cidr := range spec.CIDRs {
		errs = append(errs, validation.IsValidCIDR(path.Index(i), cidr)...)
	}
	if len(spec.CIDRs) == 2 {
		first, second := netutils.IPFamilyOfCIDRString(spec.CIDRs[0]), netutils.IPFamilyOfCIDRString(spec.CIDRs[1])
		if first == second && first != netutils.IPFamilyUnknown {
			errs = append(errs, field.Invalid(path, spec.CIDRs, "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64"))
		}
	}
	return errs
}

// ipAddressStrategy validates IPAddresses as Kubernetes does: the name is
// the address in canonical form, and the parent reference, which names
// the object holding the address, is required and fixed.
type ipAddressStrategy struct{ apiresource.DefaultStrategy }

func (ipAddressStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateParentRef(obj.(*networkingv1.IPAddress).Spec.ParentRef)
}

func (ipAddressStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ip, was := obj.(*networkingv1.IPAddress), old.(*networkingv1.IPAddress)
	return apivalidation.ValidateImmutableField(ip.Spec.ParentRef, was.Spec.ParentRef, specPath.Child("parentRef"))
}

// validateIPAddressName: an IPAddress is named by its address, canonical
// ("10.96.0.1", "2001:db8::1"), so that one address has one object.
// Names are never generated.
func validateIPAddressName(name string, _ bool) []string {
	var msgs []string
	for _, err := range validation.IsValidIP(&field.Path{}, name) {
		msgs = append(msgs, err.Detail)
	}
	return msgs
}

func validateParentRef(ref *networkingv1.ParentReference) field.ErrorList {
	path := specPath.Child("parentRef")
	if ref == nil {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	// The core group, of Services, is "": group cannot be required.
	if ref.Group != "" {
		for _, msg := range validation.IsDNS1123Subdomain(ref.Group) {
			errs = append(errs, field.Invalid(path.Child("group"), ref.Group, msg))
		}
	}
	for _, f := range []struct {
		name, value string
		required    bool
	}{{"resource", ref.Resource, true}, {"name", ref.Name, true}, {"namespace", ref.Namespace, false}} {
		if f.value == "" {
			if f.required {
				errs = append(errs, field.Required(path.Child(f.name), ""))
			}
			continue
		}
		for _, msg := range content.IsPathSegmentName(f.value) {
			errs = append(errs, field.Invalid(path.Child(f.name), f.value, msg))
		}
	}
	return errs
}
