package server

import (
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/managedfields"

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

// get returns d's manager through sub ("" or "status"), nil for other
// subresources and for kinds without one.
func (f *fieldManagers) get(d *apiresource.Descriptor, sub string) endpoints.FieldManager {
	if sub != "" && sub != apiresource.Status {
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
	var opts []fieldmanager.Option
	tc, custom := f.custom[d]
	if !custom {
		tc = f.builtin
		opts = append(opts, fieldmanager.Typed(d.New), fieldmanager.Defaulter(d.Strategy.Default))
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
