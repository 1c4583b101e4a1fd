package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/customresource"
	"coracle.dev/apiserver/internal/genericstore"
	crdkind "coracle.dev/apiserver/internal/kinds/apiextensions"
	"coracle.dev/apiserver/internal/watchcache"
	"coracle.dev/apiserver/internal/webhook"
)

const crdGroup = apiextensionsv1.GroupName

// customKinds serves what CustomResourceDefinitions define, as
// apiextensions-apiserver's controllers and handler do: it accepts a
// CRD's names when no other CRD of the group holds them (NamesAccepted),
// registers a store and watch cache per served version and only then
// sets Established, re-serves a CRD whose spec or names change, and on
// deletion deletes every instance before it lets the CRD go.
type customKinds struct {
	s *Server

	mu     sync.RWMutex
	stores map[*apiresource.Descriptor]*genericstore.Store
	served map[string]*servedCRD // by CRD name

	queue workqueue.TypedRateLimitingInterface[string]
	// synced closes once every CRD present at start has been handled.
	synced chan struct{}
}

// servedCRD is one CRD's descriptors and the caches behind them.
type servedCRD struct {
	key         string // what the descriptors were made from
	descs       []*apiresource.Descriptor
	stop        context.CancelFunc
	terminating bool
}

func newCustomKinds(s *Server) *customKinds {
	return &customKinds{
		s: s, stores: map[*apiresource.Descriptor]*genericstore.Store{}, served: map[string]*servedCRD{},
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		synced: make(chan struct{}),
	}
}

// store returns the store of a custom resource descriptor, nil if d is
// not one (any more).
func (c *customKinds) store(d *apiresource.Descriptor) *genericstore.Store {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stores[d]
}

// syncedErr is the readiness check: the CRDs stored at start are served.
func (c *customKinds) syncedErr() error {
	select {
	case <-c.synced:
		return nil
	default:
		return errors.New("custom resource definitions not served yet")
	}
}

func (c *customKinds) crdStore() *genericstore.Store {
	return c.s.store(crdGroup, "customresourcedefinitions")
}

// run watches the CRDs and serves them until ctx ends.
func (c *customKinds) run(ctx context.Context) {
	defer c.queue.ShutDown()
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	go c.work(ctx)
	first := true
	c.s.follow(ctx, c.crdStore().Cache(), "custom resource definitions", func(initial []watchcache.Delivery) {
		var names []string
		for _, d := range initial {
			if crd, ok := d.Object.(*apiextensionsv1.CustomResourceDefinition); ok {
				names = append(names, crd.Name)
			}
		}
		if !first {
			for _, name := range names {
				c.queue.Add(name)
			}
			return
		}
		first = false
		// Serve what exists before readiness, one by one here, so a
		// restarted apiserver answers for every custom resource from its
		// first ready moment.
		for _, name := range names {
			if err := c.sync(ctx, name); err != nil {
				c.queue.AddRateLimited(name)
			}
		}
		close(c.synced)
	}, func(d watchcache.Delivery) {
		if crd, ok := d.Object.(*apiextensionsv1.CustomResourceDefinition); ok && d.Type != watch.Bookmark {
			c.queue.Add(crd.Name)
		}
	})
}

func (c *customKinds) work(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		err := c.sync(ctx, name)
		switch {
		case err == nil:
			c.queue.Forget(name)
		case errors.Is(err, errRequeue):
			c.queue.AddAfter(name, time.Second)
		default:
			if ctx.Err() == nil {
				c.s.log.Warn("crd controller: sync", zap.String("crd", name), zap.Error(err))
			}
			c.queue.AddRateLimited(name)
		}
		c.queue.Done(name)
	}
}

// errRequeue asks for another look in a moment (instances still being
// deleted).
var errRequeue = errors.New("requeue")

func (c *customKinds) sync(ctx context.Context, name string) error {
	obj := c.s.cached(crdGroup, "customresourcedefinitions", "", name)
	if obj == nil {
		c.unserve(name)
		return nil
	}
	crd := obj.(*apiextensionsv1.CustomResourceDefinition)
	if crd.DeletionTimestamp != nil {
		return c.finalize(ctx, crd)
	}
	if !crdkind.IsConditionTrue(crd, apiextensionsv1.NamesAccepted) || namesDiffer(crd) {
		changed, err := c.acceptNames(ctx, crd)
		if err != nil || changed {
			return err // the status write comes back as an event
		}
	}
	if crd.Status.AcceptedNames.Plural == "" {
		return nil // names refused: nothing to serve
	}
	if err := c.serve(ctx, crd); err != nil {
		return err
	}
	if !crdkind.IsConditionTrue(crd, apiextensionsv1.Established) {
		return c.updateStatus(ctx, name, func(crd *apiextensionsv1.CustomResourceDefinition) {
			crdkind.SetCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{
				Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue,
				Reason: "InitialNamesAccepted", Message: "the initial names have been accepted",
			})
		})
	}
	return nil
}

// namesDiffer reports whether the spec asks for names not yet accepted.
func namesDiffer(crd *apiextensionsv1.CustomResourceDefinition) bool {
	a, b := crd.Spec.Names, crd.Status.AcceptedNames
	return a.Plural != b.Plural || a.Singular != b.Singular || a.Kind != b.Kind || a.ListKind != b.ListKind ||
		!slices.Equal(a.ShortNames, b.ShortNames) || !slices.Equal(a.Categories, b.Categories)
}

// acceptNames checks crd's names against the other CRDs of its group, as
// Kubernetes' naming controller does, and records the outcome.
func (c *customKinds) acceptNames(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	plurals, singulars, kinds, listKinds, shortNames := sets.New[string](), sets.New[string](), sets.New[string](), sets.New[string](), sets.New[string]()
	items, _ := c.crdStore().Cache().List(watchcache.Predicate{})
	for _, o := range items {
		other := o.(*apiextensionsv1.CustomResourceDefinition)
		if other.Name == crd.Name || other.Spec.Group != crd.Spec.Group {
			continue
		}
		n := other.Status.AcceptedNames
		plurals.Insert(n.Plural)
		singulars.Insert(n.Singular)
		kinds.Insert(n.Kind)
		listKinds.Insert(n.ListKind)
		shortNames.Insert(n.ShortNames...)
	}
	names := crd.Spec.Names
	cond := apiextensionsv1.CustomResourceDefinitionCondition{
		Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue, Reason: "NoConflicts", Message: "no conflicts found",
	}
	accepted := names
	conflict := func(reason, msg string) {
		cond.Status, cond.Reason, cond.Message = apiextensionsv1.ConditionFalse, reason, msg
		accepted = crd.Status.AcceptedNames
	}
	switch {
	case plurals.Has(names.Plural) || singulars.Has(names.Plural):
		conflict("PluralConflict", fmt.Sprintf("%q is already in use", names.Plural))
	case plurals.Has(names.Singular) || singulars.Has(names.Singular):
		conflict("SingularConflict", fmt.Sprintf("%q is already in use", names.Singular))
	case kinds.Has(names.Kind) || listKinds.Has(names.Kind):
		conflict("KindConflict", fmt.Sprintf("%q is already in use", names.Kind))
	case kinds.Has(names.ListKind) || listKinds.Has(names.ListKind):
		conflict("ListKindConflict", fmt.Sprintf("%q is already in use", names.ListKind))
	default:
		for _, sn := range names.ShortNames {
			if shortNames.Has(sn) {
				conflict("ShortNamesConflict", fmt.Sprintf("%q is already in use", sn))
				break
			}
		}
	}
	if cur := crdkind.FindCondition(crd, apiextensionsv1.NamesAccepted); cur != nil &&
		cur.Status == cond.Status && cur.Reason == cond.Reason && cur.Message == cond.Message &&
		equalJSON(crd.Status.AcceptedNames, accepted) {
		return false, nil
	}
	return true, c.updateStatus(ctx, crd.Name, func(crd *apiextensionsv1.CustomResourceDefinition) {
		crd.Status.AcceptedNames = accepted
		crdkind.SetCondition(crd, cond)
	})
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// updateStatus writes a change to the CRD's status, on the latest copy.
func (c *customKinds) updateStatus(ctx context.Context, name string, change func(*apiextensionsv1.CustomResourceDefinition)) error {
	_, err := c.crdStore().Update(ctx, "", name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(apiextensionsv1.Resource("customresourcedefinitions"), name)
		}
		crd := cur.(*apiextensionsv1.CustomResourceDefinition)
		change(crd)
		return crd, nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Status})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// serveKey is what a CRD's descriptors depend on: its spec (generation)
// and accepted names.
func serveKey(crd *apiextensionsv1.CustomResourceDefinition) string {
	names, _ := json.Marshal(crd.Status.AcceptedNames)
	return fmt.Sprintf("%s/%d/%s", crd.UID, crd.Generation, names)
}

// serve registers crd's descriptors (again, if it changed) and waits for
// their caches to list.
func (c *customKinds) serve(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	key := serveKey(crd)
	c.mu.RLock()
	cur := c.served[crd.Name]
	c.mu.RUnlock()
	if cur != nil && cur.key == key {
		return nil
	}
	conv, err := customresource.NewConverter(crd, webhook.NewServiceResolver(webhookObjects{c.s}))
	if err != nil {
		return err
	}
	descs, err := customresource.Descriptors(crd, conv)
	if err != nil {
		return err
	}
	// The new descriptors are made and their caches listed before they
	// replace the old ones in one step: a CRD that changes (a default
	// added, a conversion webhook set) is never unserved in between.
	cctx, stop := context.WithCancel(c.s.bgCtx)
	sc := &servedCRD{key: key, descs: descs, stop: stop}
	stores := map[*apiresource.Descriptor]*genericstore.Store{}
	var caches []*watchcache.Cache
	for _, d := range descs {
		cache := watchcache.New(watchcache.Config{
			Client: c.s.etcd.Client, Prefix: d.KeyPrefix(), NewObject: d.New, Attrs: d.Fields, Decoded: d.ReadAs,
			Capacity: c.s.cfg.WatchCacheSize, BookmarkInterval: c.s.cfg.WatchBookmarkInterval,
			RequestProgress: c.s.etcd.Client.RequestProgress, Log: c.s.log.Named("watchcache"),
		})
		caches = append(caches, cache)
		go cache.Run(cctx)
		opts := genericstore.Options{Descriptor: d, Storage: c.s.etcdStore, Cache: cache, Log: c.s.log}
		if d.Namespaced {
			opts.Namespaces = c.s.namespaceLifecycle
		}
		opts.Admitters = append([]genericstore.Admitter{terminatingCheck{c, crd.Name, d}}, c.s.admitters(d)...)
		stores[d] = genericstore.New(opts)
	}
	for _, cache := range caches {
		for !cache.Ready() {
			select {
			case <-ctx.Done():
				stop()
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if err := c.s.fields.addCustom(crd, descs); err != nil {
		stop()
		return err
	}
	c.mu.Lock()
	old := c.served[crd.Name]
	c.served[crd.Name] = sc
	for d, st := range stores {
		c.stores[d] = st
	}
	c.mu.Unlock()
	var oldDescs []*apiresource.Descriptor
	if old != nil {
		oldDescs = old.descs
	}
	if err := c.s.registry.Replace(oldDescs, descs); err != nil {
		c.mu.Lock()
		c.served[crd.Name] = old
		c.mu.Unlock()
		c.forget(sc)
		return err
	}
	if old != nil {
		c.forget(old)
	}
	if err := c.s.openapi.SetCustomResource(crd); err != nil {
		// Served, but not described: kubectl explain will not know it.
		c.s.log.Warn("openapi of custom resource", zap.String("crd", crd.Name), zap.Error(err))
	}
	c.s.log.Info("serving custom resource", zap.String("crd", crd.Name), zap.Int("versions", len(descs)))
	return nil
}

// unserve stops serving a CRD's resources.
func (c *customKinds) unserve(name string) {
	c.mu.Lock()
	sc := c.served[name]
	delete(c.served, name)
	c.mu.Unlock()
	if sc == nil {
		return
	}
	c.s.registry.Remove(sc.descs...)
	c.s.openapi.RemoveCustomResource(name)
	c.forget(sc)
}

// forget drops what one serving of a CRD made, once the registry no
// longer hands out its descriptors.
func (c *customKinds) forget(sc *servedCRD) {
	c.mu.Lock()
	for _, d := range sc.descs {
		delete(c.stores, d)
	}
	c.mu.Unlock()
	c.s.fields.removeCustom(sc.descs)
	sc.stop()
}

// terminatingCheck refuses new instances of a CRD being deleted, as
// Kubernetes does.
type terminatingCheck struct {
	c    *customKinds
	name string
	d    *apiresource.Descriptor
}

func (t terminatingCheck) AdmitCreate(context.Context, runtime.Object) error {
	t.c.mu.RLock()
	sc := t.c.served[t.name]
	terminating := sc != nil && sc.terminating
	t.c.mu.RUnlock()
	if terminating {
		err := apierrors.NewMethodNotSupported(t.d.GroupResource(), "create")
		err.ErrStatus.Message = "create not allowed while custom resource definition is terminating"
		return err
	}
	return nil
}

// finalize deletes every instance of a CRD being deleted, then removes
// the cleanup finalizer, which lets the CRD go.
func (c *customKinds) finalize(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	if !crdkind.HasCleanupFinalizer(crd) {
		return nil
	}
	c.mu.Lock()
	sc := c.served[crd.Name]
	if sc != nil {
		sc.terminating = true
	}
	c.mu.Unlock()
	if sc != nil && crdkind.IsConditionTrue(crd, apiextensionsv1.Established) {
		if cond := crdkind.FindCondition(crd, apiextensionsv1.Terminating); cond == nil || cond.Reason != "InstanceDeletionInProgress" {
			if err := c.updateStatus(ctx, crd.Name, func(crd *apiextensionsv1.CustomResourceDefinition) {
				crdkind.SetCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{
					Type: apiextensionsv1.Terminating, Status: apiextensionsv1.ConditionTrue,
					Reason: "InstanceDeletionInProgress", Message: "CustomResource deletion is in progress",
				})
			}); err != nil {
				return err
			}
		}
		left, err := c.deleteInstances(ctx, sc)
		if err != nil {
			return err
		}
		if left > 0 {
			return errRequeue
		}
	}
	_, err := c.crdStore().Update(ctx, "", crd.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(apiextensionsv1.Resource("customresourcedefinitions"), crd.Name)
		}
		crd := cur.(*apiextensionsv1.CustomResourceDefinition)
		crd.Finalizers = slices.DeleteFunc(crd.Finalizers, func(f string) bool { return f == apiextensionsv1.CustomResourceCleanupFinalizer })
		return crd, nil
	}, genericstore.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// deleteInstances deletes every stored instance and returns how many are
// still there (waiting on their own finalizers).
func (c *customKinds) deleteInstances(ctx context.Context, sc *servedCRD) (int, error) {
	c.mu.RLock()
	st := c.stores[sc.descs[0]]
	c.mu.RUnlock()
	if st == nil {
		return 0, nil
	}
	list, err := st.List(ctx, genericstore.ListOptions{})
	if err != nil {
		return 0, err
	}
	items, err := metaItems(list)
	if err != nil {
		return 0, err
	}
	left := 0
	for _, m := range items {
		res, err := st.Delete(ctx, m.namespace, m.name, nil, false)
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
		if err == nil && !res.Deleted {
			left++
		}
	}
	return left, nil
}

type objectName struct{ namespace, name string }

// metaItems names the items of a list.
func metaItems(list runtime.Object) ([]objectName, error) {
	var out []objectName
	err := meta.EachListItem(list, func(obj runtime.Object) error {
		m, err := meta.Accessor(obj)
		if err != nil {
			return err
		}
		out = append(out, objectName{m.GetNamespace(), m.GetName()})
		return nil
	})
	return out, err
}
