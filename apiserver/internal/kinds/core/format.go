package core

import (
	"path"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the value formats several kinds share: names, ports,
// protocols, quantities and file paths, each reported the way Kubernetes
// reports it.

// invalids turns the messages of an apimachinery format check into one
// Invalid error each.
func invalids(p *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, value, msg))
	}
	return errs
}

func validateDNSLabel(value string, p *field.Path) field.ErrorList {
	return invalids(p, value, validation.IsDNS1123Label(value))
}

func validateDNSSubdomain(value string, p *field.Path) field.ErrorList {
	return invalids(p, value, validation.IsDNS1123Subdomain(value))
}

func validateQualifiedName(value string, p *field.Path) field.ErrorList {
	return invalids(p, value, validation.IsQualifiedName(value))
}

func validateNonnegative(value int64, p *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(value, p)
}

var supportedProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

func validateProtocol(protocol corev1.Protocol, p *field.Path) field.ErrorList {
	switch protocol {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	case "":
		return field.ErrorList{field.Required(p, "")}
	}
	return field.ErrorList{field.NotSupported(p, protocol, supportedProtocols)}
}

// validatePortNumOrName checks a port given by number (1-65535) or by the
// IANA_SVC_NAME of a container port.
func validatePortNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	if port.Type == intstr.String {
		return invalids(p, port.StrVal, validation.IsValidPortName(port.StrVal))
	}
	return invalids(p, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
}

func validatePortNum(port int32, p *field.Path) field.ErrorList {
	return invalids(p, port, validation.IsValidPortNum(int(port)))
}

const isNotPositiveErrorMsg = "must be greater than zero"

func validateNonnegativeQuantity(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(p, q.String(), apivalidation.IsNegativeErrorMsg)}
	}
	return nil
}

func validatePositiveQuantity(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(p, q.String(), isNotPositiveErrorMsg)}
	}
	return nil
}

// isNativeResource reports whether name belongs to Kubernetes: unprefixed
// or under kubernetes.io/.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedResource reports whether name is a device plugin's resource
// (example.com/gpu), which is counted in whole units and not overcommitted.
func isExtendedResource(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func overcommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePages(name)
}

// validateResourceQuantity checks a quantity is not negative, and whole for
// the resources counted in units.
func validateResourceQuantity(name corev1.ResourceName, q resource.Quantity, p *field.Path) field.ErrorList {
	errs := validateNonnegativeQuantity(q, p)
	if isExtendedResource(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(p, q.String(), "must be an integer"))
	}
	return errs
}

// validateLocalDescendingPath checks a path meant to stay below a directory:
// relative and without "..".
func validateLocalDescendingPath(target string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(p, target, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(target, p)...)
}

func validatePathNoBacksteps(target string, p *field.Path) field.ErrorList {
	for _, part := range strings.Split(target, "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalNonReservedPath is validateLocalDescendingPath that also
// keeps clear of the "..data" names the kubelet's atomic writer uses.
func validateLocalNonReservedPath(target string, p *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, p)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(p, target, "must not start with '..'"))
	}
	return errs
}

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

func validateFileMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, fileModeErrorMsg)}
	}
	return nil
}

// setPointerFields returns the JSON names of the pointer fields set in a
// struct of alternatives (VolumeSource, PersistentVolumeSource), in field
// order; Kubernetes allows exactly one.
func setPointerFields(v any) []string {
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	var names []string
	for i := 0; i < rt.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// validateOneSource reports a struct of alternatives setting none or more
// than one of them, and returns the first one set ("" when none).
func validateOneSource(v any, p *field.Path) (string, field.ErrorList) {
	set := setPointerFields(v)
	if len(set) == 0 {
		return "", field.ErrorList{field.Required(p, "must specify a volume type")}
	}
	var errs field.ErrorList
	for _, extra := range set[1:] {
		errs = append(errs, field.Forbidden(p.Child(extra), "may not specify more than 1 volume type"))
	}
	return set[0], errs
}

// sortedKeys returns a map's keys in order, so errors come out in a stable
// order.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func inclusiveRange(lo, hi int) string { return validation.InclusiveRangeError(lo, hi) }
