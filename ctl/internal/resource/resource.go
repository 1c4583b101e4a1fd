// Package resource turns what a person types — "po,svc", "deploy/web",
// "all", a Kind from a manifest — into REST mappings through discovery, and
// reads the objects (or the server-side Tables) they name. It knows every
// kind the apiserver serves without a list of its own.
package resource

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// Info is one object: where it lives and, once read or parsed, its content.
type Info struct {
	Mapping   *meta.RESTMapping
	Namespace string
	Name      string
	// Object is the object read from the server or a manifest; nil until
	// then.
	Object *unstructured.Unstructured
	// Source is the file (or URL, or "STDIN") a manifest object came from.
	Source string
}

// Namespaced reports whether the kind lives in namespaces.
func (i *Info) Namespaced() bool { return Namespaced(i.Mapping) }

// Client is the dynamic client for the object's resource and namespace.
func (i *Info) Client(dyn dynamic.Interface) dynamic.ResourceInterface {
	return ClientFor(dyn, i.Mapping, i.Namespace)
}

// Ref is kubectl's "kind.group/name", e.g. "deployment.apps/web".
func (i *Info) Ref() string { return KindRef(i.Mapping.GroupVersionKind.GroupKind()) + "/" + i.Name }

// Quoted is kubectl's `resource.group "name"`, e.g. `deployment.apps "web"`.
func (i *Info) Quoted() string {
	return fmt.Sprintf("%s %q", KindRef(i.Mapping.GroupVersionKind.GroupKind()), i.Name)
}

// KindRef is the lower-case kind with its group: "pod", "deployment.apps".
func KindRef(gk schema.GroupKind) string {
	if gk.Group == "" {
		return strings.ToLower(gk.Kind)
	}
	return strings.ToLower(gk.Kind) + "." + gk.Group
}

// Namespaced reports whether a mapping's kind lives in namespaces.
func Namespaced(m *meta.RESTMapping) bool { return m.Scope.Name() == meta.RESTScopeNameNamespace }

// ClientFor is the dynamic client for a resource in a namespace (ignored
// for cluster-scoped kinds; "" means every namespace).
func ClientFor(dyn dynamic.Interface, m *meta.RESTMapping, ns string) dynamic.ResourceInterface {
	if Namespaced(m) {
		return dyn.Resource(m.Resource).Namespace(ns)
	}
	return dyn.Resource(m.Resource)
}

// Resolver maps names typed on the command line to REST mappings.
type Resolver struct {
	Mapper    meta.RESTMapper
	Discovery discovery.DiscoveryInterface
}

// Mapping resolves one type argument: a plural, singular or short resource
// name, optionally with version and group ("deployments.v1.apps",
// "deploy.apps"), or a Kind ("Deployment").
func (r *Resolver) Mapping(arg string) (*meta.RESTMapping, error) {
	gvr, gr := schema.ParseResourceArg(arg)
	var gvk schema.GroupVersionKind
	var err error
	if gvr != nil {
		gvk, err = r.Mapper.KindFor(*gvr)
	}
	if gvk.Empty() {
		gvk, err = r.Mapper.KindFor(gr.WithVersion(""))
	}
	if gvk.Empty() {
		// A Kind, as in "Deployment" or "Deployment.v1.apps".
		kgvk, gk := schema.ParseKindArg(arg)
		if kgvk != nil {
			if m, kerr := r.Mapper.RESTMapping(kgvk.GroupKind(), kgvk.Version); kerr == nil {
				return m, nil
			}
		}
		if m, kerr := r.Mapper.RESTMapping(gk); kerr == nil {
			return m, nil
		}
		return nil, err
	}
	return r.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// MappingFor resolves the kind of a manifest object.
func (r *Resolver) MappingFor(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	return r.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// Expand resolves a comma-separated list of types, expanding categories
// such as "all" into their members.
func (r *Resolver) Expand(types string) ([]*meta.RESTMapping, error) {
	var out []*meta.RESTMapping
	seen := map[schema.GroupVersionResource]bool{}
	add := func(m *meta.RESTMapping) {
		if !seen[m.Resource] {
			seen[m.Resource] = true
			out = append(out, m)
		}
	}
	for _, t := range strings.Split(types, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if members, ok := r.category(t); ok {
			for _, gr := range members {
				m, err := r.Mapping(gr.String())
				if err != nil {
					return nil, err
				}
				add(m)
			}
			continue
		}
		m, err := r.Mapping(t)
		if err != nil {
			return nil, err
		}
		add(m)
	}
	return out, nil
}

// category expands a category name ("all") to its resources, in the
// order discovery lists them.
func (r *Resolver) category(name string) ([]schema.GroupResource, bool) {
	if r.Discovery == nil {
		return nil, false
	}
	// A resource of that name wins over a category.
	if _, err := r.Mapper.KindFor(schema.GroupVersionResource{Resource: name}); err == nil {
		return nil, false
	}
	exp := restmapper.NewDiscoveryCategoryExpander(r.Discovery)
	members, ok := exp.Expand(name)
	if !ok || len(members) == 0 {
		return nil, false
	}
	return order(members), true
}

// order puts "all" in kubectl's familiar order: pods, services, then the
// workloads, the rest as discovery listed them.
func order(grs []schema.GroupResource) []schema.GroupResource {
	rank := map[string]int{
		"pods": 0, "replicationcontrollers": 1, "services": 2, "daemonsets": 3, "deployments": 4,
		"replicasets": 5, "statefulsets": 6, "horizontalpodautoscalers": 7, "cronjobs": 8, "jobs": 9,
	}
	out := append([]schema.GroupResource(nil), grs...)
	r := func(gr schema.GroupResource) int {
		if v, ok := rank[gr.Resource]; ok {
			return v
		}
		return len(rank)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && r(out[j]) < r(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Target is one kind named on the command line with the names given for
// it (none means "every object that matches the selectors").
type Target struct {
	Mapping *meta.RESTMapping
	Names   []string
}

// AnyNamespaced reports whether any of the targets' kinds lives in
// namespaces.
func AnyNamespaced(targets []Target) bool {
	for _, t := range targets {
		if Namespaced(t.Mapping) {
			return true
		}
	}
	return false
}

// ErrNoResourceType is returned when no type argument was given.
var ErrNoResourceType = fmt.Errorf("you must specify the type of resource to get")

// ParseArgs resolves "TYPE[,TYPE...] [NAME...]" or "TYPE/NAME ..." into
// targets, keeping the order given.
func (r *Resolver) ParseArgs(args []string) ([]Target, error) {
	if len(args) == 0 {
		return nil, ErrNoResourceType
	}
	slashed := 0
	for _, a := range args {
		if strings.Contains(a, "/") {
			slashed++
		}
	}
	if slashed > 0 && slashed != len(args) {
		return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'ctl get resource/<resource_name>' instead of 'ctl get resource resource/<resource_name>'")
	}
	if slashed > 0 {
		var out []Target
		for _, a := range args {
			typ, name, _ := strings.Cut(a, "/")
			if typ == "" || name == "" {
				return nil, fmt.Errorf("arguments in resource/name form must have a single resource and name")
			}
			m, err := r.Mapping(typ)
			if err != nil {
				return nil, err
			}
			// Consecutive names of one kind share a target, so they print in one table.
			if n := len(out); n > 0 && out[n-1].Mapping.Resource == m.Resource {
				out[n-1].Names = append(out[n-1].Names, name)
				continue
			}
			out = append(out, Target{Mapping: m, Names: []string{name}})
		}
		return out, nil
	}
	mappings, err := r.Expand(args[0])
	if err != nil {
		return nil, err
	}
	out := make([]Target, 0, len(mappings))
	for _, m := range mappings {
		out = append(out, Target{Mapping: m, Names: append([]string(nil), args[1:]...)})
	}
	return out, nil
}

// Selector narrows a list.
type Selector struct {
	Namespace     string // "" with AllNamespaces
	AllNamespaces bool
	Labels        string
	Fields        string
}

// NamespaceFor is the namespace a request for m uses: "" for a kind
// that lives in no namespace, or across all of them.
func (s Selector) NamespaceFor(m *meta.RESTMapping) string {
	if !Namespaced(m) || s.AllNamespaces {
		return ""
	}
	return s.Namespace
}

// Collect reads the objects targets name: each name, or a list through
// the selectors. Objects not found are reported in errs (kubectl goes on
// past them), other failures stop.
func Collect(ctx context.Context, dyn dynamic.Interface, targets []Target, sel Selector) (infos []*Info, errs []error) {
	for _, t := range targets {
		ns := sel.NamespaceFor(t.Mapping)
		client := ClientFor(dyn, t.Mapping, ns)
		if len(t.Names) > 0 {
			for _, name := range t.Names {
				obj, err := client.Get(ctx, name, getOptions())
				if err != nil {
					errs = append(errs, err)
					continue
				}
				infos = append(infos, &Info{Mapping: t.Mapping, Namespace: obj.GetNamespace(), Name: name, Object: obj})
			}
			continue
		}
		items, err := List(ctx, client, sel.Labels, sel.Fields)
		if err != nil {
			errs = append(errs, err)
			return infos, errs
		}
		for i := range items {
			obj := &items[i]
			infos = append(infos, &Info{Mapping: t.Mapping, Namespace: obj.GetNamespace(), Name: obj.GetName(), Object: obj})
		}
	}
	return infos, errs
}
