package volumebinding

import (
	"fmt"
	"strconv"
	"sync"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// assumeCache overlays an informer's store with the objects the scheduler
// has decided to write but whose writes it has not seen come back yet: a
// volume pre-bound to a claim in Reserve, a claim given its selected node.
// The next pod's cycle reads through the overlay, so two pods scheduled
// back to back never choose the same volume.
//
// An assumed object is a modified copy of the stored version it was made
// from, with that version's resourceVersion. It is seen only while the
// store still holds that version: once the informer delivers a newer one
// (our write, or anyone's), the store is the truth again and the assumed
// copy is dropped, as in Kubernetes' scheduler.
type assumeCache[T metav1.Object] struct {
	gr    schema.GroupResource
	store toolscache.Indexer

	// mu guards assumed, and is held across reads of store that compare
	// with it, so that a read never pairs an assumed copy with a store
	// version the informer replaced meanwhile.
	mu      sync.RWMutex
	assumed map[string]T
}

func newAssumeCache[T metav1.Object](store toolscache.Indexer, gr schema.GroupResource) *assumeCache[T] {
	return &assumeCache[T]{gr: gr, store: store, assumed: map[string]T{}}
}

// handler drops assumed copies that the informer's newer versions (or
// deletions) have made stale; register it on the store's informer.
func (c *assumeCache[T]) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    c.expire,
		UpdateFunc: func(_, obj any) { c.expire(obj) },
		DeleteFunc: c.expire,
	}
}

func (c *assumeCache[T]) expire(obj any) {
	key, err := toolscache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	assumed, ok := c.assumed[key]
	if !ok {
		return
	}
	stored, err := c.getAPIObjLocked(key)
	if err == nil && stored.GetResourceVersion() == assumed.GetResourceVersion() {
		return // a resync of the version the copy was made from
	}
	delete(c.assumed, key)
}

// GetAPIObj returns the informer's version of the object, ignoring what
// was assumed: what the API has really accepted.
func (c *assumeCache[T]) GetAPIObj(key string) (T, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.getAPIObjLocked(key)
}

func (c *assumeCache[T]) getAPIObjLocked(key string) (T, error) {
	var zero T
	obj, ok, err := c.store.GetByKey(key)
	if err != nil {
		return zero, err
	}
	if !ok {
		return zero, apierrors.NewNotFound(c.gr, key)
	}
	v, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %q: stored object is a %T", c.gr.Resource, key, obj)
	}
	return v, nil
}

// Get returns the assumed copy of the object if there is a current one,
// else the informer's version.
func (c *assumeCache[T]) Get(key string) (T, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	obj, err := c.getAPIObjLocked(key)
	if err != nil {
		return obj, err
	}
	if a, ok := c.assumed[key]; ok && a.GetResourceVersion() == obj.GetResourceVersion() {
		return a, nil
	}
	return obj, nil
}

// ByIndex lists the objects of one index value, assumed copies in place
// of the versions they were made from.
func (c *assumeCache[T]) ByIndex(index, value string) ([]T, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	objs, err := c.store.ByIndex(index, value)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		v, ok := o.(T)
		if !ok {
			continue
		}
		if a, ok := c.assumed[toolscache.MetaObjectToName(v).String()]; ok && a.GetResourceVersion() == v.GetResourceVersion() {
			v = a
		}
		out = append(out, v)
	}
	return out, nil
}

// Assume records obj, a modified copy of the stored object, as what the
// object will be. It fails if the store moved on from the version obj was
// made from: the decision was made on stale data.
func (c *assumeCache[T]) Assume(obj T) error {
	key := toolscache.MetaObjectToName(obj).String()
	c.mu.Lock()
	defer c.mu.Unlock()
	stored, err := c.getAPIObjLocked(key)
	if err != nil {
		return err
	}
	if stored.GetResourceVersion() != obj.GetResourceVersion() {
		return fmt.Errorf("%s %q is out of sync (stored: %s, assume: %s)", c.gr.Resource, key, stored.GetResourceVersion(), obj.GetResourceVersion())
	}
	c.assumed[key] = obj
	return nil
}

// Restore forgets the assumed copy made from obj's version, if it is still
// the one recorded; a later Assume of the same object is left alone.
func (c *assumeCache[T]) Restore(obj T) {
	key := toolscache.MetaObjectToName(obj).String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.assumed[key]; ok && a.GetResourceVersion() == obj.GetResourceVersion() {
		delete(c.assumed, key)
	}
}

// storageClassIndex indexes volumes by their class, so a claim's matching
// considers only the volumes of its class.
const storageClassIndex = "storageclass"

func pvStorageClassIndexFunc(obj any) ([]string, error) {
	pv, ok := obj.(*v1.PersistentVolume)
	if !ok {
		return nil, fmt.Errorf("object is not a PersistentVolume: %T", obj)
	}
	return []string{storagehelpers.GetPersistentVolumeClass(pv)}, nil
}

// newerThan reports whether resourceVersion a is newer than b. Both come
// from the apiserver, whose versions are etcd revisions: integers, so
// the comparison is numeric, as the apiserver's own versioner does.
func newerThan(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return false
	}
	return x > y
}
