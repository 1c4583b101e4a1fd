package fieldmanager

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// converter is the runtime.ObjectConvertor (and ObjectCreater, through
// its Manager) the managedfields machinery converts objects with. The
// apiserver keeps each kind in one version and has no internal types, so
// the only conversions are between a kind's Go type and its unstructured
// form (what structured-merge-diff hands back), and, for custom resources,
// between their versions, which (conversion None) differ in apiVersion
// only. Anything else is "not registered": the merge then drops the
// managers that recorded their fields at a version it cannot read, as
// Kubernetes does for a version no longer served.
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
	kind, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{c.m.kind})
	if !ok {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, target)
	}
	if kind.Kind != c.m.kind.Kind || kind.Group != c.m.kind.Group {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, target)
	}
	u, isUnstructured := in.(*unstructured.Unstructured)
	if !from.Empty() && (from.Group != kind.Group || from.Kind != kind.Kind) {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, target)
	}
	if c.m.newObj == nil {
		// A custom resource: versions differ in apiVersion only.
		if !isUnstructured {
			return nil, fmt.Errorf("fieldmanager: %s objects are unstructured, got %T", c.m.kind, in)
		}
		if from == kind {
			return in, nil
		}
		out := u.DeepCopy()
		out.SetGroupVersionKind(kind)
		return out, nil
	}
	// A built-in kind: one version only.
	if kind != c.m.kind || (!from.Empty() && from.Version != kind.Version) {
		return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, target)
	}
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

// Convert is not used by the managedfields machinery.
func (c converter) Convert(in, out, _ any) error {
	return fmt.Errorf("fieldmanager: cannot convert %T to %T", in, out)
}

// ConvertFieldLabel is not used by the managedfields machinery.
func (c converter) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return "", "", fmt.Errorf("fieldmanager: field label %s of %s not supported", label, gvk)
}
