package discovery

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// endpointSliceStrategy defaults and validates EndpointSlices as
// Kubernetes' discovery.k8s.io/v1 API and pkg/apis/discovery/validation do.
type endpointSliceStrategy struct{ apiresource.DefaultStrategy }

func (endpointSliceStrategy) Default(obj runtime.Object) {
	es := obj.(*discoveryv1.EndpointSlice)
	for i := range es.Ports {
		p := &es.Ports[i]
		if p.Name == nil {
			p.Name = ptr.To("")
		}
		if p.Protocol == nil {
			p.Protocol = ptr.To(corev1.ProtocolTCP)
		}
	}
}

// PrepareForCreate and PrepareForUpdate keep metadata.generation, which
// EndpointSlice consumers such as kube-proxy use to skip slices they have
// seen. A slice has no spec, so the generic store cannot track it.
func (endpointSliceStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*discoveryv1.EndpointSlice).Generation = 1
}

func (endpointSliceStrategy) PrepareForUpdate(obj, old runtime.Object) {
	es, was := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	changed := es.AddressType != was.AddressType ||
		!apiequality.Semantic.DeepEqual(es.Endpoints, was.Endpoints) ||
		!apiequality.Semantic.DeepEqual(es.Ports, was.Ports) ||
		!apiequality.Semantic.DeepEqual(es.Labels, was.Labels)
	if changed {
		es.Generation = was.Generation + 1
	}
}

func (endpointSliceStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateEndpointSlice(obj.(*discoveryv1.EndpointSlice), addressTypes)
}

func (endpointSliceStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	es, was := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	// Slices stored with the deprecated "IP" type may still be updated.
	errs := validateEndpointSlice(es, addressTypes.Union(sets.New(discoveryv1.AddressType("IP"))))
	return append(errs, apivalidation.ValidateImmutableField(es.AddressType, was.AddressType, field.NewPath("addressType"))...)
}

const (
	maxEndpoints      = 1000
	maxAddresses      = 100
	maxPorts          = 100
	maxTopologyLabels = 16
	maxHints          = 8
)

var (
	addressTypes    = sets.New(discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)
	portProtocols   = sets.New(corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
	addressTypePath = field.NewPath("addressType")
)

func validateEndpointSlice(es *discoveryv1.EndpointSlice, valid sets.Set[discoveryv1.AddressType]) field.ErrorList {
	var errs field.ErrorList
	switch {
	case es.AddressType == "":
		errs = append(errs, field.Required(addressTypePath, ""))
	case !valid.Has(es.AddressType):
		errs = append(errs, field.NotSupported(addressTypePath, es.AddressType, sets.List(valid)))
	}
	errs = append(errs, validateEndpoints(es.Endpoints, es.AddressType, field.NewPath("endpoints"))...)
	errs = append(errs, validatePorts(es.Ports, field.NewPath("ports"))...)
	return errs
}

func validateEndpoints(eps []discoveryv1.Endpoint, typ discoveryv1.AddressType, path *field.Path) field.ErrorList {
	if len(eps) > maxEndpoints {
		return field.ErrorList{field.TooMany(path, len(eps), maxEndpoints)}
	}
	var errs field.ErrorList
	for i, ep := range eps {
		p := path.Index(i)
		apath := p.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			errs = append(errs, field.Required(apath, "must contain at least 1 address"))
		case len(ep.Addresses) > maxAddresses:
			errs = append(errs, field.TooMany(apath, len(ep.Addresses), maxAddresses))
		}
		for j, addr := range ep.Addresses {
			errs = append(errs, validateAddress(addr, typ, apath.Index(j))...)
		}
		if ep.Hostname != nil {
			for _, msg := range content.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				errs = append(errs, field.Invalid(p.Child("nodeName"), *ep.NodeName, msg))
			}
		}
		tpath := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			errs = append(errs, field.TooMany(tpath, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		errs = append(errs, metav1validation.ValidateLabels(ep.DeprecatedTopology, tpath)...)
		if ep.Hints != nil {
			errs = append(errs, validateHints(ep.Hints, p.Child("hints"))...)
		}
	}
	return errs
}

// validateAddress checks an address against the slice's type. Addresses
// no proxy could reach, such as loopback and link-local ones, are refused.
func validateAddress(addr string, typ discoveryv1.AddressType, path *field.Path) field.ErrorList {
	switch typ {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, "IP":
		if errs := validation.IsValidIPForLegacyField(path, addr, false, nil); len(errs) > 0 {
			return errs
		}
		ip := netutils.ParseIPSloppy(addr)
		var errs field.ErrorList
		if typ == discoveryv1.AddressTypeIPv4 && ip.To4() == nil {
			errs = append(errs, field.Invalid(path, addr, "must be an IPv4 address"))
		}
		if typ == discoveryv1.AddressTypeIPv6 && ip.To4() != nil {
			errs = append(errs, field.Invalid(path, addr, "must be an IPv6 address"))
		}
		switch {
		case ip.IsUnspecified():
			errs = append(errs, field.Invalid(path, addr, fmt.Sprintf("may not be unspecified (%v)", addr)))
		case ip.IsLoopback():
			errs = append(errs, field.Invalid(path, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
		case ip.IsLinkLocalUnicast():
			errs = append(errs, field.Invalid(path, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
		case ip.IsLinkLocalMulticast():
			errs = append(errs, field.Invalid(path, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
		}
		return errs
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(path, addr)
	}
	// An unknown type has been refused already.
	return nil
}

func validateHints(h *discoveryv1.EndpointHints, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	zpath := path.Child("forZones")
	if len(h.ForZones) > maxHints {
		errs = append(errs, field.TooMany(zpath, len(h.ForZones), maxHints))
	} else {
		seen := sets.New[string]()
		for i, z := range h.ForZones {
			p := zpath.Index(i).Child("name")
			if seen.Has(z.Name) {
				errs = append(errs, field.Duplicate(p, z.Name))
			}
			seen.Insert(z.Name)
			for _, msg := range content.IsLabelValue(z.Name) {
				errs = append(errs, field.Invalid(p, z.Name, msg))
			}
		}
	}
	npath := path.Child("forNodes")
	if len(h.ForNodes) > maxHints {
		errs = append(errs, field.TooMany(npath, len(h.ForNodes), maxHints))
		return errs
	}
	seen := sets.New[string]()
	for i, n := range h.ForNodes {
		p := npath.Index(i).Child("name")
		if seen.Has(n.Name) {
			errs = append(errs, field.Duplicate(p, n.Name))
		}
		seen.Insert(n.Name)
		for _, msg := range apivalidation.NameIsDNSSubdomain(n.Name, false) {
			errs = append(errs, field.Invalid(p, n.Name, msg))
		}
	}
	return errs
}

func validatePorts(ports []discoveryv1.EndpointPort, path *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(path, len(ports), maxPorts)}
	}
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := path.Index(i)
		name := ptr.Deref(port.Name, "")
		if name != "" {
			for _, msg := range content.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(p.Child("name"), name, msg))
			}
		}
		// Ports are told apart by name, so only one may go unnamed.
		if names.Has(name) {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		names.Insert(name)
		switch {
		case port.Protocol == nil:
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		case !portProtocols.Has(*port.Protocol):
			errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol, sets.List(portProtocols)))
		}
		if port.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*port.Port)) {
				errs = append(errs, field.Invalid(p.Child("port"), *port.Port, msg))
			}
		}
		if port.AppProtocol != nil {
			for _, msg := range content.IsLabelKey(*port.AppProtocol) {
				errs = append(errs, field.Invalid(p.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}
