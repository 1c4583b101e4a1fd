// Package trigger is how kube-proxy's loops learn that something changed:
// a wake-up signal that coalesces, so that any number of events arriving
// while the loop is busy cost one more pass, not one each. The loops are
// level-triggered: a pass reads the whole current state from the caches.
package trigger

import "k8s.io/client-go/tools/cache"

// Trigger is a coalescing wake-up signal; the zero value is not usable,
// use New.
type Trigger struct {
	ch     chan struct{}
	synced []cache.InformerSynced
}

// New returns a trigger with no pending wake-up.
func New() *Trigger { return &Trigger{ch: make(chan struct{}, 1)} }

// Fire asks for a pass soon; calls before the loop takes the wake-up
// coalesce into one.
func (t *Trigger) Fire() {
	select {
	case t.ch <- struct{}{}:
	default:
	}
}

// C is where the loop waits for a wake-up.
func (t *Trigger) C() <-chan struct{} { return t.ch }

// Watch fires the trigger on every add, update and delete of the
// informers' objects, and remembers their caches for Synced.
func (t *Trigger) Watch(infs ...cache.SharedIndexInformer) error {
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { t.Fire() },
		UpdateFunc: func(any, any) { t.Fire() },
		DeleteFunc: func(any) { t.Fire() },
	}
	for _, inf := range infs {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
		t.synced = append(t.synced, inf.HasSynced)
	}
	return nil
}

// Synced are the watched informers' HasSynced functions.
func (t *Trigger) Synced() []cache.InformerSynced { return t.synced }
