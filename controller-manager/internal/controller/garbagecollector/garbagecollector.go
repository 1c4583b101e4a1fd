// Package garbagecollector is the garbage collector: it deletes objects
// whose owners (metadata.ownerReferences) are gone, and carries out the
// propagation policies of deletes: Background (dependents go after the
// owner), Foreground (the owner, marked with the foregroundDeletion
// finalizer, waits until its blocking dependents are gone) and Orphan
// (the owner, marked with the orphan finalizer, waits until its
// dependents no longer reference it).
//
// It watches the metadata of every resource discovery lists as
// deletable (rediscovered periodically), indexes objects by UID and by
// owner UID, and works through two queues: objects to check against
// their owners (attemptToDelete) and owners whose dependents to orphan.
// The cache decides what looks like work; anything it is about to
// delete or un-own is checked against the apiserver first.
package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
)

// Name is the controller's name.
const Name = "garbage-collector-controller"

const (
	uidIndex   = "uid"
	ownerIndex = "owner"
)

// ignored are resources the collector never watches, as Kubernetes
// ignores events.
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// item names one object of one resource.
type item struct {
	GVR       schema.GroupVersionResource
	Namespace string
	Name      string
	UID       types.UID
}

func (i item) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", i.GVR.GroupResource(), i.Namespace, i.Name, i.UID)
}

// mapping is how an owner reference's kind is found among resources.
type mapping struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

type monitor struct {
	gvr      schema.GroupVersionResource
	informer cache.SharedIndexInformer
	stop     chan struct{}
}

// Controller is the garbage collector.
type Controller struct {
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	recorder  record.EventRecorder
	log       *zap.Logger
	workers   int
	resync    time.Duration

	toDelete *controller.Queue[item]
	toOrphan *controller.Queue[item]

	mu       sync.RWMutex // guards monitors and mappings
	monitors map[schema.GroupVersionResource]*monitor
	mappings map[schema.GroupVersionKind]mapping
}

// New builds the collector.
func New(c controller.Context) (*Controller, error) {
	resync := c.Settings.GCResyncPeriod
	if resync == 0 {
		resync = 30 * time.Second
	}
	return &Controller{
		metadata: c.Metadata, discovery: c.Discovery, recorder: c.Recorder, log: c.Log,
		workers: max(c.Workers, 4), resync: resync,
		toDelete: controller.NewQueue[item](c.QueueOptions("garbage_collector_attempt_to_delete")),
		toOrphan: controller.NewQueue[item](c.QueueOptions("garbage_collector_attempt_to_orphan")),
		monitors: map[schema.GroupVersionResource]*monitor{},
		mappings: map[schema.GroupVersionKind]mapping{},
	}, nil
}

// Run implements controller.Runner.
func (c *Controller) Run(ctx context.Context) {
	defer c.stopMonitors()
	// Until the first discovery works, nothing can be collected.
	for ctx.Err() == nil {
		if err := c.syncMonitors(); err == nil {
			break
		} else {
			c.log.Warn("discovery failed; retrying", zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if !c.waitForMonitors(ctx) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		c.toDelete.Run(ctx, c.workers, c.attemptToDelete)
	}()
	go func() {
		defer wg.Done()
		c.toOrphan.Run(ctx, c.workers, c.attemptToOrphan)
	}()
	go func() {
		defer wg.Done()
		wait.UntilWithContext(ctx, func(context.Context) {
			if err := c.syncMonitors(); err != nil {
				c.log.Info("rediscovery of resources failed", zap.Error(err))
			}
		}, c.resync)
	}()
	wg.Wait()
}

func (c *Controller) waitForMonitors(ctx context.Context) bool {
	c.mu.RLock()
	var synced []cache.InformerSynced
	for _, m := range c.monitors {
		synced = append(synced, m.informer.HasSynced)
	}
	c.mu.RUnlock()
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

// syncMonitors discovers the deletable resources and watches each.
func (c *Controller) syncMonitors() error {
	lists, err := c.discovery.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return fmt.Errorf("discover resources: %w", err)
	}
	wanted := map[schema.GroupVersionResource]bool{}
	mappings := map[schema.GroupVersionKind]mapping{}
	for _, list := range lists {
		gv, perr := schema.ParseGroupVersion(list.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range list.APIResources {
			gvr := gv.WithResource(r.Name)
			mappings[gv.WithKind(r.Kind)] = mapping{gvr: gvr, namespaced: r.Namespaced}
			verbs := sets.New(r.Verbs...)
			if !verbs.HasAll("list", "watch", "delete", "get", "patch") || ignored[gvr.GroupResource()] {
				continue
			}
			wanted[gvr] = true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for gvk, m := range mappings {
		c.mappings[gvk] = m
	}
	for gvr := range wanted {
		if _, ok := c.monitors[gvr]; ok {
			continue
		}
		inf := metadatainformer.NewFilteredMetadataInformer(c.metadata, gvr, metav1.NamespaceAll, 0, cache.Indexers{
			uidIndex:   func(obj any) ([]string, error) { return []string{string(obj.(metav1.Object).GetUID())}, nil },
			ownerIndex: ownerUIDs,
		}, nil).Informer()
		if _, err := inf.AddEventHandler(c.handlers(gvr)); err != nil {
			return err
		}
		m := &monitor{gvr: gvr, informer: inf, stop: make(chan struct{})}
		c.monitors[gvr] = m
		go inf.Run(m.stop)
	}
	for gvr, m := range c.monitors {
		if !wanted[gvr] && err == nil {
			close(m.stop)
			delete(c.monitors, gvr)
		}
	}
	return nil
}

func (c *Controller) stopMonitors() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for gvr, m := range c.monitors {
		close(m.stop)
		delete(c.monitors, gvr)
	}
}

func ownerUIDs(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, ref := range m.GetOwnerReferences() {
		out = append(out, string(ref.UID))
	}
	return out, nil
}

func itemOf(gvr schema.GroupVersionResource, m metav1.Object) item {
	return item{GVR: gvr, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()}
}

// handlers queue work for the events of one resource.
func (c *Controller) handlers(gvr schema.GroupVersionResource) cache.ResourceEventHandler {
	onChange := func(m metav1.Object) {
		if len(m.GetOwnerReferences()) > 0 {
			c.toDelete.Add(itemOf(gvr, m))
		}
		if m.GetDeletionTimestamp() == nil {
			return
		}
		if has(m.GetFinalizers(), metav1.FinalizerOrphanDependents) {
			c.toOrphan.Add(itemOf(gvr, m))
		}
		if has(m.GetFinalizers(), metav1.FinalizerDeleteDependents) {
			c.toDelete.Add(itemOf(gvr, m))
			for _, d := range c.dependents(m.GetUID()) {
				c.toDelete.Add(d)
			}
		}
	}
	return controller.Handlers[metav1.Object]{
		Add: onChange,
		Update: func(old, m metav1.Object) {
			onChange(m)
			// An owner waiting in the foreground may be waiting for a
			// reference this update removed.
			c.queueWaitingOwners(old)
		},
		Delete: func(m metav1.Object) {
			for _, d := range c.dependents(m.GetUID()) {
				c.toDelete.Add(d)
			}
			c.queueWaitingOwners(m)
		},
	}
}

// queueWaitingOwners queues the owners of m that wait for their
// dependents in the foreground.
func (c *Controller) queueWaitingOwners(m metav1.Object) {
	for _, ref := range m.GetOwnerReferences() {
		for _, o := range c.byUID(ref.UID) {
			if waitingForDependents(o.obj) {
				c.toDelete.Add(itemOf(o.gvr, o.obj))
			}
		}
	}
}

type cached struct {
	gvr schema.GroupVersionResource
	obj metav1.Object
}

// byUID returns the cached objects with uid (one, unless a resource is
// served under two versions).
func (c *Controller) byUID(uid types.UID) []cached {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []cached
	for gvr, m := range c.monitors {
		objs, _ := m.informer.GetIndexer().ByIndex(uidIndex, string(uid))
		for _, o := range objs {
			if mo, ok := o.(metav1.Object); ok {
				out = append(out, cached{gvr: gvr, obj: mo})
			}
		}
	}
	return out
}

// dependents returns the cached objects that name uid as an owner.
func (c *Controller) dependents(uid types.UID) []item {
	var out []item
	for _, d := range c.dependentObjects(uid) {
		out = append(out, itemOf(d.gvr, d.obj))
	}
	return out
}

func (c *Controller) dependentObjects(uid types.UID) []cached {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []cached
	for gvr, m := range c.monitors {
		objs, _ := m.informer.GetIndexer().ByIndex(ownerIndex, string(uid))
		for _, o := range objs {
			if mo, ok := o.(metav1.Object); ok {
				out = append(out, cached{gvr: gvr, obj: mo})
			}
		}
	}
	return out
}

func (c *Controller) cachedObject(it item) (metav1.Object, bool) {
	c.mu.RLock()
	m, ok := c.monitors[it.GVR]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	key := it.Name
	if it.Namespace != "" {
		key = it.Namespace + "/" + it.Name
	}
	obj, exists, err := m.informer.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, false
	}
	mo, ok := obj.(metav1.Object)
	return mo, ok
}

func (c *Controller) resource(it item) metadata.ResourceInterface {
	if it.Namespace == "" {
		return c.metadata.Resource(it.GVR)
	}
	return c.metadata.Resource(it.GVR).Namespace(it.Namespace)
}

// getLive reads the object from the apiserver; nil if it is gone or was
// replaced by another of the same name.
func (c *Controller) getLive(ctx context.Context, it item) (metav1.Object, error) {
	obj, err := c.resource(it).Get(ctx, it.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if it.UID != "" && obj.UID != it.UID {
		return nil, nil
	}
	return obj, nil
}

// ownerItem resolves an owner reference of an object in namespace ns.
// ok is false when its kind is not served: such a reference is left
// alone.
func (c *Controller) ownerItem(ref metav1.OwnerReference, ns string) (item, bool, bool) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return item{}, false, false
	}
	c.mu.RLock()
	m, ok := c.mappings[gv.WithKind(ref.Kind)]
	c.mu.RUnlock()
	if !ok {
		return item{}, false, false
	}
	it := item{GVR: m.gvr, Name: ref.Name, UID: ref.UID}
	if m.namespaced {
		if ns == "" {
			// A cluster-scoped object cannot be owned by a namespaced one.
			return it, true, true
		}
		it.Namespace = ns
	}
	return it, true, false
}

// ownerStates classifies the owners of m; live asks the apiserver about
// owners the cache does not have.
func (c *Controller) ownerStates(ctx context.Context, m metav1.Object, live bool) ([]OwnerState, bool, error) {
	refs := m.GetOwnerReferences()
	states := make([]OwnerState, len(refs))
	allSolid := true
	for i, ref := range refs {
		it, ok, invalid := c.ownerItem(ref, m.GetNamespace())
		switch {
		case !ok:
			states[i] = Solid
			continue
		case invalid:
			states[i] = Dangling
			allSolid = false
			continue
		}
		owner, found := c.cachedObject(it)
		if !found || owner.GetUID() != ref.UID {
			if !live {
				allSolid = false
				continue
			}
			var err error
			if owner, err = c.getLive(ctx, it); err != nil {
				return nil, false, err
			}
		}
		switch {
		case owner == nil:
			states[i] = Dangling
			allSolid = false
		case waitingForDependents(owner):
			states[i] = Waiting
			allSolid = false
		default:
			states[i] = Solid
		}
	}
	return states, allSolid, nil
}

// attemptToDelete checks one object against its owners, and an owner
// being deleted in the foreground against its dependents.
func (c *Controller) attemptToDelete(ctx context.Context, it item) error {
	// The cache first: most objects have solid owners, and need no call.
	if m, ok := c.cachedObject(it); ok && m.GetUID() == it.UID && m.GetDeletionTimestamp() == nil {
		if _, allSolid, _ := c.ownerStates(ctx, m, false); allSolid {
			return nil
		}
	}
	latest, err := c.getLive(ctx, it)
	if err != nil || latest == nil {
		return err
	}
	if latest.GetDeletionTimestamp() != nil {
		if has(latest.GetFinalizers(), metav1.FinalizerDeleteDependents) {
			return c.processDeletingDependents(ctx, it, latest)
		}
		return nil
	}
	if len(latest.GetOwnerReferences()) == 0 {
		return nil
	}
	states, _, err := c.ownerStates(ctx, latest, true)
	if err != nil {
		return err
	}
	action := Decide(latest.GetOwnerReferences(), states, c.dependentsOf(it.UID), latest.GetFinalizers())
	switch action.Kind {
	case RemoveRefs:
		for _, uid := range action.Remove {
			if err := c.patch(ctx, it, claim.ReleasePatch(uid, it.UID)); err != nil {
				return err
			}
		}
		c.log.Debug("removed dangling owner references", zap.Stringer("object", it))
	case Delete:
		if patch := UnblockPatch(it.UID, latest.GetOwnerReferences()); action.Unblock && patch != nil {
			if err := c.patch(ctx, it, patch); err != nil {
				return err
			}
			c.log.Debug("unblocked owner references to break a dependency circle", zap.Stringer("object", it))
		}
		policy := action.Policy
		uid := it.UID
		err := c.resource(it).Delete(ctx, it.Name, metav1.DeleteOptions{
			PropagationPolicy: &policy,
			Preconditions:     &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete %s: %w", it, err)
		}
		c.log.Debug("deleted object whose owners are gone", zap.Stringer("object", it), zap.String("propagation", string(policy)))
	}
	return nil
}

// processDeletingDependents finishes a foreground deletion once no
// blocking dependent is left, and otherwise makes sure they go.
func (c *Controller) processDeletingDependents(ctx context.Context, it item, owner metav1.Object) error {
	var deps []metav1.Object
	byObj := map[metav1.Object]schema.GroupVersionResource{}
	for _, d := range c.dependentObjects(owner.GetUID()) {
		deps = append(deps, d.obj)
		byObj[d.obj] = d.gvr
	}
	blocking := Blocking(owner.GetUID(), deps)
	if len(blocking) == 0 {
		return c.removeFinalizer(ctx, it, metav1.FinalizerDeleteDependents)
	}
	// A blocking dependent that waits for its own dependents is left to
	// its events: queueing it again here would chase a circle of them
	// round and round.
	for _, d := range blocking {
		if !waitingForDependents(d) {
			c.toDelete.Add(itemOf(byObj[d], d))
		}
	}
	return nil
}

// dependentsOf says whether the cached objects name uid as their owner,
// and whether one of them waits for its own dependents.
func (c *Controller) dependentsOf(uid types.UID) Dependents {
	deps := c.dependentObjects(uid)
	if len(deps) == 0 {
		return NoDependents
	}
	for _, d := range deps {
		if waitingForDependents(d.obj) {
			return DependentsWaiting
		}
	}
	return HasDependents
}

// attemptToOrphan removes the owner's references from its dependents,
// then its orphan finalizer.
func (c *Controller) attemptToOrphan(ctx context.Context, it item) error {
	owner, err := c.getLive(ctx, it)
	if err != nil || owner == nil {
		return err
	}
	if owner.GetDeletionTimestamp() == nil || !has(owner.GetFinalizers(), metav1.FinalizerOrphanDependents) {
		return nil
	}
	for _, d := range c.dependents(it.UID) {
		if err := c.patch(ctx, d, claim.ReleasePatch(it.UID, d.UID)); err != nil {
			return err
		}
	}
	return c.removeFinalizer(ctx, it, metav1.FinalizerOrphanDependents)
}

func (c *Controller) patch(ctx context.Context, it item, patch []byte) error {
	_, err := c.resource(it).Patch(ctx, it.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("patch %s: %w", it, err)
	}
	return nil
}

// removeFinalizer removes finalizer from the object, guarded by its
// resourceVersion.
func (c *Controller) removeFinalizer(ctx context.Context, it item, finalizer string) error {
	latest, err := c.getLive(ctx, it)
	if err != nil || latest == nil {
		return err
	}
	var keep []string
	for _, f := range latest.GetFinalizers() {
		if f != finalizer {
			keep = append(keep, f)
		}
	}
	if len(keep) == len(latest.GetFinalizers()) {
		return nil
	}
	if keep == nil {
		keep = []string{}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": keep, "resourceVersion": latest.GetResourceVersion(), "uid": latest.GetUID(),
	}})
	_, err = c.resource(it).Patch(ctx, it.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove finalizer %s from %s: %w", finalizer, it, err)
	}
	c.log.Debug("removed finalizer", zap.Stringer("object", it), zap.String("finalizer", finalizer))
	return nil
}
