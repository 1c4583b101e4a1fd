package apiresource

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilversion "k8s.io/apimachinery/pkg/version"
)

// Registry is the set of served kinds, looked up by group, version and
// plural resource name. The built-in kinds are there from the start;
// CustomResourceDefinitions add and remove theirs while the server runs,
// so every method is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	byGVR  map[schema.GroupVersionResource]*Descriptor
	groups []string // in registration order; "" is the core group
	order  []*Descriptor
}

// NewRegistry builds a registry and refuses a kind registered twice.
func NewRegistry(descs ...*Descriptor) (*Registry, error) {
	r := &Registry{byGVR: map[schema.GroupVersionResource]*Descriptor{}}
	if err := r.Add(descs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Add registers descs, all or none: a resource already served, or a
// descriptor missing what every kind needs, is an error.
func (r *Registry) Add(descs ...*Descriptor) error {
	return r.Replace(nil, descs)
}

// Replace stops serving old and starts serving descs in one step, so a
// kind that changes (a CRD's new schema) is never missing in between;
// all or none.
func (r *Registry) Replace(old, descs []*Descriptor) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	leaving := map[*Descriptor]bool{}
	for _, d := range old {
		leaving[d] = true
	}
	adding := map[schema.GroupVersionResource]bool{}
	for _, d := range descs {
		gvr := d.GroupVersion().WithResource(d.Resource)
		if cur, dup := r.byGVR[gvr]; (dup && !leaving[cur]) || adding[gvr] {
			return fmt.Errorf("resource %s registered twice", gvr)
		}
		if d.New == nil || (d.NewList == nil && !d.Virtual()) || d.Strategy == nil {
			return fmt.Errorf("resource %s: New, NewList and Strategy are required", gvr)
		}
		adding[gvr] = true
	}
	r.removeLocked(old)
	for _, d := range descs {
		r.byGVR[d.GroupVersion().WithResource(d.Resource)] = d
		r.order = append(r.order, d)
		if !slices.Contains(r.groups, d.Group) {
			r.groups = append(r.groups, d.Group)
		}
	}
	return nil
}

// Remove stops serving descs; a group left with no kinds disappears.
func (r *Registry) Remove(descs ...*Descriptor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(descs)
}

func (r *Registry) removeLocked(descs []*Descriptor) {
	for _, d := range descs {
		gvr := d.GroupVersion().WithResource(d.Resource)
		if r.byGVR[gvr] == d {
			delete(r.byGVR, gvr)
		}
		r.order = slices.DeleteFunc(r.order, func(o *Descriptor) bool { return o == d })
	}
	r.groups = slices.DeleteFunc(r.groups, func(g string) bool {
		return !slices.ContainsFunc(r.order, func(d *Descriptor) bool { return d.Group == g })
	})
}

// Lookup returns the descriptor for group/version/resource.
func (r *Registry) Lookup(group, version, res string) (*Descriptor, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.byGVR[schema.GroupVersionResource{Group: group, Version: version, Resource: res}]
	return d, ok
}

// All returns every descriptor in registration order.
func (r *Registry) All() []*Descriptor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

// Stored returns the descriptors of the kinds kept in etcd (all but the
// virtual ones), in registration order.
func (r *Registry) Stored() []*Descriptor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Descriptor
	for _, d := range r.order {
		if !d.Virtual() {
			out = append(out, d)
		}
	}
	return out
}

// Groups returns the served API groups ("" first when present).
func (r *Registry) Groups() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.groups)
}

// Versions returns the versions served for group, the preferred first:
// Kubernetes' version priority (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 >
// others alphabetically), as discovery orders them.
func (r *Registry) Versions(group string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
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
	sort.Slice(out, func(i, j int) bool { return utilversion.CompareKubeAwareVersionStrings(out[i], out[j]) > 0 })
	return out
}

// InGroupVersion returns the descriptors served at group/version.
func (r *Registry) InGroupVersion(group, version string) []*Descriptor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Descriptor
	for _, d := range r.order {
		if d.Group == group && d.Version == version {
			out = append(out, d)
		}
	}
	return out
}
