// Package resourcequota is the resource quota controller: it keeps each
// ResourceQuota's status true, status.hard the spec's hard limits and
// status.used what the namespace's objects use, counted the way the
// apiserver's quota admission charges them (coracle.dev/shared/quota).
//
// Admission charges new objects as they come; this controller gives
// back: it recounts a namespace's quotas as soon as one of its objects
// is deleted or changes so that it uses less (a pod finished, a Service
// stopped being a LoadBalancer), when a quota's hard limits change, and
// every sync period for all quotas, as Kubernetes' does. Objects counted
// only by number (count/<resource>.<group>) are watched, by their
// metadata, from the first quota that names their resource.
package resourcequota

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/shared/quota"
)

// Name is the controller's name.
const Name = "resourcequota-controller"

// DefaultSyncPeriod is how often every quota is recounted, as
// kube-controller-manager's --resource-quota-sync-period.
const DefaultSyncPeriod = 5 * time.Minute

// Recount is the controller's decision for one quota: the status it
// should have, given the usage registry counts in its namespace, and
// whether that differs from its status now. Usage the registry could not
// count keeps its last value (err says what failed); usage of resources
// no longer limited is dropped.
func Recount(q *corev1.ResourceQuota, registry quotav1.Registry) (corev1.ResourceQuotaStatus, bool, error) {
	hard := quotav1.Add(corev1.ResourceList{}, q.Spec.Hard)
	used := corev1.ResourceList{}
	if q.Status.Used != nil {
		used = quotav1.Add(corev1.ResourceList{}, q.Status.Used)
	}
	counted, err := quotav1.CalculateUsage(q.Namespace, q.Spec.Scopes, hard, registry, q.Spec.ScopeSelector)
	for name, v := range counted {
		used[name] = v
	}
	used = quotav1.Mask(used, quotav1.ResourceNames(hard))
	status := corev1.ResourceQuotaStatus{Hard: hard, Used: used}
	dirty := q.Status.Hard == nil || q.Status.Used == nil ||
		!apiequality.Semantic.DeepEqual(q.Spec.Hard, q.Status.Hard) || !quotav1.Equals(used, q.Status.Used)
	return status, dirty, err
}

// Controller is the resource quota controller.
type Controller struct {
	*controller.Base
	client    kubernetes.Interface
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	quotas    corelisters.ResourceQuotaLister
	log       *zap.Logger
	clock     clock.PassiveClock

	// listers of the kinds the shared informers cache, by resource.
	listers map[schema.GroupResource]func(namespace string) ([]runtime.Object, error)
	// registry holds the evaluators; those of count/ resources are
	// added as quotas name them. It guards itself.
	registry quotav1.Registry

	// runCtx bounds the informers started for count/ resources: the
	// controller's run, not one sync.
	runCtx context.Context

	mu       sync.Mutex // guards monitors
	monitors map[schema.GroupResource]cache.SharedIndexInformer
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	core := c.Informers.Core().V1()
	ctl := &Controller{
		client: c.Client, metadata: c.Metadata, discovery: c.Discovery,
		quotas: core.ResourceQuotas().Lister(), log: c.Log, clock: c.Clock,
		monitors: map[schema.GroupResource]cache.SharedIndexInformer{},
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.OnSynced(func(ctx context.Context) { ctl.runCtx = ctx })

	if err := ctl.Watch(core.ResourceQuotas().Informer(), controller.Handlers[*corev1.ResourceQuota]{
		Add: func(q *corev1.ResourceQuota) { ctl.Enqueue(controller.Key(q)) },
		// Status writes (the admission's, this controller's) are not
		// news: only a change of the limits asks for a recount.
		Update: func(old, q *corev1.ResourceQuota) {
			if !quotav1.Equals(old.Spec.Hard, q.Spec.Hard) {
				ctl.Enqueue(controller.Key(q))
			}
		},
	}); err != nil {
		return nil, err
	}

	pods, services, pvcs := core.Pods(), core.Services(), core.PersistentVolumeClaims()
	configMaps, secrets, rcs := core.ConfigMaps(), core.Secrets(), core.ReplicationControllers()
	ctl.listers = map[schema.GroupResource]func(string) ([]runtime.Object, error){
		quota.Pods: objects(func(ns string) ([]*corev1.Pod, error) { return pods.Lister().Pods(ns).List(labels.Everything()) }),
		quota.Services: objects(func(ns string) ([]*corev1.Service, error) {
			return services.Lister().Services(ns).List(labels.Everything())
		}),
		quota.PersistentVolumeClaims: objects(func(ns string) ([]*corev1.PersistentVolumeClaim, error) {
			return pvcs.Lister().PersistentVolumeClaims(ns).List(labels.Everything())
		}),
		{Resource: "configmaps"}: objects(func(ns string) ([]*corev1.ConfigMap, error) {
			return configMaps.Lister().ConfigMaps(ns).List(labels.Everything())
		}),
		{Resource: "secrets"}: objects(func(ns string) ([]*corev1.Secret, error) {
			return secrets.Lister().Secrets(ns).List(labels.Everything())
		}),
		{Resource: "replicationcontrollers"}: objects(func(ns string) ([]*corev1.ReplicationController, error) {
			return rcs.Lister().ReplicationControllers(ns).List(labels.Everything())
		}),
		{Resource: "resourcequotas"}: objects(func(ns string) ([]*corev1.ResourceQuota, error) {
			return ctl.quotas.ResourceQuotas(ns).List(labels.Everything())
		}),
	}
	ctl.registry = quota.NewRegistry(ctl.list, ctl.clock.Now)
	for gr, inf := range map[schema.GroupResource]cache.SharedIndexInformer{
		quota.Pods: pods.Informer(), quota.Services: services.Informer(), quota.PersistentVolumeClaims: pvcs.Informer(),
		{Resource: "configmaps"}: configMaps.Informer(), {Resource: "secrets"}: secrets.Informer(),
		{Resource: "replicationcontrollers"}: rcs.Informer(),
	} {
		if err := ctl.Watch(inf, ctl.replenishing(gr)); err != nil {
			return nil, err
		}
	}
	// Quotas count quotas too: a deleted one gives its count back.
	if _, err := core.ResourceQuotas().Informer().AddEventHandler(ctl.replenishing(schema.GroupResource{Resource: "resourcequotas"})); err != nil {
		return nil, err
	}

	period := c.Settings.ResourceQuotaSyncPeriod
	if period <= 0 {
		period = DefaultSyncPeriod
	}
	ctl.Every(period, ctl.enqueueAll)
	return ctl, nil
}

// objects adapts a typed lister to a list of runtime.Objects.
func objects[T runtime.Object](list func(ns string) ([]T, error)) func(string) ([]runtime.Object, error) {
	return func(ns string) ([]runtime.Object, error) {
		items, err := list(ns)
		if err != nil {
			return nil, err
		}
		out := make([]runtime.Object, len(items))
		for i, item := range items {
			out[i] = item
		}
		return out, nil
	}
}

// list is the evaluators' quota.ListFunc, over the informers' caches.
func (c *Controller) list(gr schema.GroupResource, namespace string) ([]runtime.Object, error) {
	if l, ok := c.listers[gr]; ok {
		return l(namespace)
	}
	c.mu.Lock()
	inf, ok := c.monitors[gr]
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s are not watched", gr)
	}
	items, err := inf.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, 0, len(items))
	for _, item := range items {
		if obj, ok := item.(runtime.Object); ok {
			out = append(out, obj)
		}
	}
	return out, nil
}

// replenishing returns the handlers of one resource's objects: a
// deletion, or a change that lowers usage, recounts the namespace's
// quotas that limit the resource.
func (c *Controller) replenishing(gr schema.GroupResource) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, obj any) {
			o, ok1 := old.(runtime.Object)
			n, ok2 := obj.(runtime.Object)
			if ok1 && ok2 && quota.ChangesUsage(gr, o, n, c.clock.Now()) {
				c.replenish(gr, n)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(runtime.Object); ok {
				c.replenish(gr, o)
			}
		},
	}
}

func (c *Controller) replenish(gr schema.GroupResource, obj runtime.Object) {
	m, ok := obj.(metav1.Object)
	if !ok || m.GetNamespace() == "" {
		return
	}
	e := c.registry.Get(gr)
	if e == nil {
		return
	}
	quotas, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range quotas {
		if len(e.MatchingResources(quotav1.ResourceNames(q.Status.Hard))) > 0 {
			c.Enqueue(controller.Key(q))
		}
	}
}

func (c *Controller) enqueueAll(context.Context) {
	quotas, err := c.quotas.List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range quotas {
		c.Enqueue(controller.Key(q))
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	q, ok, err := controller.Get[*corev1.ResourceQuota](key, c.quotas.ResourceQuotas)
	if !ok {
		return err
	}
	monitorErr := c.watchCounted(ctx, q.Spec.Hard)
	status, dirty, countErr := Recount(q, c.registry)
	if dirty {
		next := q.DeepCopy()
		next.Status = status
		if _, err := c.client.CoreV1().ResourceQuotas(q.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update status of quota %s: %w", key, err)
		}
	}
	if countErr != nil {
		return fmt.Errorf("count usage of quota %s: %w", key, countErr)
	}
	return monitorErr
}

// watchCounted makes sure every count/<resource>.<group> of hard is
// counted: an evaluator over a metadata informer of that resource, whose
// deletions recount the quotas. A resource the apiserver does not serve
// (yet: a CRD to come) is an error, so that the quota is tried again.
func (c *Controller) watchCounted(ctx context.Context, hard corev1.ResourceList) error {
	var missing []string
	for name := range hard {
		gr, ok := quota.ParseObjectCountName(name)
		if !ok || quota.Ignored(gr) || c.registry.Get(gr) != nil {
			continue
		}
		if err := c.monitor(ctx, gr); err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot count %v", missing)
	}
	return nil
}

func (c *Controller) monitor(ctx context.Context, gr schema.GroupResource) error {
	c.mu.Lock()
	_, started := c.monitors[gr]
	c.mu.Unlock()
	if started {
		// Another sync is starting it; this quota is counted again
		// when that one is done.
		return nil
	}
	gvr, err := c.resolve(gr)
	if err != nil {
		return err
	}
	inf := metadatainformer.NewFilteredMetadataInformer(c.metadata, gvr, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil).Informer()
	if _, err := inf.AddEventHandler(c.replenishing(gr)); err != nil {
		return err
	}
	c.mu.Lock()
	if _, ok := c.monitors[gr]; ok {
		c.mu.Unlock()
		return nil
	}
	c.monitors[gr] = inf
	c.mu.Unlock()
	go inf.Run(c.runCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("watch %s: %w", gvr, ctx.Err())
	}
	c.registry.Add(quota.ObjectCountEvaluator(gr, c.list))
	c.log.Info("counting objects for quota", zap.String("resource", gr.String()))
	return nil
}

// resolve finds the version the apiserver prefers for gr, which must be
// a namespaced resource that can be listed and watched.
func (c *Controller) resolve(gr schema.GroupResource) (schema.GroupVersionResource, error) {
	groups, err := c.discovery.ServerGroups()
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	for _, g := range groups.Groups {
		if g.Name != gr.Group {
			continue
		}
		list, err := c.discovery.ServerResourcesForGroupVersion(g.PreferredVersion.GroupVersion)
		if err != nil {
			return schema.GroupVersionResource{}, err
		}
		for _, r := range list.APIResources {
			if r.Name == gr.Resource && r.Namespaced && sets.New(r.Verbs...).HasAll("list", "watch") {
				return schema.GroupVersionResource{Group: gr.Group, Version: g.PreferredVersion.Version, Resource: gr.Resource}, nil
			}
		}
	}
	return schema.GroupVersionResource{}, fmt.Errorf("the server serves no namespaced %s to count", gr)
}
