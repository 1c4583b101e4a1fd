package framework

import "fmt"

// StateKey names one plugin's data in a CycleState; plugins use
// "PreFilter" + their name, so keys never collide.
type StateKey string

// StateData is what a plugin stores for the rest of a scheduling cycle.
// Clone must return an independent copy: preemption clones the state to
// try removing pods from one node without disturbing the others.
type StateData interface {
	Clone() StateData
}

// CycleState carries plugin data through one scheduling cycle of one pod.
// It is written by PreFilter and PreScore, which run on the scheduling
// goroutine, and only read by Filter and Score, which run in parallel, so
// it needs no lock. Plugins store a handful of entries, read once per node
// per plugin: a short slice searched by key beats a map here (the keys
// are constants, so comparing them is a pointer comparison).
type CycleState struct {
	data []stateEntry
	// skipFilter and skipScore name plugins whose PreFilter or PreScore
	// returned Skip.
	skipFilter map[string]bool
	skipScore  map[string]bool
	// filters are the indexes of the Filter plugins to run this cycle
	// (those not skipped); nil until PreFilter has run, meaning all.
	filters []int
	// candidates, when set by a PreFilter, are the only nodes that can
	// pass it; the others fail with candidatesReject from candidatesBy.
	candidates       []*NodeInfo
	candidatesReject *Status
	candidatesBy     string
}

// RestrictNodes is called by a PreFilter that knows (from an index) the
// only nodes that can pass its Filter, so that the others need not be
// visited; reject is the status those others get, plugin its name. With
// several calls the shortest list wins: the filters still run on every
// node visited, so any superset of the feasible nodes is correct.
func (c *CycleState) RestrictNodes(nodes []*NodeInfo, reject *Status, plugin string) {
	if c.candidatesReject == nil || len(nodes) < len(c.candidates) {
		c.candidates, c.candidatesReject, c.candidatesBy = nodes, reject, plugin
	}
}

// Candidates returns the restriction RestrictNodes recorded: ok is false
// when every node is a candidate.
func (c *CycleState) Candidates() (nodes []*NodeInfo, reject *Status, plugin string, ok bool) {
	return c.candidates, c.candidatesReject, c.candidatesBy, c.candidatesReject != nil
}

type stateEntry struct {
	key  StateKey
	data StateData
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{skipFilter: map[string]bool{}, skipScore: map[string]bool{}}
}

// Read returns the data stored under key.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	for i := range c.data {
		if c.data[i].key == key {
			return c.data[i].data, nil
		}
	}
	return nil, fmt.Errorf("cycle state: %q not found", key)
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, d StateData) {
	for i := range c.data {
		if c.data[i].key == key {
			c.data[i].data = d
			return
		}
	}
	c.data = append(c.data, stateEntry{key: key, data: d})
}

// Clone copies the state and every plugin's data.
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := &CycleState{
		data:       make([]stateEntry, len(c.data)),
		skipFilter: make(map[string]bool, len(c.skipFilter)),
		skipScore:  make(map[string]bool, len(c.skipScore)),
		filters:    c.filters,
		candidates: c.candidates, candidatesReject: c.candidatesReject, candidatesBy: c.candidatesBy,
	}
	for i, e := range c.data {
		out.data[i] = stateEntry{key: e.key, data: e.data.Clone()}
	}
	for k := range c.skipFilter {
		out.skipFilter[k] = true
	}
	for k := range c.skipScore {
		out.skipScore[k] = true
	}
	return out
}
