// Package apiresource describes the kinds the apiserver serves: for each one
// its names, scope, Go type, strategy (defaults, validation, which fields
// status owns), table columns and selectable fields, and the Registry of
// them all that requests are looked up in. Adding a kind is adding one
// Descriptor; the generic store and the HTTP layer do the rest.
package apiresource

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
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
	// Attach, PortForward and Proxy stream to a pod's kubelet, a pod, a
	// Service's endpoint or a node's kubelet (CONNECT subresources).
	Attach      = "attach"
	PortForward = "portforward"
	Proxy       = "proxy"
	// EphemeralContainers writes pods' spec.ephemeralContainers.
	EphemeralContainers = "ephemeralcontainers"
	// Resize writes pods' containers' resources and resizePolicy (in-place
	// pod resize).
	Resize = "resize"
	// Approval is CertificateSigningRequests' approval subresource, which
	// writes the Approved and Denied conditions.
	Approval = "approval"
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

	// Create, when set, makes the kind virtual, as Kubernetes' review
	// APIs (TokenReview, SubjectAccessReview): nothing is stored, the only
	// verb is create, and the answer is what Create makes of the decoded
	// body; namespace is the request's. NewList may then be nil.
	Create func(ctx context.Context, namespace string, obj runtime.Object) (runtime.Object, error)

	// Actions are subresources that take a body of a kind of their own and
	// answer an object, by create only, as serviceaccounts/token.
	Actions map[string]*Action

	// StoragePrefix, when set, is the etcd prefix of the kind's objects in
	// place of /registry/{resource}/: custom resources live under
	// /registry/{group}/{resource}/, as Kubernetes keeps them, and all the
	// served versions of one share it.
	StoragePrefix string

	// ReadAs, when set, turns an object read from storage into this
	// version, in place (custom resources stored in another served
	// version: with conversion None only apiVersion changes, with a
	// conversion webhook the webhook converts).
	ReadAs func(obj runtime.Object) error

	// Storage, when set, says the kind's objects are kept in the form of
	// another served version of the same resource, as Kubernetes keeps
	// every version of a resource in one storage version: autoscaling/v1
	// HorizontalPodAutoscalers are stored as autoscaling/v2 ones,
	// events.k8s.io/v1 Events as core/v1 ones. Both versions share the
	// etcd prefix, so an object is one object (one uid, one
	// resourceVersion) whichever version writes or reads it; the generic
	// store and the watch cache convert at their edges with
	// ToStorage and FromStorage.
	Storage *StorageForm

	// UnknownFields, when set, names the fields of a decoded request
	// body the kind does not know ("spec.foo"), for kinds whose Go type
	// cannot tell (custom resources, pruned by their schema); the
	// fieldValidation directive decides what becomes of them.
	UnknownFields func(obj runtime.Object) []string
}

// StorageForm is the Go type and the conversions of a kind stored in
// another version's form. To and From must not modify their argument:
// the objects handed to them may be the watch cache's.
type StorageForm struct {
	// GVK is the stored form's apiVersion and kind, written to etcd.
	GVK schema.GroupVersionKind
	// New returns an empty object of the stored Go type.
	New func() runtime.Object
	// To converts a served object into the stored form.
	To func(obj runtime.Object) (runtime.Object, error)
	// From converts a stored object into the served form.
	From func(obj runtime.Object) (runtime.Object, error)
}

// StoredAs builds the StorageForm of a kind served as T and stored as S
// (of kind gvk) from the two typed conversions.
func StoredAs[T, S runtime.Object](gvk schema.GroupVersionKind, to func(T) (S, error), from func(S) (T, error)) *StorageForm {
	stored := reflect.TypeFor[S]().Elem()
	return &StorageForm{
		GVK: gvk,
		New: func() runtime.Object { return reflect.New(stored).Interface().(runtime.Object) },
		To: func(obj runtime.Object) (runtime.Object, error) {
			served, ok := obj.(T)
			if !ok {
				return nil, fmt.Errorf("convert %T to %s: not a %s", obj, gvk, reflect.TypeFor[T]().Elem().Name())
			}
			return to(served)
		},
		From: func(obj runtime.Object) (runtime.Object, error) {
			s, ok := obj.(S)
			if !ok {
				return nil, fmt.Errorf("convert %T from %s: not a %s", obj, gvk, stored.Name())
			}
			return from(s)
		},
	}
}

// NewStored returns an empty object of the Go type d's objects are
// stored as: New's, unless Storage says otherwise.
func (d *Descriptor) NewStored() runtime.Object {
	if d.Storage != nil {
		return d.Storage.New()
	}
	return d.New()
}

// FromStorage returns an object read from storage (a NewStored object)
// as d serves it: converted from the storage form, or finished by ReadAs
// (in place). An object that needs neither is returned as it is.
func (d *Descriptor) FromStorage(obj runtime.Object) (runtime.Object, error) {
	switch {
	case d.Storage != nil:
		out, err := d.Storage.From(obj)
		if err != nil {
			return nil, err
		}
		out.GetObjectKind().SetGroupVersionKind(d.GVK())
		return out, nil
	case d.ReadAs != nil:
		if err := d.ReadAs(obj); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

// ToStorage returns obj in the form d's objects are stored in, obj
// itself unless Storage says otherwise.
func (d *Descriptor) ToStorage(obj runtime.Object) (runtime.Object, error) {
	if d.Storage == nil {
		return obj, nil
	}
	out, err := d.Storage.To(obj)
	if err != nil {
		return nil, err
	}
	out.GetObjectKind().SetGroupVersionKind(d.Storage.GVK)
	return out, nil
}

// Action is a create-only subresource: Do gets the object named in the
// URL's namespace and name and the decoded body.
type Action struct {
	// GVK is the kind of the body and of the answer.
	GVK schema.GroupVersionKind
	New func() runtime.Object
	Do  func(ctx context.Context, namespace, name string, body runtime.Object) (runtime.Object, error)
}

// Virtual reports whether the kind is stored nowhere (see Create).
func (d *Descriptor) Virtual() bool { return d.Create != nil }

// NewDescriptor starts the Descriptor of the kind served as resource (the
// plural, lower case) at gv, whose objects and lists have the types of obj
// and list. The kind is obj's Go type name, as runtime.Scheme names kinds,
// and the singular name is the kind in lower case, as Kubernetes'
// discovery gives it. New and NewList return fresh empty objects of those
// types; obj and list themselves are never handed out.
func NewDescriptor(gv schema.GroupVersion, resource string, obj, list runtime.Object) *Descriptor {
	objType, listType := reflect.TypeOf(obj).Elem(), reflect.TypeOf(list).Elem()
	return &Descriptor{
		Group: gv.Group, Version: gv.Version,
		Kind: objType.Name(), Resource: resource, Singular: strings.ToLower(objType.Name()),
		New:     func() runtime.Object { return reflect.New(objType).Interface().(runtime.Object) },
		NewList: func() runtime.Object { return reflect.New(listType).Interface().(runtime.Object) },
	}
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
	if _, ok := d.Actions[sub]; ok {
		return true
	}
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

// ScaleOf builds the ScaleAccess of a kind of type T from where T keeps
// its replicas: replicas returns the address of the object's spec.replicas
// (unset reads as 1, the API's default), its status.replicas and its label
// selector as a string.
func ScaleOf[T runtime.Object](replicas func(obj T) (spec **int32, status int32, selector string)) *ScaleAccess {
	return &ScaleAccess{
		Get: func(obj runtime.Object) (int32, int32, string) {
			spec, status, selector := replicas(obj.(T))
			return ptr.Deref(*spec, 1), status, selector
		},
		Set: func(obj runtime.Object, n int32) {
			spec, _, _ := replicas(obj.(T))
			*spec = &n
		},
	}
}

// Table renders objects as the rows of `kubectl get`.
type Table struct {
	Columns []metav1.TableColumnDefinition
	// Row returns the cells of obj, one per column.
	Row func(obj runtime.Object) ([]interface{}, error)
	// ListRows, when set, makes the rows of a list at once, for kinds
	// whose cells depend on the other items (the StorageClass that is
	// the effective default); single objects still go through Row.
	ListRows func(items []runtime.Object) ([][]interface{}, error)
}

// ConvertedTable returns t's columns for a kind served in another form
// than t renders: convert turns each object into t's before its row is
// made, as Kubernetes prints every version of a resource with the one
// printer of its internal type.
func ConvertedTable(t *Table, convert func(obj runtime.Object) (runtime.Object, error)) *Table {
	return &Table{
		Columns: t.Columns,
		Row: func(obj runtime.Object) ([]interface{}, error) {
			converted, err := convert(obj)
			if err != nil {
				return nil, err
			}
			return t.Row(converted)
		},
	}
}

// KeyPrefix is the etcd prefix under which all objects of d live:
// /registry/{resource}/, as Kubernetes lays its keys out.
func (d *Descriptor) KeyPrefix() string {
	if d.StoragePrefix != "" {
		return d.StoragePrefix
	}
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
