package controller

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"coracle.dev/controller-manager/internal/controllerkit/expectations"
)

// Object returns obj as a T. A delete handler may be handed a tombstone
// instead of the object (the informer missed the deletion itself and
// found it gone on a relist): the object is unwrapped from it.
func Object[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(T)
	return o, ok
}

// Handlers are event handlers for objects of type T: each is handed the
// object as a T, a deletion's tombstone unwrapped. A nil one is skipped,
// and so are objects of another type.
type Handlers[T any] struct {
	Add    func(obj T)
	Update func(old, obj T)
	Delete func(obj T)
}

var _ cache.ResourceEventHandler = Handlers[*corev1.Pod]{}

// OnAll returns Handlers that call f with the object of every add, update
// (the new object) and delete.
func OnAll[T any](f func(obj T)) Handlers[T] {
	return Handlers[T]{Add: f, Update: func(_, obj T) { f(obj) }, Delete: f}
}

// OnAdd implements cache.ResourceEventHandler.
func (h Handlers[T]) OnAdd(obj any, _ bool) {
	if o, ok := Object[T](obj); ok && h.Add != nil {
		h.Add(o)
	}
}

// OnUpdate implements cache.ResourceEventHandler.
func (h Handlers[T]) OnUpdate(oldObj, newObj any) {
	old, ok1 := Object[T](oldObj)
	o, ok2 := Object[T](newObj)
	if ok1 && ok2 && h.Update != nil {
		h.Update(old, o)
	}
}

// OnDelete implements cache.ResourceEventHandler.
func (h Handlers[T]) OnDelete(obj any) {
	if o, ok := Object[T](obj); ok && h.Delete != nil {
		h.Delete(o)
	}
}

// Key is obj's key in a queue: namespace/name, or the name of a
// cluster-scoped object.
func Key(obj metav1.Object) string { return cache.MetaObjectToName(obj).String() }

// OwnerRef is obj's controller reference if it names an object of kind;
// nil if obj has no controller of that kind.
func OwnerRef(obj metav1.Object, kind schema.GroupVersionKind) *metav1.OwnerReference {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != kind.Kind || ref.APIVersion != kind.GroupVersion().String() {
		return nil
	}
	return ref
}

// OwnerKey is the key of obj's controller if that is of kind; false if
// obj has no controller of that kind.
func OwnerKey(obj metav1.Object, kind schema.GroupVersionKind) (string, bool) {
	ref := OwnerRef(obj, kind)
	if ref == nil {
		return "", false
	}
	return obj.GetNamespace() + "/" + ref.Name, true
}

// Objects returns handlers that queue the key of every object added,
// updated or deleted: for the informer of the controller's own objects.
func (b *Base) Objects() cache.ResourceEventHandler {
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			b.Enqueue(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}
}

// Owners returns handlers that queue the key of the controller, of kind,
// of every object added, updated or deleted: for the informer of the
// objects a controller makes (a CronJob's Jobs, a StatefulSet's pods).
func (b *Base) Owners(kind schema.GroupVersionKind) cache.ResourceEventHandler {
	return OnAll(func(obj metav1.Object) {
		if key, ok := OwnerKey(obj, kind); ok {
			b.Enqueue(key)
		}
	})
}

// ExpectedPods returns pod handlers for a controller, of kind, that
// creates and deletes its pods under exp: each event queues the pod's
// controller, and tells exp of the creation or deletion it shows. A pod
// whose graceful deletion has begun counts as deleted. A pod that loses
// its controller queues the one it had; an orphan (added, or whose labels
// or owner changed) queues the keys adopters gives, the controllers whose
// selector matches it, as Kubernetes' controllers do: one may adopt it.
// adopters may be nil for a controller that adopts nothing.
func (b *Base) ExpectedPods(kind schema.GroupVersionKind, exp *expectations.Expectations, adopters func(metav1.Object) []string) cache.ResourceEventHandler {
	adopt := func(p *corev1.Pod) {
		if adopters == nil || p.DeletionTimestamp != nil || metav1.GetControllerOfNoCopy(p) != nil {
			return
		}
		for _, key := range adopters(p) {
			b.Enqueue(key)
		}
	}
	return Handlers[*corev1.Pod]{
		Add: func(p *corev1.Pod) {
			if key, ok := OwnerKey(p, kind); ok {
				exp.CreationObserved(key)
				b.Enqueue(key)
				return
			}
			adopt(p)
		},
		Update: func(old, p *corev1.Pod) {
			if oldKey, ok := OwnerKey(old, kind); ok {
				if newKey, ok := OwnerKey(p, kind); !ok || newKey != oldKey || OwnerRef(p, kind).UID != OwnerRef(old, kind).UID {
					b.Enqueue(oldKey)
				}
			}
			if key, ok := OwnerKey(p, kind); ok {
				if p.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
					exp.DeletionObserved(key, p.UID)
				}
				b.Enqueue(key)
				return
			}
			if !reflect.DeepEqual(old.Labels, p.Labels) || metav1.GetControllerOfNoCopy(old) != nil {
				adopt(p)
			}
		},
		Delete: func(p *corev1.Pod) {
			if key, ok := OwnerKey(p, kind); ok {
				exp.DeletionObserved(key, p.UID)
				b.Enqueue(key)
			}
		},
	}
}

// Selecting returns the adopters of an object (for ExpectedPods, a pod)
// among controllers of type T: the keys of those in the object's
// namespace (list) whose selector matches its labels. An empty or
// invalid selector matches nothing.
func Selecting[T metav1.Object](list func(namespace string) ([]T, error), selector func(T) *metav1.LabelSelector) func(metav1.Object) []string {
	return func(p metav1.Object) []string {
		owners, err := list(p.GetNamespace())
		if err != nil {
			return nil
		}
		var keys []string
		for _, o := range owners {
			sel, err := metav1.LabelSelectorAsSelector(selector(o))
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.GetLabels())) {
				continue
			}
			keys = append(keys, Key(o))
		}
		return keys
	}
}
