// Package framework is the scheduler's plugin framework: the interfaces a
// Filter or Score plugin implements, the typed Status a plugin answers
// with, the per-cycle CycleState, the NodeInfo and PodInfo plugins read,
// a Registry of plugins by unique name, and the Framework that runs a
// profile's plugins at each extension point.
//
// A scheduling cycle for one pod, as in Kubernetes:
//
//	PreFilter (once) ─► Filter (per node, in parallel, stops at enough
//	feasible nodes) ─► PreScore (once) ─► Score (per feasible node) ─►
//	NormalizeScore (per plugin) ─► weighted sum ─► best node ─►
//	Reserve (the pod is assumed on it) ┄┄► binding cycle, on its own
//	goroutine: PreBind ─► bind; a failure runs Unreserve.
//
// Plugins decide; up to Reserve they never write to the API, and
// everything here is pure over the snapshot it is given, which is what the
// table-driven tests of each plugin rely on. Only PreBind acts (volume
// binding writes claims and volumes and waits for them to bind).
package framework
