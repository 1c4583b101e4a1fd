// Package expectations remembers, per controller key, the pod creations and
// deletions a controller has asked for and not yet seen in its informer
// cache. A controller only creates or deletes again once the cache has
// caught up (or the expectations expired), so a slow watch never makes it
// act twice on the same shortfall.
//
// This is Kubernetes' ControllerExpectations: creations are counted (the
// controller does not know the names generateName will give), deletions
// are tracked by UID so a deletion seen twice is counted once.
package expectations

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// Timeout is how long expectations are trusted: after it a controller acts
// on what its cache says, in case a watch event was lost for good.
const Timeout = 5 * time.Minute

type record struct {
	adds      int
	deletes   sets.Set[types.UID]
	timestamp time.Time
}

// Expectations are a controller's outstanding creations and deletions.
type Expectations struct {
	clock clock.PassiveClock

	mu      sync.Mutex // guards records
	records map[string]*record
}

// New returns empty expectations; clock may be nil for the real one.
func New(c clock.PassiveClock) *Expectations {
	if c == nil {
		c = clock.RealClock{}
	}
	return &Expectations{clock: c, records: map[string]*record{}}
}

// Satisfied reports whether the controller may act on key: nothing is
// outstanding, nothing was ever recorded, or the record expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.records[key]
	if !ok {
		return true
	}
	if r.adds <= 0 && r.deletes.Len() == 0 {
		return true
	}
	return e.clock.Since(r.timestamp) > Timeout
}

// Expect records that the controller is about to create adds pods and
// delete the pods with the given UIDs for key, replacing what was there.
func (e *Expectations) Expect(key string, adds int, deletes []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records[key] = &record{adds: adds, deletes: sets.New(deletes...), timestamp: e.clock.Now()}
}

// CreationObserved records one creation seen (or one that failed and
// will never be seen).
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.records[key]; ok && r.adds > 0 {
		r.adds--
	}
}

// DeletionObserved records that the pod with uid is gone or going (or
// that its deletion failed and will never be seen).
func (e *Expectations) DeletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.records[key]; ok {
		r.deletes.Delete(uid)
	}
}

// Delete forgets key, when its controller object is gone.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.records, key)
}
