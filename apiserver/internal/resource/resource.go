// Package resource describes the kinds the apiserver serves: for each one its
// names, scope, Go type, strategy (defaults, validation, which fields status
// owns), table columns and selectable fields. Adding a kind is adding one
// Descriptor; the generic registry and the HTTP layer do the rest.
package resource

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Subresource names.
const (
	Status   = "status"
	Scale    = "scale"
	Binding  = "binding"
	Eviction = "eviction"
	Finalize = "finalize"
	Log      = "log"
	Exec     = "exec"
)

// Descriptor is everything the apiserver knows about one kind.
type Descriptor struct {
	Group    string
	Version  string
	Kind     string
	Resource string // plural, lower case: "pods"
	Singular string // "pod"

	ShortNames []string
	Categories []string
	Namespaced bool

	New     func() runtime.Object
	NewList func() runtime.Object

	Strategy Strategy

	// NameValidator checks metadata.name (apimachinery's NameIsDNSSubdomain
	// and friends); nil means DNS subdomain.
	NameValidator func(name string, prefix bool) []string

	// Subresources the kind serves besides the object itself.
	Subresources []string

	// TracksGeneration bumps metadata.generation on every spec change.
	TracksGeneration bool

	// Scale reads and writes the replica count behind the scale subresource.
	Scale *ScaleAccess

	// Table gives the `kubectl get` columns.
	Table *Table

	// Fields returns the selectable fields beyond metadata.name and
	// metadata.namespace (spec.nodeName for pods, involvedObject.* for events).
	Fields func(obj runtime.Object) fields.Set
	// FieldLabels lists the field names Fields returns, to refuse others.
	FieldLabels []string
}

// GroupVersion of the kind.
func (d *Descriptor) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: d.Group, Version: d.Version}
}

// GVK of the kind.
func (d *Descriptor) GVK() schema.GroupVersionKind {
	return d.GroupVersion().WithKind(d.Kind)
}

// GroupResource names the kind in error messages: "pods", "deployments.apps".
func (d *Descriptor) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: d.Group, Resource: d.Resource}
}

// APIVersion is the apiVersion field value: "v1", "apps/v1".
func (d *Descriptor) APIVersion() string { return d.GroupVersion().String() }

// HasSubresource reports whether the kind serves sub.
func (d *Descriptor) HasSubresource(sub string) bool {
	for _, s := range d.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// SupportsFieldLabel reports whether label can be used in a field selector.
func (d *Descriptor) SupportsFieldLabel(label string) bool {
	if label == "metadata.name" || (d.Namespaced && label == "metadata.namespace") {
		return true
	}
	for _, l := range d.FieldLabels {
		if l == label {
			return true
		}
	}
	return false
}

// ScaleAccess reads and writes a kind's replicas for the scale subresource.
type ScaleAccess struct {
	// Get returns spec replicas, status replicas and the label selector.
	Get func(obj runtime.Object) (spec, status int32, selector string)
	// Set sets spec replicas.
	Set func(obj runtime.Object, replicas int32)
}

// Table renders objects as the rows of `kubectl get`.
type Table struct {
	Columns []metav1.TableColumnDefinition
	// Row returns the cells of obj, one per column.
	Row func(obj runtime.Object) ([]interface{}, error)
}

// Strategy holds a kind's own rules. The generic registry has already set
// uid, timestamps, generation and resourceVersion, and copied what status
// owns; the strategy adds what is particular to the kind.
type Strategy interface {
	// Default fills unset fields as Kubernetes does, on create and update.
	Default(obj runtime.Object)
	// PrepareForCreate resets what a client may not set on create.
	PrepareForCreate(obj runtime.Object)
	// PrepareForUpdate carries over from old what a client may not change.
	PrepareForUpdate(obj, old runtime.Object)
	// Validate checks a new object; field paths name each bad field.
	Validate(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks a change, immutable fields included.
	ValidateUpdate(obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks a change made through the status subresource.
	ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList
	// Warnings names fields the object sets that Coracle accepts but does
	// not act on; they go back to the client as Warning headers.
	Warnings(obj runtime.Object) []string
	// AllowCreateOnUpdate lets PUT create a missing object.
	AllowCreateOnUpdate() bool
	// GracePeriod says how long deleting obj waits, given the client's
	// request (nil when unset). graceful false deletes at once.
	GracePeriod(obj runtime.Object, requested *int64) (seconds int64, graceful bool)
}

// DefaultStrategy is embedded by kinds with no rules of their own for some
// of the methods.
type DefaultStrategy struct{}

func (DefaultStrategy) Default(runtime.Object)                                   {}
func (DefaultStrategy) PrepareForCreate(runtime.Object)                          {}
func (DefaultStrategy) PrepareForUpdate(_, _ runtime.Object)                     {}
func (DefaultStrategy) Validate(runtime.Object) field.ErrorList                  { return nil }
func (DefaultStrategy) ValidateUpdate(_, _ runtime.Object) field.ErrorList       { return nil }
func (DefaultStrategy) ValidateStatusUpdate(_, _ runtime.Object) field.ErrorList { return nil }
func (DefaultStrategy) Warnings(runtime.Object) []string                         { return nil }
func (DefaultStrategy) AllowCreateOnUpdate() bool                                { return false }
func (DefaultStrategy) GracePeriod(runtime.Object, *int64) (int64, bool)         { return 0, false }

// Registry is the set of served kinds, looked up by group, version and
// plural resource name.
type Registry struct {
	byGVR  map[schema.GroupVersionResource]*Descriptor
	groups []string // in registration order; "" is the core group
	order  []*Descriptor
}

// NewRegistry builds a registry and refuses a kind registered twice.
func NewRegistry(descs ...*Descriptor) (*Registry, error) {
	r := &Registry{byGVR: map[schema.GroupVersionResource]*Descriptor{}}
	seen := map[string]bool{}
	for _, d := range descs {
		gvr := d.GroupVersion().WithResource(d.Resource)
		if _, dup := r.byGVR[gvr]; dup {
			return nil, fmt.Errorf("resource %s registered twice", gvr)
		}
		if d.New == nil || d.NewList == nil || d.Strategy == nil {
			return nil, fmt.Errorf("resource %s: New, NewList and Strategy are required", gvr)
		}
		r.byGVR[gvr] = d
		r.order = append(r.order, d)
		if !seen[d.Group] {
			seen[d.Group] = true
			r.groups = append(r.groups, d.Group)
		}
	}
	return r, nil
}

// Lookup returns the descriptor for group/version/resource.
func (r *Registry) Lookup(group, version, res string) (*Descriptor, bool) {
	d, ok := r.byGVR[schema.GroupVersionResource{Group: group, Version: version, Resource: res}]
	return d, ok
}

// All returns every descriptor in registration order.
func (r *Registry) All() []*Descriptor { return r.order }

// Groups returns the served API groups ("" first when present).
func (r *Registry) Groups() []string { return r.groups }

// Versions returns the versions served for group, sorted.
func (r *Registry) Versions(group string) []string {
	set := map[string]bool{}
	for _, d := range r.order {
		if d.Group == group {
			set[d.Version] = true
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// InGroupVersion returns the descriptors served at group/version.
func (r *Registry) InGroupVersion(group, version string) []*Descriptor {
	var out []*Descriptor
	for _, d := range r.order {
		if d.Group == group && d.Version == version {
			out = append(out, d)
		}
	}
	return out
}

// KeyPrefix is the etcd prefix under which all objects of d live:
// /registry/{resource}/, as Kubernetes lays its keys out.
func (d *Descriptor) KeyPrefix() string {
	return "/registry/" + d.Resource + "/"
}

// Key is the etcd key of one object; namespace is "" for cluster-scoped kinds.
func (d *Descriptor) Key(namespace, name string) string {
	if d.Namespaced {
		return d.KeyPrefix() + namespace + "/" + name
	}
	return d.KeyPrefix() + name
}

// NamespacePrefix is the etcd prefix of d's objects in one namespace, or of
// all of them when namespace is "".
func (d *Descriptor) NamespacePrefix(namespace string) string {
	if !d.Namespaced || namespace == "" {
		return d.KeyPrefix()
	}
	return d.KeyPrefix() + namespace + "/"
}

// String names the kind for logs: "pods", "deployments.apps".
func (d *Descriptor) String() string {
	return strings.TrimSuffix(d.GroupResource().String(), ".")
}

// DeletionHolder is implemented by strategies of kinds (namespaces) whose
// deletion waits on a field of their own besides metadata.finalizers.
type DeletionHolder interface {
	// HoldsDeletion reports whether obj must stay until that field clears.
	HoldsDeletion(obj runtime.Object) bool
	// MarkDeleting records on obj that deletion has begun.
	MarkDeleting(obj runtime.Object)
}
