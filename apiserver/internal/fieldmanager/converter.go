package fieldmanager

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// converter is the runtime.ObjectConvertor (and ObjectCreater, through
// its Manager) the managedfields machinery converts objects with. The
// apiserver has no internal types: the conversions are between a kind's
// Go type and its unstructured form (what structured-merge-diff hands
// back); for custom resources, between their versions, which (conversion
// None) differ in apiVersion only; and, for a built-in kind served at
// several versions (Versions), between those, through the Manager's
// VersionConverter. Anything else is "not registered": the merge then
// drops the managers that recorded their fields at a version it cannot
// read, as Kubernetes does for a version no longer served.
//
// Objects handed in are never modified: the store's (and the watch
// cache's) objects may be among them.
type converter struct {
	m *Manager
}

var (
	_ runtime.ObjectConvertor = converter{}
	_ runtime.ObjectCreater   = converter{}
)

func (c converter) New(kind schema.GroupVersionKind) (runtime.Object, error) { return c.m.New(kind) }

// ConvertToVersion returns in as an object of the Manager's kind at the
// target version.
func (c converter) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	from := in.GetObjectKind().GroupVersionKind()
	kind, ok := c.targetKind(target)
	if !ok || kind.Kind != c.m.kind.Kind || (from.Kind != "" && from.Kind != kind.Kind) {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, target)
	}
	u, isUnstructured := in.(*unstructured.Unstructured)
	if c.m.newObj == nil {
		// A custom resource: versions differ in apiVersion only.
		if !isUnstructured {
			return nil, fmt.Errorf("fieldmanager: %s objects are unstructured, got %T", c.m.kind, in)
		}
		if (!from.Empty() && from.Group != kind.Group) || kind.Group != c.m.kind.Group {
			return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, target)
		}
		if from == kind {
			return in, nil
		}
		out := u.DeepCopy()
		out.SetGroupVersionKind(kind)
		return out, nil
	}
	own := c.m.kind.GroupVersion()
	if (!from.GroupVersion().Empty() && from.GroupVersion() != own) || kind.GroupVersion() != own {
		return c.convertVersion(in, kind)
	}
	// A built-in kind at the Manager's version.
	if isUnstructured {
		out := c.m.newObj()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
			return nil, fmt.Errorf("fieldmanager: convert to %s: %w", kind, err)
		}
		out.GetObjectKind().SetGroupVersionKind(kind)
		return out, nil
	}
	if from == kind {
		return in, nil
	}
	// The store's objects may carry no apiVersion and kind; the type
	// converter finds a type by them.
	out := in.DeepCopyObject()
	out.GetObjectKind().SetGroupVersionKind(kind)
	return out, nil
}

// targetKind is the kind target asks for. A Manager that converts
// between versions also takes a version of another group, which the
// machinery asks for by group and version only (core/v1 beside
// events.k8s.io/v1 Events).
func (c converter) targetKind(target runtime.GroupVersioner) (schema.GroupVersionKind, bool) {
	if kind, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{c.m.kind}); ok {
		return kind, true
	}
	if gv, ok := target.(schema.GroupVersion); ok && c.m.convert != nil {
		return gv.WithKind(c.m.kind.Kind), true
	}
	return schema.GroupVersionKind{}, false
}

// convertVersion converts in, of the Manager's kind at any version, to
// kind's version with the Manager's VersionConverter.
func (c converter) convertVersion(in runtime.Object, kind schema.GroupVersionKind) (runtime.Object, error) {
	from := in.GetObjectKind().GroupVersionKind()
	if c.m.convert == nil {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, kind.GroupVersion())
	}
	if from.Kind == "" || from.GroupVersion().Empty() {
		// A store's object may carry no apiVersion (it is of the
		// Manager's version) or no kind: the VersionConverter tells
		// versions by them.
		if from.GroupVersion().Empty() {
			from = c.m.kind
		}
		in = in.DeepCopyObject()
		in.GetObjectKind().SetGroupVersionKind(from.GroupVersion().WithKind(c.m.kind.Kind))
	}
	out, err := c.m.convert(in, kind.GroupVersion())
	if err != nil {
		return nil, err
	}
	if out.GetObjectKind().GroupVersionKind().Empty() {
		out.GetObjectKind().SetGroupVersionKind(kind)
	}
	return out, nil
}

// Convert is not used by the managedfields machinery.
func (c converter) Convert(in, out, _ any) error {
	return fmt.Errorf("fieldmanager: cannot convert %T to %T", in, out)
}

// ConvertFieldLabel is not used by the managedfields machinery.
func (c converter) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return "", "", fmt.Errorf("fieldmanager: field label %s of %s not supported", label, gvk)
}
