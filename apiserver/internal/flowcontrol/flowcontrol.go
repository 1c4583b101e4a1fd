// Package flowcontrol is the apiserver's protection against overload:
// API Priority and Fairness, as kube-apiserver has it, built on
// k8s.io/apiserver's own controller and filter (pkg/util/flowcontrol and
// pkg/server/filters). Every request is classified by the FlowSchemas
// into a priority level and a flow; each level has its share of the
// server's concurrency (--max-requests-inflight plus
// --max-mutating-requests-inflight) and queues what exceeds it, fairly
// among flows; what finds its queue full, or waits too long, is answered
// 429 with a Retry-After header. The response headers
// X-Kubernetes-PF-FlowSchema-UID and X-Kubernetes-PF-PriorityLevel-UID
// name the schema and level that served a request. system:masters and the
// health probes are exempt, through the mandatory "exempt" schema;
// long-running requests (exec, attach, logs, port-forward, proxy) are not
// limited, and a watch holds its seat only while it is set up.
//
// With priority and fairness disabled the server falls back, as
// kube-apiserver does, to the max-in-flight limiter: at most
// --max-requests-inflight reads and --max-mutating-requests-inflight
// writes at once, the rest refused with 429.
//
// The controller learns its configuration the way kube-apiserver's does:
// client-go informers on the FlowSchemas and PriorityLevelConfigurations,
// through a loopback client of the apiserver itself (whose admin
// credentials make it exempt), and it writes the FlowSchemas' Dangling
// condition back through the same client. Until the informers have
// synced, the mandatory configuration (exempt and catch-all) applies.
package flowcontrol

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/apiserver/pkg/storage"
	utilflowcontrol "k8s.io/apiserver/pkg/util/flowcontrol"
	fcmetrics "k8s.io/apiserver/pkg/util/flowcontrol/metrics"
	fcrequest "k8s.io/apiserver/pkg/util/flowcontrol/request"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/metrics/legacyregistry"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// Kubernetes' defaults for the server's concurrency and the longest a
// request without a deadline waits in a queue (--request-timeout's 60s
// divided by four).
const (
	DefaultMaxRequestsInFlight         = 400
	DefaultMaxMutatingRequestsInFlight = 200
	DefaultRequestWaitLimit            = 15 * time.Second
)

// Options configure the filter.
type Options struct {
	// EnablePriorityAndFairness selects API Priority and Fairness; off,
	// the max-in-flight limiter.
	EnablePriorityAndFairness bool
	// MaxRequestsInFlight and MaxMutatingRequestsInFlight: with priority
	// and fairness, their sum is the server's concurrency limit (it must
	// be positive); without, the limits on reads and on writes (0: no
	// limit).
	MaxRequestsInFlight         int
	MaxMutatingRequestsInFlight int
	// RequestWaitLimit bounds how long a request whose context has no
	// deadline may wait in a queue; 0 means DefaultRequestWaitLimit.
	RequestWaitLimit time.Duration
	// Loopback is a client configuration of this apiserver with
	// credentials that the mandatory exempt schema matches (system:masters);
	// required with priority and fairness.
	Loopback *rest.Config
	// ObjectCount returns how many objects of a group resource ("pods",
	// "deployments.apps") are stored, for the cost of a list; nil, or
	// false, counts a list as one seat, as upstream does for counts it
	// does not know.
	ObjectCount func(groupResource string) (int64, bool)
	Log         *zap.Logger
}

// Filter is the flow-control filter of one apiserver.
type Filter struct {
	opts    Options
	log     *zap.Logger
	handler http.Handler

	// Set with priority and fairness only.
	controller utilflowcontrol.Interface
	informers  informers.SharedInformerFactory
}

// ginContextKey carries a request's gin context through the upstream
// filter to the rest of the gin chain.
type ginContextKey struct{}

// longRunning is kube-apiserver's check: watches (which priority and
// fairness handles itself), and the streaming subresources, which hold
// no seat.
var longRunning = genericfilters.BasicLongRunningRequestCheck(
	sets.NewString("watch", "proxy"),
	sets.NewString("attach", "exec", "proxy", "log", "portforward"),
)

// New builds the filter; Run starts what it needs in the background.
func New(opts Options) (*Filter, error) {
	if opts.MaxRequestsInFlight < 0 {
		return nil, errors.New("--max-requests-inflight can not be negative value")
	}
	if opts.MaxMutatingRequestsInFlight < 0 {
		return nil, errors.New("--max-mutating-requests-inflight can not be negative value")
	}
	if opts.RequestWaitLimit <= 0 {
		opts.RequestWaitLimit = DefaultRequestWaitLimit
	}
	f := &Filter{opts: opts, log: opts.Log}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	next := http.HandlerFunc(serveNext)
	// The library's metrics go to the legacy registry; Gatherer hands
	// them to /metrics.
	fcmetrics.Register()
	if !opts.EnablePriorityAndFairness {
		f.handler = genericfilters.WithMaxInFlightLimit(next, opts.MaxRequestsInFlight, opts.MaxMutatingRequestsInFlight, longRunning)
		return f, nil
	}
	limit := opts.MaxRequestsInFlight + opts.MaxMutatingRequestsInFlight
	if limit <= 0 {
		return nil, fmt.Errorf("invalid configuration: MaxRequestsInFlight=%d and MaxMutatingRequestsInFlight=%d; they must add up to something positive",
			opts.MaxRequestsInFlight, opts.MaxMutatingRequestsInFlight)
	}
	if opts.Loopback == nil {
		return nil, errors.New("priority and fairness needs a loopback client configuration")
	}
	cfg := rest.CopyConfig(opts.Loopback)
	// The apiserver's own client is limited by the apiserver alone.
	cfg.QPS, cfg.Burst = -1, 0
	cfg.UserAgent = "apiserver/priority-and-fairness"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("priority and fairness client: %w", err)
	}
	f.informers = informers.NewSharedInformerFactory(cs, 0)
	f.controller = utilflowcontrol.New(f.informers, cs.FlowcontrolV1(), limit)
	estimator := fcrequest.NewWorkEstimator(f.objectStats, f.controller.GetInterestedWatchCount,
		fcrequest.DefaultWorkEstimatorConfig(), f.controller.GetMaxSeats)
	f.handler = genericfilters.WithPriorityAndFairness(next, longRunning, f.controller, estimator, opts.RequestWaitLimit)
	return f, nil
}

// Run keeps the configuration current (informers and the controller)
// and the concurrency watermarks the metrics report, until ctx ends.
func (f *Filter) Run(ctx context.Context) error {
	if f.controller == nil {
		genericfilters.StartMaxInFlightWatermarkMaintenance(ctx.Done())
		<-ctx.Done()
		return nil
	}
	genericfilters.StartPriorityAndFairnessWatermarkMaintenance(ctx.Done())
	f.informers.Start(ctx.Done())
	defer f.informers.Shutdown()
	f.log.Info("priority and fairness starting",
		zap.Int("server-concurrency-limit", f.opts.MaxRequestsInFlight+f.opts.MaxMutatingRequestsInFlight))
	if err := f.controller.Run(ctx.Done()); err != nil && ctx.Err() == nil {
		return fmt.Errorf("priority and fairness: %w", err)
	}
	return nil
}

// objectStats is the list estimator's view of the stored objects.
func (f *Filter) objectStats(groupResource string) (storage.Stats, error) {
	if f.opts.ObjectCount == nil {
		return storage.Stats{}, fcrequest.ObjectCountNotFoundErr
	}
	n, ok := f.opts.ObjectCount(groupResource)
	if !ok {
		return storage.Stats{}, fcrequest.ObjectCountNotFoundErr
	}
	return storage.Stats{ObjectCount: n}, nil
}

// Middleware limits the requests that reach the handlers after it. It
// must come after authentication and impersonation, whose user it
// classifies, and before authorization, as in kube-apiserver's chain;
// attrs reads the request's user and parsed path.
func (f *Filter) Middleware(attrs func(*gin.Context) authz.Attributes) gin.HandlerFunc {
	return func(c *gin.Context) {
		a := attrs(c)
		if a.User == nil {
			// Authentication always sets a user or refuses; a request
			// without one is the server's fault, as upstream says.
			c.AbortWithStatusJSON(http.StatusInternalServerError, internalError("no User found in context"))
			return
		}
		info := requestInfo(a)
		ctx := apirequest.WithUser(c.Request.Context(), userInfo(a.User))
		ctx = apirequest.WithRequestInfo(ctx, info)
		ctx = context.WithValue(ctx, ginContextKey{}, c)
		served := false
		c.Set(servedKey, &served)
		f.handler.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
		if !served {
			// Refused: the filter has written the 429.
			c.Abort()
		}
	}
}

const servedKey = "coracle.flowcontrol.served"

// serveNext runs the rest of the gin chain for a request the filter let
// through. A watch's request carries the filter's initialization
// signal: the watch is set up, and gives its seat back, once its stream
// is first flushed (the response started, the initial events sent).
func serveNext(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(ginContextKey{}).(*gin.Context)
	if v, ok := c.Get(servedKey); ok {
		*v.(*bool) = true
	}
	c.Request = r
	if info, ok := apirequest.RequestInfoFrom(r.Context()); ok && info.Verb == "watch" {
		c.Writer = &initSignalWriter{ResponseWriter: c.Writer, ctx: r.Context()}
	}
	c.Next()
}

// initSignalWriter tells priority and fairness that a watch is
// initialized when its stream is first flushed.
type initSignalWriter struct {
	gin.ResponseWriter
	ctx context.Context
}

func (w *initSignalWriter) Flush() {
	w.ResponseWriter.Flush()
	utilflowcontrol.WatchInitialized(w.ctx)
}

// requestInfo is the request as k8s.io/apiserver's RequestInfoFactory
// reads it, which the flow schemas' rules and the work estimator match.
func requestInfo(a authz.Attributes) *apirequest.RequestInfo {
	info := &apirequest.RequestInfo{
		IsResourceRequest: a.ResourceRequest, Path: a.Path, Verb: a.Verb,
		APIGroup: a.APIGroup, APIVersion: a.APIVersion, Namespace: a.Namespace,
		Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
	}
	if !a.ResourceRequest {
		return info
	}
	info.APIPrefix = "apis"
	if a.APIGroup == "" {
		info.APIPrefix = "api"
	}
	for _, p := range []string{a.Resource, a.Name, a.Subresource} {
		if p != "" {
			info.Parts = append(info.Parts, p)
		}
	}
	return info
}

// userInfo is the authenticated user in k8s.io/apiserver's terms.
func userInfo(u *authn.User) user.Info {
	return &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
}

func internalError(msg string) map[string]any {
	return map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Internal error occurred: " + msg,
		"reason": "InternalError", "code": http.StatusInternalServerError,
	}
}

// metricsPrefix names the metrics of priority and fairness.
const metricsPrefix = "apiserver_flowcontrol_"

// Gatherer gathers the apiserver_flowcontrol_* metrics the library keeps
// in Kubernetes' legacy registry, to serve beside the apiserver's own
// (prometheus.Gatherers{own, flowcontrol.Gatherer()}). Only those are
// taken: the legacy registry also has Go and process collectors, which
// the apiserver's registry has too and which may not appear twice.
func Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		all, err := legacyregistry.DefaultGatherer.Gather()
		out := all[:0]
		for _, mf := range all {
			if strings.HasPrefix(mf.GetName(), metricsPrefix) {
				out = append(out, mf)
			}
		}
		return out, err
	})
}
