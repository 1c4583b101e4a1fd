package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/helper"

	"coracle.dev/apiserver/internal/aggregator"
	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/watchcache"
	"coracle.dev/apiserver/internal/webhook"
	"coracle.dev/shared/pki"
)

// Front-proxy certificate files under DATA_DIR/pki, kubeadm's names.
const (
	frontProxyCAName     = "front-proxy-ca"
	frontProxyClientName = "front-proxy-client"
)

// availabilityResync is how often a remote APIService is checked again
// with nothing changed, kube-aggregator's resync.
const availabilityResync = 30 * time.Second

// aggregation serves the APIServices that name a Service, as
// kube-aggregator: their requests are proxied (aggregator.Proxy), a
// controller keeps their Available condition and discovery, and the
// extension-apiserver-authentication ConfigMap tells extension
// apiservers whom to trust.
type aggregation struct {
	s            *Server
	agg          *aggregator.Aggregator
	frontProxyCA []byte

	queue workqueue.TypedRateLimitingInterface[string] // APIService names

	mu        sync.RWMutex // guards discovery
	discovery map[string]apidiscoveryv2.APIVersionDiscovery
}

// newAggregation loads or creates the front-proxy CA and client pair in
// DATA_DIR/pki, as kubeadm makes them: a CA of their own, so that a
// client of the cluster CA cannot pass for the proxy.
func newAggregation(s *Server) (*aggregation, error) {
	dir := filepath.Join(s.cfg.DataDir, "pki")
	ca, err := loadOrCreateCA(dir, frontProxyCAName, "front-proxy-ca")
	if err != nil {
		return nil, err
	}
	client, err := loadOrIssueClient(ca, dir, frontProxyClientName, aggregator.FrontProxyClientName, nil)
	if err != nil {
		return nil, err
	}
	return &aggregation{
		s:            s,
		agg:          aggregator.New(client.CertPEM, client.KeyPEM, webhook.NewServiceResolver(webhookObjects{s})),
		frontProxyCA: ca.CertPEM,
		queue:        workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		discovery:    map[string]apidiscoveryv2.APIVersionDiscovery{},
	}, nil
}

// loadOrCreateCA reuses dir/name or creates a CA named cn there.
func loadOrCreateCA(dir, name, cn string) (*pki.KeyPair, error) {
	if pki.Exists(dir, name) {
		kp, err := pki.Load(dir, name)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		return kp, nil
	}
	kp, err := pki.NewCA(cn)
	if err != nil {
		return nil, err
	}
	if err := kp.Write(dir, name); err != nil {
		return nil, err
	}
	return kp, nil
}

// apiService is the cached APIService of a group-version, nil if none.
func (a *aggregation) apiService(group, version string) *apiregistrationv1.APIService {
	obj := a.s.cached(apiregistrationv1.GroupName, "apiservices", "", version+"."+group)
	if obj == nil {
		return nil
	}
	return obj.(*apiregistrationv1.APIService)
}

// remote is endpoints.Options.Remote: the proxy of a group-version whose
// APIService names a Service.
func (a *aggregation) remote(group, version string) http.Handler {
	svc := a.apiService(group, version)
	if svc == nil || svc.Spec.Service == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := authn.UserFrom(r.Context())
		if !ok {
			http.Error(w, "missing user", http.StatusInternalServerError)
			return
		}
		a.agg.Proxy(w, r, svc, user)
	})
}

// remoteAPIServices lists the APIServices that name a Service.
func (a *aggregation) remoteAPIServices() []*apiregistrationv1.APIService {
	items, _ := a.s.store(apiregistrationv1.GroupName, "apiservices").Cache().List(watchcache.Predicate{})
	var out []*apiregistrationv1.APIService
	for _, obj := range items {
		if svc := obj.(*apiregistrationv1.APIService); svc.Spec.Service != nil {
			out = append(out, svc)
		}
	}
	return out
}

// remoteGroups is endpoints.Options.RemoteGroups: the remote
// group-versions by group, in kube-aggregator's order (groups by
// groupPriorityMinimum, versions by versionPriority, then Kubernetes'
// version order). A version whose discovery was never fetched is listed
// without resources; one whose last fetch failed keeps what was fetched,
// marked Stale, as kube-aggregator's discovery manager serves it.
func (a *aggregation) remoteGroups() []apidiscoveryv2.APIGroupDiscovery {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []apidiscoveryv2.APIGroupDiscovery
	for _, group := range helper.SortedByGroupAndVersion(a.remoteAPIServices()) {
		g := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group[0].Spec.Group}}
		for _, svc := range group {
			vd, ok := a.discovery[svc.Name]
			if !ok {
				vd = apidiscoveryv2.APIVersionDiscovery{Version: svc.Spec.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessStale}
			}
			g.Versions = append(g.Versions, vd)
		}
		out = append(out, g)
	}
	return out
}

// run keeps the remote APIServices' availability and discovery and the
// authentication ConfigMap until ctx ends.
func (a *aggregation) run(ctx context.Context) {
	defer a.queue.ShutDown()
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	go a.publishAuthentication(ctx)
	services := a.s.store(apiregistrationv1.GroupName, "apiservices").Cache()
	go a.s.follow(ctx, services, "apiservices for availability", func(initial []watchcache.Delivery) {
		for _, d := range initial {
			a.queue.Add(d.Object.(*apiregistrationv1.APIService).Name)
		}
	}, func(d watchcache.Delivery) {
		if svc, ok := d.Object.(*apiregistrationv1.APIService); ok && d.Type != watch.Bookmark {
			a.queue.Add(svc.Name)
		}
	})
	// A Service or its endpoints changing may change an APIService's
	// availability: look again at the APIServices naming it.
	backends := func(d watchcache.Delivery) {
		if d.Type == watch.Bookmark {
			return
		}
		m, ok := d.Object.(metav1.Object)
		if !ok {
			return
		}
		ns, name := m.GetNamespace(), m.GetName()
		if es, ok := d.Object.(*discoveryv1.EndpointSlice); ok {
			name = es.Labels[discoveryv1.LabelServiceName]
		}
		for _, svc := range a.remoteAPIServices() {
			if ref := svc.Spec.Service; ref.Namespace == ns && ref.Name == name {
				a.queue.Add(svc.Name)
			}
		}
	}
	for _, gr := range [][2]string{{"", "services"}, {discoveryv1.GroupName, "endpointslices"}} {
		go a.s.follow(ctx, a.s.store(gr[0], gr[1]).Cache(), gr[1]+" for apiservice availability", func([]watchcache.Delivery) {}, backends)
	}
	for {
		name, quit := a.queue.Get()
		if quit {
			return
		}
		if err := a.sync(ctx, name); err != nil && ctx.Err() == nil {
			a.s.log.Warn("apiservice availability: sync", zap.String("apiservice", name), zap.Error(err))
			a.queue.AddRateLimited(name)
		} else {
			a.queue.Forget(name)
		}
		a.queue.Done(name)
	}
}

// sync checks one remote APIService: its Available condition, written
// when it changes, and its discovery, fetched while it is available. It
// is looked at again every availabilityResync.
func (a *aggregation) sync(ctx context.Context, name string) error {
	obj := a.s.cached(apiregistrationv1.GroupName, "apiservices", "", name)
	if obj == nil || obj.(*apiregistrationv1.APIService).Spec.Service == nil {
		a.agg.Forget(name)
		a.mu.Lock()
		delete(a.discovery, name)
		a.mu.Unlock()
		return nil
	}
	svc := obj.(*apiregistrationv1.APIService)
	a.queue.AddAfter(name, availabilityResync)
	cond := a.agg.Available(ctx, aggregationObjects{a.s}, svc)
	if cond.Status == apiregistrationv1.ConditionTrue {
		if vd, err := a.agg.Discovery(ctx, svc); err == nil {
			a.mu.Lock()
			a.discovery[name] = vd
			a.mu.Unlock()
		} else {
			a.s.log.Debug("apiservice discovery", zap.String("apiservice", name), zap.Error(err))
			a.markStale(name)
		}
	} else {
		a.markStale(name)
	}
	if cur := helper.GetAPIServiceConditionByType(svc, apiregistrationv1.Available); cur != nil &&
		cur.Status == cond.Status && cur.Reason == cond.Reason && cur.Message == cond.Message {
		return nil
	}
	_, err := a.s.store(apiregistrationv1.GroupName, "apiservices").Update(ctx, "", name, func(obj runtime.Object) (runtime.Object, error) {
		if obj == nil {
			return nil, apierrors.NewNotFound(apiregistrationv1.Resource("apiservices"), name)
		}
		svc := obj.(*apiregistrationv1.APIService)
		if svc.Spec.Service == nil {
			return nil, errNotRemote
		}
		helper.SetAPIServiceCondition(svc, cond)
		return svc, nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Status})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || errors.Is(err, errNotRemote) {
		return nil
	}
	return err
}

// errNotRemote stops a status write to an APIService that has turned
// local meanwhile (the registration's to judge).
var errNotRemote = errors.New("apiservice is not remote")

// markStale keeps what was fetched of an APIService's discovery, marked
// Stale, while its server does not answer.
func (a *aggregation) markStale(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if vd, ok := a.discovery[name]; ok {
		vd.Freshness = apidiscoveryv2.DiscoveryFreshnessStale
		a.discovery[name] = vd
	}
}

// publishAuthentication writes kube-system/extension-apiserver-authentication
// (aggregator.AuthenticationConfigMapData) once kube-system exists, and
// puts it back every minute if it changed, as kube-apiserver's cluster
// authentication trust controller keeps it.
func (a *aggregation) publishAuthentication(ctx context.Context) {
	want := aggregator.AuthenticationConfigMapData(a.s.creds.ca.CertPEM, a.frontProxyCA)
	wait := 50 * time.Millisecond
	for {
		err := a.ensureAuthenticationConfigMap(ctx, want)
		if err == nil {
			wait = time.Minute
		} else if ctx.Err() == nil && a.s.cachesReady() == nil {
			a.s.log.Debug("extension-apiserver-authentication not written yet", zap.Error(err))
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *aggregation) ensureAuthenticationConfigMap(ctx context.Context, want map[string]string) error {
	if err := a.s.cachesReady(); err != nil {
		return err
	}
	cms := a.s.store("", "configmaps")
	ns, name := aggregator.AuthenticationNamespace, aggregator.AuthenticationConfigMapName
	cur, err := a.s.lookup(ctx, "", "configmaps", ns, name)
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: want}, genericstore.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if maps.Equal(cur.(*corev1.ConfigMap).Data, want) {
		return nil
	}
	_, err = cms.Update(ctx, ns, name, func(obj runtime.Object) (runtime.Object, error) {
		if obj == nil {
			return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
		}
		cm := obj.(*corev1.ConfigMap)
		cm.Data = want
		return cm, nil
	}, genericstore.UpdateOptions{})
	return err
}

// aggregationObjects reads Services and EndpointSlices for the
// availability checks, from the watch caches (etcd for a Service created
// a moment ago).
type aggregationObjects struct{ s *Server }

func (o aggregationObjects) Service(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	return webhookObjects(o).Service(ctx, namespace, name)
}

func (o aggregationObjects) EndpointSlices(_ context.Context, namespace, service string) ([]*discoveryv1.EndpointSlice, error) {
	items, _ := o.s.store(discoveryv1.GroupName, "endpointslices").Cache().List(watchcache.Predicate{
		Namespace: namespace,
		Label:     labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service}),
		Field:     fields.Everything(),
	})
	out := make([]*discoveryv1.EndpointSlice, 0, len(items))
	for _, obj := range items {
		out = append(out, obj.(*discoveryv1.EndpointSlice))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
