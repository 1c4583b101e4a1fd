package endpoints

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/warning"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/genericstore"
)

// DefaultMaxBodyBytes is the largest request body accepted, as Kubernetes.
const DefaultMaxBodyBytes = 3 * 1024 * 1024

// Options configure the API handlers.
type Options struct {
	Registry *apiresource.Registry
	// Scheme decodes protobuf bodies.
	Scheme *runtime.Scheme
	// Store returns the store serving a descriptor the registry gave;
	// nil when it has just stopped being served (a deleted CRD).
	Store func(*apiresource.Descriptor) *genericstore.Store
	// ServerAddress is host:port clients reach this apiserver at, for /api.
	ServerAddress string
	MaxBodyBytes  int64
	// KubeletTransport reaches kubelets for pods/log, exec, attach and
	// portforward and nodes/proxy, with the apiserver's kubelet client
	// certificate; nil disables them.
	KubeletTransport http.RoundTripper
	// ProxyTransport reaches pods and Services' endpoints for pods/proxy
	// and services/proxy (and nodes/proxy to a port not the kubelet's);
	// nil, one that does not verify the backends' certificates, as
	// kube-apiserver's proxy transport: they are addressed by IP.
	ProxyTransport http.RoundTripper
	// ProxyLoopback lets pods/proxy and nodes/proxy reach addresses that
	// are not global unicast (loopback, link-local), which Kubernetes
	// refuses ("address not allowed"): for tests whose pods and kubelets
	// listen on 127.0.0.1.
	ProxyLoopback bool
	// RequestTimeout bounds every request but watches.
	RequestTimeout time.Duration
	// MinRequestTimeout bounds watches that ask for no timeout: each gets
	// a random timeout between it and twice it, as Kubernetes.
	MinRequestTimeout time.Duration
	// Shutdown is closed when the server begins to stop; open watches end.
	Shutdown <-chan struct{}
	// AdmitEviction, when set, judges an eviction before its pod is
	// deleted (NodeRestriction: a kubelet evicts only its own pods).
	AdmitEviction func(ctx context.Context, ev *policyv1.Eviction) error
	// Evict, when set, carries out an admitted eviction under the pod's
	// PodDisruptionBudget (package eviction); dryRun is the request's
	// dryRun query. Unset, an eviction deletes the pod unconditionally.
	Evict func(ctx context.Context, ev *policyv1.Eviction, dryRun []string) error
	// AdmitConnect, when set, judges a CONNECT of a subresource of d
	// (pods' exec, attach, portforward and proxy; services' and nodes'
	// proxy) with its options (PodExecOptions, ServiceProxyOptions, …),
	// as kube-apiserver's admission sees them; name is the URL's
	// ("https:web:8443" for a proxy).
	AdmitConnect func(ctx context.Context, d *apiresource.Descriptor, namespace, name, subresource string, opts runtime.Object) error
	// AuthorizeVerb, when set, authorizes req again as verb, nil when
	// allowed. Pods' exec, attach and portforward ask it for create when
	// reached by GET (a WebSocket upgrade), as Kubernetes does since its
	// AuthorizePodWebsocketUpgradeCreatePermission: a WebSocket writes to
	// the container as a POST does, so reading pods/exec must not be
	// enough to run commands.
	AuthorizeVerb func(req *http.Request, verb string) error
	// FieldManager returns the field manager of a kind written through a
	// subresource ("" the object); nil (or a nil func) keeps no managed
	// fields.
	FieldManager func(d *apiresource.Descriptor, subresource string) FieldManager
	// LongRunning counts open watches per resource.
	LongRunning func(resource string, delta int)
	// Remote, when set, returns the handler of a group-version an
	// extension apiserver serves (an APIService naming a Service), nil
	// for one served here: every request under /apis/<group>/<version>,
	// its discovery included, goes to it, as kube-aggregator routes.
	Remote func(group, version string) http.Handler
	// RemoteGroups, when set, lists the groups extension apiservers
	// serve, each with its versions (the preferred first) and, as far as
	// their discovery is known, resources, for /apis and /apis/<group>.
	RemoteGroups func() []apidiscoveryv2.APIGroupDiscovery
	Log          *zap.Logger
}

// API serves /api and /apis.
type API struct {
	opts Options
	log  *zap.Logger
	dec  *decoder
}

// New returns the API handlers.
func New(opts Options) *API {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = time.Minute
	}
	if opts.MinRequestTimeout == 0 {
		opts.MinRequestTimeout = 30 * time.Minute
	}
	if opts.LongRunning == nil {
		opts.LongRunning = func(string, int) {}
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.ProxyTransport == nil {
		opts.ProxyTransport = defaultProxyTransport()
	}
	return &API{opts: opts, log: opts.Log, dec: newDecoder(opts.Scheme)}
}

// Install registers the API routes on r.
func (a *API) Install(r gin.IRoutes) {
	r.GET("/api", a.serveCoreVersions)
	r.GET("/apis", a.serveGroups)
	r.Any("/api/:version", a.serveCore)
	r.Any("/api/:version/*rest", a.serveCore)
	r.GET("/apis/:group", a.serveGroup)
	r.Any("/apis/:group/:version", a.serveNamed)
	r.Any("/apis/:group/:version/*rest", a.serveNamed)
}

func (a *API) serveCore(c *gin.Context) {
	a.serve(c, "", c.Param("version"), c.Param("rest"))
}

func (a *API) serveNamed(c *gin.Context) {
	a.serve(c, c.Param("group"), c.Param("version"), c.Param("rest"))
}

func (a *API) serve(c *gin.Context, group, version, rest string) {
	if a.opts.Remote != nil && group != "" {
		if h := a.opts.Remote(group, version); h != nil {
			h.ServeHTTP(c.Writer, c.Request)
			return
		}
	}
	if strings.Trim(rest, "/") == "" {
		if c.Request.Method != http.MethodGet {
			writeError(c, methodNotSupported(emptyGR, strings.ToLower(c.Request.Method)))
			return
		}
		a.serveResourceList(c, group, version)
		return
	}
	info, ok := parseRequestInfo(c.Request.Method, group, version, rest, isTrue(c.Query("watch")))
	if !ok {
		writeError(c, notFound())
		return
	}
	desc, ok := a.opts.Registry.Lookup(group, version, info.Resource)
	// Only a proxy takes a path after its subresource.
	if !ok || (len(info.Extra) > 0 && info.Subresource != apiresource.Proxy) {
		writeError(c, notFound())
		return
	}
	if !desc.Namespaced && info.Namespace != "" {
		writeError(c, notFound())
		return
	}
	if desc.Namespaced && info.Name != "" && info.Namespace == "" {
		writeError(c, notFound())
		return
	}
	if info.Namespace != "" {
		if msgs := apivalidationNamespace(info.Namespace); len(msgs) > 0 {
			writeError(c, apierrors.NewBadRequest(fmt.Sprintf("invalid namespace %q: %s", info.Namespace, strings.Join(msgs, "; "))))
			return
		}
	}
	c.Set(ctxRequestInfo, info)
	if !longRunning(info) {
		// Short requests are bounded, as kube-apiserver's 60s default:
		// a stuck etcd answers 504 instead of holding the client forever.
		ctx, cancel := context.WithTimeout(c.Request.Context(), a.opts.RequestTimeout)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
	}
	// Warnings admission records (webhooks, policies) go back as
	// Warning headers, as kube-apiserver's warning recorder sends them.
	c.Request = c.Request.WithContext(warning.WithWarningRecorder(c.Request.Context(), &warningRecorder{c: c, seen: map[string]bool{}}))
	store := a.opts.Store(desc)
	if store == nil && !desc.Virtual() {
		writeError(c, notFound())
		return
	}
	req := &request{api: a, c: c, info: info, desc: desc, store: store}
	if desc.Virtual() {
		req.review()
		return
	}
	if info.Subresource != "" {
		req.serveSubresource()
		return
	}
	switch info.Verb {
	case VerbGet:
		req.get()
	case VerbList:
		req.list()
	case VerbWatch:
		req.watch()
	case VerbCreate:
		req.create()
	case VerbUpdate:
		req.update()
	case VerbPatch:
		req.patch("")
	case VerbDelete:
		req.delete()
	case VerbDeleteCollection:
		req.deleteCollection()
	default:
		writeError(c, methodNotSupported(desc.GroupResource(), info.Verb))
	}
}

// ctxRequestInfo is the gin context key under which the parsed request is
// stored, for metrics and logs.
const ctxRequestInfo = "coracle.requestInfo"

// RequestInfoFrom returns the parsed request of c, if it was a resource
// request.
func RequestInfoFrom(c *gin.Context) (RequestInfo, bool) {
	v, ok := c.Get(ctxRequestInfo)
	if !ok {
		return RequestInfo{}, false
	}
	info, ok := v.(RequestInfo)
	return info, ok
}

// request is one resource request being served.
type request struct {
	api   *API
	c     *gin.Context
	info  RequestInfo
	desc  *apiresource.Descriptor
	store *genericstore.Store
}

func (r *request) ctx() context.Context { return r.c.Request.Context() }

func (r *request) fail(err error) { writeError(r.c, err) }

func (r *request) dryRun() (bool, error) {
	vals := r.c.QueryArray("dryRun")
	for _, v := range vals {
		if v != metav1.DryRunAll {
			return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q: valid values are %q", v, metav1.DryRunAll))
		}
	}
	return len(vals) > 0, nil
}

// listOptions reads selectors, paging and resourceVersion from the query.
func (r *request) listOptions() (genericstore.ListOptions, error) {
	q := r.c.Request.URL.Query()
	opts := genericstore.ListOptions{
		Namespace:            r.info.Namespace,
		Continue:             q.Get("continue"),
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		Label:                labels.Everything(),
		Field:                fields.Everything(),
	}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", strings.TrimPrefix(err.Error(), "unable to parse requirement: ")))
		}
		opts.Label = sel
	}
	if s := q.Get("fieldSelector"); s != "" {
		sel, err := fields.ParseSelector(s)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector %q: %v", s, err))
		}
		for _, req := range sel.Requirements() {
			if !r.desc.SupportsFieldLabel(req.Field) {
				return opts, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		opts.Field = sel
	}
	if r.info.Name != "" {
		// A watch (or list) of one named object.
		opts.Field = fields.AndSelectors(opts.Field, fields.OneTermEqualSelector("metadata.name", r.info.Name))
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q: must be a non-negative integer", s))
		}
		opts.Limit = n
	}
	switch opts.ResourceVersionMatch {
	case "", metav1.ResourceVersionMatchExact, metav1.ResourceVersionMatchNotOlderThan:
	default:
		return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersionMatch %q: must be Exact or NotOlderThan", opts.ResourceVersionMatch))
	}
	if opts.ResourceVersionMatch != "" && opts.ResourceVersion == "" && r.info.Verb != VerbWatch {
		return opts, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return opts, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	return opts, nil
}

func isTrue(s string) bool { return s == "1" || s == "true" || s == "True" }

// longRunning requests are not bounded by RequestTimeout: watches, and
// streams to kubelets and through proxies, as kube-apiserver's
// long-running check.
func longRunning(info RequestInfo) bool {
	switch info.Subresource {
	case apiresource.Log, apiresource.Exec, apiresource.Attach, apiresource.PortForward, apiresource.Proxy:
		return true
	}
	return info.Verb == VerbWatch
}
