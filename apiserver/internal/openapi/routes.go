package openapi

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"

	restful "github.com/emicklei/go-restful/v3"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/endpoints"

	"coracle.dev/apiserver/internal/apiresource"
)

// The routes below describe what the apiserver serves in the shape
// kube-apiserver's endpoint installer gives its go-restful routes (the
// same operation names, documentation, parameters from the option types,
// bodies and responses), so kube-openapi's builders make the same
// documents from them. They are descriptions only: requests are served by
// internal/endpoints, never by go-restful.

const prettyDoc = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."

var (
	mediaTypes    = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	allMediaTypes = append(append([]string(nil), mediaTypes...), "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
	patchTypes    = []string{string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType)}
)

// noRoute is the function of every route: the routes are never served.
func noRoute(*restful.Request, *restful.Response) {}

// rootPath is where a group-version is served: "/api/v1", "/apis/apps/v1".
func rootPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// webService describes the kinds served at one group-version.
func webService(gv schema.GroupVersion, descs []*apiresource.Descriptor) (*restful.WebService, error) {
	ws := new(restful.WebService)
	ws.Path(rootPath(gv))
	ws.Doc("API at " + rootPath(gv))
	ws.Consumes("*/*")
	ws.Produces(allMediaTypes...)
	ws.ApiVersion(gv.String())
	for _, d := range descs {
		if !typed(d) {
			continue
		}
		if err := addKind(ws, d); err != nil {
			return nil, fmt.Errorf("%s: %w", d.GroupResource(), err)
		}
	}
	return ws, nil
}

// action is one verb at one path, as the endpoint installer's.
type action struct {
	verb   string // GET, LIST, PUT, PATCH, POST, DELETE, DELETECOLLECTION, WATCH, WATCHLIST, CONNECT
	path   string
	params []*restful.Parameter
	// allNamespaces marks the cluster-wide list of a namespaced kind.
	allNamespaces bool
}

// kindRoutes describes one kind or one of its subresources: what its
// operations read and answer.
type kindRoutes struct {
	d           *apiresource.Descriptor
	subresource string
	// kind is the GVK of the objects the endpoint takes (Scale for
	// /scale, Binding for /binding, the kind itself for /status).
	kind schema.GroupVersionKind
	// object and list are samples of the body and the answer.
	object any
	list   any
	// getOptions are the query parameters of a read (PodLogOptions).
	getOptions any
	// produces replaces the media types a read answers in (text for logs).
	produces []string
	// subpath says a connect subresource also takes a path after it
	// (the proxies: .../proxy/{path}).
	subpath bool
}

// Connect methods, as kube-apiserver's connecters list them: the
// streaming subresources take an upgrade by GET or POST, the proxies
// every method they pass on.
var (
	upgradeMethods = []string{"GET", "POST"}
	proxyMethods   = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
)

// connectOptions are the options each connect subresource takes, the
// kind its operations are documented with (what its admission sees).
func connectOptions(d *apiresource.Descriptor, sub string) (runtime.Object, bool) {
	switch {
	case d.Group != "" || d.Version != "v1":
		return nil, false
	case d.Resource == "pods" && sub == apiresource.Exec:
		return &corev1.PodExecOptions{}, true
	case d.Resource == "pods" && sub == apiresource.Attach:
		return &corev1.PodAttachOptions{}, true
	case d.Resource == "pods" && sub == apiresource.PortForward:
		return &corev1.PodPortForwardOptions{}, true
	case d.Resource == "pods" && sub == apiresource.Proxy:
		return &corev1.PodProxyOptions{}, true
	case d.Resource == "services" && sub == apiresource.Proxy:
		return &corev1.ServiceProxyOptions{}, true
	case d.Resource == "nodes" && sub == apiresource.Proxy:
		return &corev1.NodeProxyOptions{}, true
	}
	return nil, false
}

func addKind(ws *restful.WebService, d *apiresource.Descriptor) error {
	main := kindRoutes{d: d, kind: d.GVK(), object: d.New()}
	if d.Virtual() {
		return main.add(ws, []string{"POST"})
	}
	main.list = d.NewList()
	if err := main.add(ws, []string{"LIST", "POST", "DELETECOLLECTION", "WATCHLIST", "GET", "PUT", "PATCH", "DELETE", "WATCH"}); err != nil {
		return err
	}
	for _, sub := range d.Subresources {
		r := kindRoutes{d: d, subresource: sub, kind: d.GVK(), object: d.New()}
		verbs := []string{"GET", "PUT", "PATCH"}
		switch sub {
		case apiresource.Status, apiresource.Approval:
		case apiresource.Scale:
			r.kind, r.object = autoscalingv1.SchemeGroupVersion.WithKind("Scale"), &autoscalingv1.Scale{}
		case apiresource.Binding:
			r.kind, r.object, verbs = corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{}, []string{"POST"}
		case apiresource.Eviction:
			r.kind, r.object, verbs = policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{}, []string{"POST"}
		case apiresource.Finalize:
			verbs = []string{"PUT"}
		case apiresource.Log:
			// The log is text, not an object.
			r.object, r.getOptions, verbs = "", &corev1.PodLogOptions{}, []string{"GET"}
			r.produces = []string{"text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
		case apiresource.EphemeralContainers, apiresource.Resize:
			// Read and written as the Pod, as /status.
		case apiresource.Exec, apiresource.Attach, apiresource.PortForward, apiresource.Proxy:
			opts, ok := connectOptions(d, sub)
			if !ok {
				continue
			}
			// Documented as the options' kind, answered as a string.
			r.kind = corev1.SchemeGroupVersion.WithKind(reflect.TypeOf(opts).Elem().Name())
			r.object, r.getOptions, r.subpath, verbs = "string", opts, sub == apiresource.Proxy, []string{"CONNECT"}
		default:
			continue
		}
		if err := r.add(ws, verbs); err != nil {
			return err
		}
	}
	for sub, act := range d.Actions {
		r := kindRoutes{d: d, subresource: sub, kind: act.GVK, object: act.New()}
		if err := r.add(ws, []string{"POST"}); err != nil {
			return err
		}
	}
	return nil
}

// add adds the routes of verbs, at the paths the endpoint installer
// serves them on.
func (r kindRoutes) add(ws *restful.WebService, verbs []string) error {
	d := r.d
	// The name is documented as of the kind the endpoint takes (Scale,
	// PodExecOptions), as the endpoint installer does.
	nameParam := ws.PathParameter("name", "name of the "+r.kind.Kind).DataType("string")
	var params []*restful.Parameter
	collection := d.Resource
	if d.Namespaced {
		params = append(params, ws.PathParameter("namespace", "object name and auth scope, such as for teams and projects").DataType("string"))
		collection = "namespaces/{namespace}/" + d.Resource
	}
	item, itemParams := collection+"/{name}", append(append([]*restful.Parameter(nil), params...), nameParam)
	// A subresource (and a virtual kind) is one path with its verbs.
	if r.subresource != "" {
		collection, params = item+"/"+r.subresource, itemParams
		item = collection
	}
	var actions []action
	for _, verb := range verbs {
		switch verb {
		case "LIST", "POST", "DELETECOLLECTION":
			actions = append(actions, action{verb: verb, path: collection, params: params})
		case "WATCHLIST":
			actions = append(actions, action{verb: verb, path: "watch/" + collection, params: params})
		case "WATCH":
			actions = append(actions, action{verb: verb, path: "watch/" + item, params: itemParams})
		case "CONNECT":
			actions = append(actions, action{verb: verb, path: item, params: itemParams})
			if r.subpath {
				pathParam := ws.PathParameter("path", "path to the resource").DataType("string")
				actions = append(actions, action{verb: verb, path: item + "/{path:*}",
					params: append(append([]*restful.Parameter(nil), itemParams...), pathParam)})
			}
		default:
			actions = append(actions, action{verb: verb, path: item, params: itemParams})
		}
	}
	// Namespaced kinds are listed (and watched) across namespaces too.
	if d.Namespaced && r.subresource == "" && !d.Virtual() {
		actions = append(actions,
			action{verb: "LIST", path: d.Resource, allNamespaces: true},
			action{verb: "WATCHLIST", path: "watch/" + d.Resource, allNamespaces: true})
	}
	for _, a := range actions {
		routes, err := r.routes(ws, a)
		if err != nil {
			return err
		}
		for _, route := range routes {
			route.Metadata(endpoints.RouteMetaGVK, metav1.GroupVersionKind{Group: r.kind.Group, Version: r.kind.Version, Kind: r.kind.Kind})
			route.Metadata(endpoints.RouteMetaAction, strings.ToLower(a.verb))
			for _, p := range a.params {
				route.Param(p)
			}
			ws.Route(route)
		}
	}
	return nil
}

// routes builds the go-restful routes of one action, with the
// documentation, operation name, parameters, body and answers that
// kube-apiserver's installer gives them.
func (r kindRoutes) routes(ws *restful.WebService, a action) ([]*restful.RouteBuilder, error) {
	kind, sub := r.d.Kind, r.subresource
	namespaced, suffix := "", ""
	if r.d.Namespaced {
		namespaced = "Namespaced"
	}
	if a.allNamespaces {
		namespaced, suffix = "", "ForAllNamespaces"
	}
	opName := func(verb string) string {
		return verb + namespaced + kind + cases.Title(language.English).String(sub) + suffix
	}
	doc := func(plain, ofSub string) string {
		if sub != "" {
			return ofSub
		}
		return plain
	}
	pretty := ws.QueryParameter("pretty", prettyDoc)
	produces := mediaTypes
	if r.produces != nil {
		produces = r.produces
	}
	status := &metav1.Status{}
	switch a.verb {
	case "GET":
		route := ws.GET(a.path).To(noRoute).
			Doc(doc("read the specified "+kind, "read "+sub+" of the specified "+kind)).
			Param(pretty).Operation(opName("read")).Produces(produces...).
			Returns(http.StatusOK, "OK", r.object).Writes(r.object)
		if r.getOptions != nil {
			if err := endpoints.AddObjectParams(ws, route, r.getOptions); err != nil {
				return nil, err
			}
		}
		return []*restful.RouteBuilder{route}, nil
	case "LIST":
		route := ws.GET(a.path).To(noRoute).
			Doc(doc("list or watch objects of kind "+kind, "list or watch "+sub+" of objects of kind "+kind)).
			Param(pretty).Operation(opName("list")).Produces(allMediaTypes...).
			Returns(http.StatusOK, "OK", r.list).Writes(r.list)
		return []*restful.RouteBuilder{route}, endpoints.AddObjectParams(ws, route, &metav1.ListOptions{})
	case "PUT":
		route := ws.PUT(a.path).To(noRoute).
			Doc(doc("replace the specified "+kind, "replace "+sub+" of the specified "+kind)).
			Param(pretty).Operation(opName("replace")).Produces(mediaTypes...).
			Returns(http.StatusOK, "OK", r.object).Returns(http.StatusCreated, "Created", r.object).
			Reads(r.object).Writes(r.object)
		return []*restful.RouteBuilder{route}, endpoints.AddObjectParams(ws, route, &metav1.UpdateOptions{})
	case "PATCH":
		route := ws.PATCH(a.path).To(noRoute).
			Doc(doc("partially update the specified "+kind, "partially update "+sub+" of the specified "+kind)).
			Param(pretty).Consumes(patchTypes...).Operation(opName("patch")).Produces(mediaTypes...).
			Returns(http.StatusOK, "OK", r.object).Returns(http.StatusCreated, "Created", r.object).
			Reads(metav1.Patch{}).Writes(r.object)
		return []*restful.RouteBuilder{route}, endpoints.AddObjectParams(ws, route, &metav1.PatchOptions{})
	case "POST":
		article := endpoints.GetArticleForNoun(kind, " ")
		route := ws.POST(a.path).To(noRoute).
			Doc(doc("create"+article+kind, "create "+sub+" of"+article+kind)).
			Param(pretty).Operation(opName("create")).Produces(mediaTypes...).
			Returns(http.StatusOK, "OK", r.object).Returns(http.StatusCreated, "Created", r.object).
			Returns(http.StatusAccepted, "Accepted", r.object).
			Reads(r.object).Writes(r.object)
		return []*restful.RouteBuilder{route}, endpoints.AddObjectParams(ws, route, &metav1.CreateOptions{})
	case "DELETE":
		article := endpoints.GetArticleForNoun(kind, " ")
		route := ws.DELETE(a.path).To(noRoute).
			Doc(doc("delete"+article+kind, "delete "+sub+" of"+article+kind)).
			Param(pretty).Operation(opName("delete")).Produces(mediaTypes...).
			Writes(status).Returns(http.StatusOK, "OK", status).Returns(http.StatusAccepted, "Accepted", status).
			Reads(&metav1.DeleteOptions{})
		route.ParameterNamed("body").Required(false)
		return []*restful.RouteBuilder{route}, endpoints.AddObjectParams(ws, route, &metav1.DeleteOptions{})
	case "DELETECOLLECTION":
		route := ws.DELETE(a.path).To(noRoute).
			Doc(doc("delete collection of "+kind, "delete collection of "+sub+" of a "+kind)).
			Param(pretty).Operation(opName("deletecollection")).Produces(mediaTypes...).
			Writes(status).Returns(http.StatusOK, "OK", status).
			Reads(&metav1.DeleteOptions{})
		route.ParameterNamed("body").Required(false)
		if err := endpoints.AddObjectParams(ws, route, &metav1.DeleteOptions{}); err != nil {
			return nil, err
		}
		return []*restful.RouteBuilder{route}, endpoints.AddObjectParams(ws, route, &metav1.ListOptions{}, "watch", "allowWatchBookmarks")
	case "WATCH", "WATCHLIST":
		op, d := opName("watch"), "watch changes to an object of kind "+kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
		if a.verb == "WATCHLIST" {
			op = "watch" + namespaced + kind + cases.Title(language.English).String(sub) + "List" + suffix
			d = "watch individual changes to a list of " + kind + ". deprecated: use the 'watch' parameter with a list operation instead."
		}
		route := ws.GET(a.path).To(noRoute).Doc(d).
			Param(pretty).Operation(op).Produces(allMediaTypes...).
			Returns(http.StatusOK, "OK", metav1.WatchEvent{}).Writes(metav1.WatchEvent{})
		return []*restful.RouteBuilder{route}, endpoints.AddObjectParams(ws, route, &metav1.ListOptions{})
	case "CONNECT":
		methods := upgradeMethods
		if sub == apiresource.Proxy {
			methods = proxyMethods
		}
		if strings.HasSuffix(a.path, "/{path:*}") {
			suffix += "WithPath"
		}
		var out []*restful.RouteBuilder
		for _, method := range methods {
			route := ws.Method(method).Path(a.path).To(noRoute).
				Doc("connect " + method + " requests to " + sub + " of " + kind).
				Operation("connect" + cases.Title(language.English).String(strings.ToLower(method)) + namespaced + kind + cases.Title(language.English).String(sub) + suffix).
				Produces("*/*").Consumes("*/*").Writes(r.object)
			if err := endpoints.AddObjectParams(ws, route, r.getOptions); err != nil {
				return nil, err
			}
			out = append(out, route)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown verb %s", a.verb)
}
