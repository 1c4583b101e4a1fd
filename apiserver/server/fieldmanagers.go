package server

import (
	"fmt"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/endpoints"
	"coracle.dev/apiserver/internal/fieldmanager"
)

// fieldManagers makes and keeps the field manager of each kind written
// through the object and through /status: the built-in kinds' from the
// OpenAPI models of k8s.io/api, a custom resource's from its CRD's
// schema (registered while the CRD is served).
type fieldManagers struct {
	s       *Server
	builtin managedfields.TypeConverter

	mu       sync.Mutex
	custom   map[*apiresource.Descriptor]managedfields.TypeConverter
	managers map[fmKey]*fieldmanager.Manager
	failed   map[fmKey]bool
}

type fmKey struct {
	d   *apiresource.Descriptor
	sub string
}

func newFieldManagers(s *Server) (*fieldManagers, error) {
	tc, err := fieldmanager.NewTypeConverter(s.openapi.Models())
	if err != nil {
		return nil, err
	}
	return &fieldManagers{
		s: s, builtin: tc, custom: map[*apiresource.Descriptor]managedfields.TypeConverter{},
		managers: map[fmKey]*fieldmanager.Manager{}, failed: map[fmKey]bool{},
	}, nil
}

// addCustom registers the type converter of a CRD's descriptors.
func (f *fieldManagers) addCustom(crd *apiextensionsv1.CustomResourceDefinition, descs []*apiresource.Descriptor) error {
	tc, err := fieldmanager.NewCRDTypeConverter(f.s.openapi.Models(), crd)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range descs {
		f.custom[d] = tc
	}
	return nil
}

// removeCustom forgets a CRD's descriptors.
func (f *fieldManagers) removeCustom(descs []*apiresource.Descriptor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range descs {
		delete(f.custom, d)
		for key := range f.managers {
			if key.d == d {
				delete(f.managers, key)
			}
		}
	}
}

// typeConverter is d's: its CRD's for a custom resource, else the
// built-in kinds'.
func (f *fieldManagers) typeConverter(d *apiresource.Descriptor) managedfields.TypeConverter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tc, ok := f.custom[d]; ok {
		return tc
	}
	return f.builtin
}

// get returns d's manager through sub ("", "status", or pods'
// "ephemeralcontainers" and "resize"), nil for other subresources and for kinds
// without one.
func (f *fieldManagers) get(d *apiresource.Descriptor, sub string) endpoints.FieldManager {
	var opts []fieldmanager.Option
	switch sub {
	case "", apiresource.Status:
	case apiresource.EphemeralContainers:
		// The endpoint keeps nothing but the ephemeral containers of
		// what it is sent, as upstream's reset fields filter says.
		opts = append(opts, fieldmanager.Only(fieldpath.MakePrefixMatcherOrDie("spec", "ephemeralContainers")))
	case apiresource.Resize:
		// Only the containers' resources and resize policies, as
		// upstream's resize strategy's reset fields filter.
		opts = append(opts, fieldmanager.Only(
			fieldpath.MakePrefixMatcherOrDie("spec", "containers", fieldpath.MatchAnyPathElement(), "resources"),
			fieldpath.MakePrefixMatcherOrDie("spec", "containers", fieldpath.MatchAnyPathElement(), "resizePolicy"),
			fieldpath.MakePrefixMatcherOrDie("spec", "initContainers", fieldpath.MatchAnyPathElement(), "resources"),
			fieldpath.MakePrefixMatcherOrDie("spec", "initContainers", fieldpath.MatchAnyPathElement(), "resizePolicy"),
		))
	default:
		return nil
	}
	key := fmKey{d, sub}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.managers[key]; ok {
		return m
	}
	if f.failed[key] {
		return nil
	}
	tc, custom := f.custom[d]
	if !custom {
		tc = f.builtin
		opts = append(opts, fieldmanager.Typed(d.New), fieldmanager.Defaulter(d.Strategy.Default))
		if views := f.views(d); len(views) > 1 {
			opts = append(opts, fieldmanager.Versions(convertViews(views), otherVersions(d, views)...))
		}
	}
	if d.HasSubresource(apiresource.Status) {
		opts = append(opts, fieldmanager.StatusSubresource())
	}
	m, err := fieldmanager.New(tc, d.GVK(), sub, opts...)
	if err != nil {
		// A kind the models do not describe keeps no managed fields.
		f.failed[key] = true
		f.s.log.Sugar().Debugf("no field manager for %s: %v", d, err)
		return nil
	}
	f.managers[key] = m
	return m
}

// views are the descriptors serving d's objects: d, and the other
// versions of its resource kept in the same stored form under the same
// prefix (autoscaling/v1 and v2 HorizontalPodAutoscalers, core/v1 and
// events.k8s.io/v1 Events), whose managedFields entries d's writes keep.
func (f *fieldManagers) views(d *apiresource.Descriptor) []*apiresource.Descriptor {
	var out []*apiresource.Descriptor
	for _, o := range f.s.registry.Stored() {
		if o.KeyPrefix() == d.KeyPrefix() && o.Kind == d.Kind && storedKind(o) == storedKind(d) {
			out = append(out, o)
		}
	}
	return out
}

// storedKind is the apiVersion and kind d's objects are kept as.
func storedKind(d *apiresource.Descriptor) schema.GroupVersionKind {
	if d.Storage != nil {
		return d.Storage.GVK
	}
	return d.GVK()
}

// otherVersions are the versions of views but d's.
func otherVersions(d *apiresource.Descriptor, views []*apiresource.Descriptor) []schema.GroupVersion {
	var out []schema.GroupVersion
	for _, v := range views {
		if v != d {
			out = append(out, v.GroupVersion())
		}
	}
	return out
}

// convertViews converts objects between the versions views serve through
// their stored form, as kube-apiserver converts through its internal
// version: ToStorage of the version they are at, FromStorage of the one
// asked for.
func convertViews(views []*apiresource.Descriptor) fieldmanager.VersionConverter {
	at := func(gv schema.GroupVersion) *apiresource.Descriptor {
		for _, v := range views {
			if v.GroupVersion() == gv {
				return v
			}
		}
		return nil
	}
	return func(obj runtime.Object, gv schema.GroupVersion) (runtime.Object, error) {
		from := obj.GetObjectKind().GroupVersionKind()
		src, dst := at(from.GroupVersion()), at(gv)
		if src == nil || dst == nil {
			return nil, runtime.NewNotRegisteredGVKErrForTarget("fieldmanager", from, gv)
		}
		in := obj
		if u, ok := obj.(*unstructured.Unstructured); ok {
			in = src.New()
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), in); err != nil {
				return nil, fmt.Errorf("convert %s to %s: %w", from, gv, err)
			}
		}
		stored, err := src.ToStorage(in)
		if err != nil {
			return nil, err
		}
		out, err := dst.FromStorage(stored)
		if err != nil {
			return nil, err
		}
		if out == obj {
			// Neither version converts (one version asked for its own):
			// obj may be the store's, and is not ours to change.
			out = out.DeepCopyObject()
		}
		out.GetObjectKind().SetGroupVersionKind(dst.GVK())
		return out, nil
	}
}
