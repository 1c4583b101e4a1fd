package watchcache

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/etcdstore"
)

// Event is one change of one object, as the cache saw it in etcd. Events
// and their objects are shared by every watcher: never mutate them.
type Event struct {
	Type     watch.EventType // Added, Modified or Deleted
	Key      string
	Revision int64
	// Object is the state after the change; for Deleted, the last state with
	// its resourceVersion set to the deletion's revision.
	Object runtime.Object
	// PrevObject is the state before the change; nil for Added.
	PrevObject runtime.Object

	attrs, prevAttrs attrs

	mu        sync.Mutex // guards memo and prevAtRev
	memo      map[string][]byte
	prevAtRev runtime.Object
}

// attrs are what watchers filter on, computed once per object.
type attrs struct {
	namespace string
	labels    labels.Set
	fields    fields.Set
}

// Memo returns the bytes make produces for this event under key, calling
// make once: one JSON encoding of an event serves every watcher.
func (e *Event) Memo(key string, make func() ([]byte, error)) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.memo[key]; ok {
		return b, nil
	}
	b, err := make()
	if err != nil {
		return nil, err
	}
	if e.memo == nil {
		e.memo = map[string][]byte{}
	}
	e.memo[key] = b
	return b, nil
}

// prevAtRevision is PrevObject with the event's resourceVersion: what a
// watcher whose filter the object left receives as a Deleted event.
func (e *Event) prevAtRevision() runtime.Object {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prevAtRev == nil {
		obj := e.PrevObject.DeepCopyObject()
		_ = etcdstore.SetRevision(obj, e.Revision)
		e.prevAtRev = obj
	}
	return e.prevAtRev
}

// Delivery is what one watcher receives: an event as its filter sees it, or
// a bookmark.
type Delivery struct {
	Type   watch.EventType // Added, Modified, Deleted or Bookmark
	Object runtime.Object  // nil for bookmarks
	// Revision is the resourceVersion the delivery brings the watcher to.
	Revision int64
	// InitialEventsEnd marks the bookmark that ends a watch-list's initial
	// events (the k8s.io/initial-events-end annotation).
	InitialEventsEnd bool
	// Event is the shared cache event behind the delivery, for Memo; nil for
	// bookmarks and initial events.
	Event *Event
	// Variant tells deliveries of one Event apart for Memo: the same event
	// reaches some watchers as Modified and others as Added or Deleted.
	Variant string
}

// Predicate selects the objects a watcher or a list wants.
type Predicate struct {
	// Namespace restricts to one namespace; "" means all.
	Namespace string
	Label     labels.Selector
	Field     fields.Selector
}

// Empty reports whether the predicate selects everything.
func (p Predicate) Empty() bool {
	return p.Namespace == "" && (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

func (p Predicate) matches(a attrs) bool {
	if p.Namespace != "" && a.namespace != p.Namespace {
		return false
	}
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(a.labels) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(a.fields) {
		return false
	}
	return true
}

// Matches reports whether obj passes the predicate, using attrFn for the
// object's selectable fields.
func (p Predicate) Matches(obj runtime.Object, attrFn AttrFunc) bool {
	a, err := computeAttrs(obj, attrFn)
	if err != nil {
		return false
	}
	return p.matches(a)
}

// AttrFunc returns the fields of obj that field selectors can name.
type AttrFunc func(obj runtime.Object) fields.Set

func computeAttrs(obj runtime.Object, attrFn AttrFunc) (attrs, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return attrs{}, err
	}
	var fs fields.Set
	if attrFn != nil {
		fs = attrFn(obj)
	}
	if fs == nil {
		fs = fields.Set{}
	}
	fs["metadata.name"] = m.GetName()
	if ns := m.GetNamespace(); ns != "" {
		fs["metadata.namespace"] = ns
	}
	return attrs{namespace: m.GetNamespace(), labels: labels.Set(m.GetLabels()), fields: fs}, nil
}
