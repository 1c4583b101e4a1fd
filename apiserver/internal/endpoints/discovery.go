package endpoints

import (
	"maps"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/munnerz/goautoneg"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

var objectVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// subresourceInfo says how discovery lists one subresource.
type subresourceInfo struct {
	group, version, kind string // "" kind: the parent's kind
	verbs                metav1.Verbs
}

var subresourceInfos = map[string]subresourceInfo{
	apiresource.Status:   {verbs: metav1.Verbs{"get", "patch", "update"}},
	apiresource.Scale:    {group: "autoscaling", version: "v1", kind: "Scale", verbs: metav1.Verbs{"get", "patch", "update"}},
	apiresource.Binding:  {group: "", version: "v1", kind: "Binding", verbs: metav1.Verbs{"create"}},
	apiresource.Eviction: {group: "policy", version: "v1", kind: "Eviction", verbs: metav1.Verbs{"create"}},
	apiresource.Finalize: {verbs: metav1.Verbs{"update"}},
	apiresource.Log:      {verbs: metav1.Verbs{"get"}},
	apiresource.Exec:     {group: "", version: "v1", kind: "PodExecOptions", verbs: metav1.Verbs{"create", "get"}},
	apiresource.Approval: {verbs: metav1.Verbs{"get", "patch", "update"}},
	apiresource.Attach:   {group: "", version: "v1", kind: "PodAttachOptions", verbs: metav1.Verbs{"create", "get"}},
	// The kind of a proxy is the parent's options kind (proxyOptionsKind).
	apiresource.Proxy:               {group: "", version: "v1", verbs: metav1.Verbs{"create", "delete", "get", "patch", "update"}},
	apiresource.PortForward:         {group: "", version: "v1", kind: "PodPortForwardOptions", verbs: metav1.Verbs{"create", "get"}},
	apiresource.EphemeralContainers: {verbs: metav1.Verbs{"get", "patch", "update"}},
	apiresource.Resize:              {verbs: metav1.Verbs{"get", "patch", "update"}},
}

// createOnly are the verbs of virtual kinds and actions.
var createOnly = metav1.Verbs{"create"}

func verbsOf(d *apiresource.Descriptor) metav1.Verbs {
	if d.Virtual() {
		return createOnly
	}
	return objectVerbs
}

// subresourcesOf lists d's subresources, its actions after the others in
// name order.
func subresourcesOf(d *apiresource.Descriptor) []string {
	out := append([]string(nil), d.Subresources...)
	for _, name := range slices.Sorted(maps.Keys(d.Actions)) {
		out = append(out, name)
	}
	return out
}

func subresourceInfoOf(d *apiresource.Descriptor, sub string) subresourceInfo {
	if act, ok := d.Actions[sub]; ok {
		return subresourceInfo{group: act.GVK.Group, version: act.GVK.Version, kind: act.GVK.Kind, verbs: createOnly}
	}
	info := subresourceInfos[sub]
	if sub == apiresource.Proxy {
		info.kind = proxyOptionsKind(d)
	}
	return info
}

func (a *API) addressByCIDR() []metav1.ServerAddressByClientCIDR {
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: a.opts.ServerAddress}}
}

// wantsAggregated reports whether the client asked for aggregated
// discovery (apidiscovery.k8s.io/v2) before plain JSON.
func wantsAggregated(c *gin.Context) bool {
	for _, acc := range goautoneg.ParseAccept(c.GetHeader("Accept")) {
		if acc.Type+"/"+acc.SubType != "application/json" {
			continue
		}
		if acc.Params["g"] == "apidiscovery.k8s.io" && acc.Params["v"] == "v2" && acc.Params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if acc.Params["as"] == "" {
			return false
		}
	}
	return false
}

const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func (a *API) serveCoreVersions(c *gin.Context) {
	if wantsAggregated(c) {
		a.writeAggregated(c, []string{""})
		return
	}
	writeJSON(c, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   a.opts.Registry.Versions(""),
		ServerAddressByClientCIDRs: a.addressByCIDR(),
	})
}

func (a *API) apiGroup(name string) metav1.APIGroup {
	g := metav1.APIGroup{Name: name, ServerAddressByClientCIDRs: a.addressByCIDR()}
	for _, v := range a.opts.Registry.Versions(name) {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v})
	}
	for _, v := range a.remoteVersions(name) {
		if !slices.ContainsFunc(g.Versions, func(have metav1.GroupVersionForDiscovery) bool { return have.Version == v.Version }) {
			g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v.Version, Version: v.Version})
		}
	}
	if len(g.Versions) > 0 {
		g.PreferredVersion = g.Versions[0]
	}
	return g
}

func (a *API) namedGroups() []string {
	var out []string
	for _, g := range a.opts.Registry.Groups() {
		if g != "" {
			out = append(out, g)
		}
	}
	if a.opts.RemoteGroups != nil {
		for _, g := range a.opts.RemoteGroups() {
			if g.Name != "" && !slices.Contains(out, g.Name) {
				out = append(out, g.Name)
			}
		}
	}
	return out
}

// remoteVersions are the versions of group extension apiservers serve
// (Options.RemoteGroups), the preferred first.
func (a *API) remoteVersions(group string) []apidiscoveryv2.APIVersionDiscovery {
	if a.opts.RemoteGroups == nil {
		return nil
	}
	for _, g := range a.opts.RemoteGroups() {
		if g.Name == group {
			return g.Versions
		}
	}
	return nil
}

func (a *API) serveGroups(c *gin.Context) {
	if wantsAggregated(c) {
		a.writeAggregated(c, a.namedGroups())
		return
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range a.namedGroups() {
		list.Groups = append(list.Groups, a.apiGroup(g))
	}
	writeJSON(c, http.StatusOK, list)
}

func (a *API) serveGroup(c *gin.Context) {
	name := c.Param("group")
	g := a.apiGroup(name)
	if len(g.Versions) == 0 || name == "" {
		writeError(c, notFound())
		return
	}
	g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
	writeJSON(c, http.StatusOK, &g)
}

func (a *API) serveResourceList(c *gin.Context, group, version string) {
	descs := a.opts.Registry.InGroupVersion(group, version)
	if len(descs) == 0 {
		writeError(c, notFound())
		return
	}
	gv := metav1.GroupVersion{Group: group, Version: version}.String()
	if group == "" {
		gv = version
	}
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
	for _, d := range descs {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: d.Resource, SingularName: d.Singular, Namespaced: d.Namespaced, Kind: d.Kind,
			Verbs: verbsOf(d), ShortNames: d.ShortNames, Categories: d.Categories,
		})
		for _, sub := range subresourcesOf(d) {
			info := subresourceInfoOf(d, sub)
			r := metav1.APIResource{Name: d.Resource + "/" + sub, Namespaced: d.Namespaced, Kind: d.Kind, Verbs: info.verbs}
			if info.kind != "" {
				r.Group, r.Version, r.Kind = info.group, info.version, info.kind
			}
			list.APIResources = append(list.APIResources, r)
		}
	}
	writeJSON(c, http.StatusOK, list)
}

func (a *API) writeAggregated(c *gin.Context, groups []string) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	for _, g := range groups {
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g}}
		for _, v := range a.opts.Registry.Versions(g) {
			vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, d := range a.opts.Registry.InGroupVersion(g, v) {
				rd := apidiscoveryv2.APIResourceDiscovery{
					Resource:         d.Resource,
					ResponseKind:     &metav1.GroupVersionKind{Group: d.Group, Version: d.Version, Kind: d.Kind},
					Scope:            apidiscoveryv2.ScopeCluster,
					SingularResource: d.Singular,
					Verbs:            verbsOf(d),
					ShortNames:       d.ShortNames,
					Categories:       d.Categories,
				}
				if d.Namespaced {
					rd.Scope = apidiscoveryv2.ScopeNamespace
				}
				for _, sub := range subresourcesOf(d) {
					info := subresourceInfoOf(d, sub)
					kind := &metav1.GroupVersionKind{Group: d.Group, Version: d.Version, Kind: d.Kind}
					if info.kind != "" {
						kind = &metav1.GroupVersionKind{Group: info.group, Version: info.version, Kind: info.kind}
					}
					rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{Subresource: sub, ResponseKind: kind, Verbs: info.verbs})
				}
				vd.Resources = append(vd.Resources, rd)
			}
			gd.Versions = append(gd.Versions, vd)
		}
		for _, vd := range a.remoteVersions(g) {
			if !slices.ContainsFunc(gd.Versions, func(have apidiscoveryv2.APIVersionDiscovery) bool { return have.Version == vd.Version }) {
				gd.Versions = append(gd.Versions, vd)
			}
		}
		list.Items = append(list.Items, gd)
	}
	data := mustJSON(list)
	c.Data(http.StatusOK, aggregatedContentType, data)
}
