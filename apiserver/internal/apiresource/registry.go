package apiresource

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

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
		if d.New == nil || (d.NewList == nil && !d.Virtual()) || d.Strategy == nil {
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

// Stored returns the descriptors of the kinds kept in etcd (all but the
// virtual ones), in registration order.
func (r *Registry) Stored() []*Descriptor {
	var out []*Descriptor
	for _, d := range r.order {
		if !d.Virtual() {
			out = append(out, d)
		}
	}
	return out
}

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
