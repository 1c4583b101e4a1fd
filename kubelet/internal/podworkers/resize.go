package podworkers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
)

// In-place pod resize, as upstream's kubelet (allocation manager,
// handlePodResourcesResize, computePodResizeAction, doPodResizeAction):
// a pod's containers' resources may change while it runs (the API's
// pods/resize subresource). The kubelet keeps, per pod, two records:
//
//   - allocated: the resources it admitted the pod with, or accepted a
//     resize to. A container is created with them, and the status's
//     allocatedResources shows them.
//   - actuated: the resources each running container's cgroup was last
//     given (at creation, or by an in-place update).
//
// Each sync compares the spec with the allocation: a different spec is
// accepted if the node has room for it beside the other pods' allocations
// (PodResizeInProgress), else it waits (PodResizePending, Deferred or
// Infeasible) and is tried again at the next sync. Then each running
// container whose actuated resources differ from the allocation is
// updated in place, or restarted where its resizePolicy says
// RestartContainer for a resource that changed. PodResizeInProgress goes
// once every running container has what was allocated:
//
//	spec == allocated ──────────────────────────────────────▶ nothing to do
//	spec != allocated ──fits──▶ allocate, InProgress ──actuated──▶ cleared
//	        └───────────does not fit──▶ Pending (Deferred|Infeasible), retried
//
// Both records are persisted (ALLOCATION_DIR/<uid>.json), so a restarted
// kubelet neither takes a pending resize for admitted nor restarts a
// container it resized already. The conditions live in memory, taken
// again from the pod's status after a restart, as upstream's status
// manager backfills them.

// Event reasons of a resize, as upstream's.
const (
	reasonResizeStarted    = "ResizeStarted"
	reasonResizeCompleted  = "ResizeCompleted"
	reasonResizeDeferred   = "ResizeDeferred"
	reasonResizeInfeasible = "ResizeInfeasible"
	reasonResizeError      = "ResizeError"
)

// podAllocation is one pod's resize state. Allocated and Actuated are
// keyed by container name.
type podAllocation struct {
	Allocated map[string]v1.ResourceRequirements `json:"allocated"`
	Actuated  map[string]v1.ResourceRequirements `json:"actuated,omitempty"`

	// Not persisted: the pod's resize conditions, and whether they
	// were taken from its status (once, after the record was read).
	pending, inProgress *v1.PodCondition
	backfilled          bool
}

// allocations holds every pod's resize state.
type allocations struct {
	// dir is where the records are persisted; "" keeps them in memory
	// only.
	dir string

	mu   sync.Mutex // guards pods
	pods map[types.UID]*podAllocation
}

func newAllocations(dir string) *allocations {
	return &allocations{dir: dir, pods: map[types.UID]*podAllocation{}}
}

// get returns the pod's state, read from disk the first time, or nil if
// the kubelet has none. a.mu must be held.
func (a *allocations) get(uid types.UID) *podAllocation {
	if pa, ok := a.pods[uid]; ok {
		return pa
	}
	if a.dir == "" {
		return nil
	}
	b, err := os.ReadFile(a.path(uid))
	if err != nil {
		return nil
	}
	pa := &podAllocation{}
	if json.Unmarshal(b, pa) != nil || pa.Allocated == nil {
		return nil
	}
	a.pods[uid] = pa
	return pa
}

// save persists the pod's records, through a temporary file and a
// rename so a kubelet killed mid-write leaves the old record. a.mu must
// be held.
func (a *allocations) save(uid types.UID, pa *podAllocation) error {
	a.pods[uid] = pa
	if a.dir == "" {
		return nil
	}
	b, err := json.Marshal(pa)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return err
	}
	tmp := a.path(uid) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, a.path(uid))
}

// forget drops a pod the node is done with.
func (a *allocations) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pods, uid)
	if a.dir != "" {
		_ = os.Remove(a.path(uid))
	}
}

func (a *allocations) path(uid types.UID) string {
	return filepath.Join(a.dir, string(uid)+".json")
}

// resizable lists the containers whose resources may change in place:
// the regular ones and the sidecars, as upstream's IsResizableContainer
// (regular init containers do not run again, so never need it).
func resizable(pod *v1.Pod) []*v1.Container {
	var out []*v1.Container
	for i := range pod.Spec.InitContainers {
		if status.IsSidecar(&pod.Spec.InitContainers[i]) {
			out = append(out, &pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// allocationOf is the pod's spec resources, as an allocation records
// them.
func allocationOf(pod *v1.Pod) map[string]v1.ResourceRequirements {
	out := map[string]v1.ResourceRequirements{}
	for _, c := range pod.Spec.InitContainers {
		out[c.Name] = *c.Resources.DeepCopy()
	}
	for _, c := range pod.Spec.Containers {
		out[c.Name] = *c.Resources.DeepCopy()
	}
	return out
}

// withAllocation returns a copy of pod whose containers have the
// allocated resources, and whether any differ from the spec's.
func withAllocation(pod *v1.Pod, allocated map[string]v1.ResourceRequirements) (*v1.Pod, bool) {
	out := pod.DeepCopy()
	changed := false
	set := func(cs []v1.Container) {
		for i := range cs {
			res, ok := allocated[cs[i].Name]
			if !ok || sameResources(cs[i].Resources, res) {
				continue
			}
			changed = true
			cs[i].Resources = *res.DeepCopy()
		}
	}
	set(out.Spec.InitContainers)
	set(out.Spec.Containers)
	return out, changed
}

// sameResources compares requests and limits quantity by quantity
// (1000m equals 1; no map equals an empty one).
func sameResources(a, b v1.ResourceRequirements) bool {
	return sameList(a.Requests, b.Requests) && sameList(a.Limits, b.Limits)
}

func sameList(a, b v1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		o, ok := b[name]
		if !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}

// cgroupValues are the four values of a container's resources a resize
// acts on, as upstream's containerResources: CPU in millicores, memory in
// bytes.
type cgroupValues struct {
	cpuRequest, cpuLimit, memoryRequest, memoryLimit int64
}

func valuesOf(r v1.ResourceRequirements) cgroupValues {
	return cgroupValues{
		cpuRequest:    r.Requests.Cpu().MilliValue(),
		cpuLimit:      r.Limits.Cpu().MilliValue(),
		memoryRequest: r.Requests.Memory().Value(),
		memoryLimit:   r.Limits.Memory().Value(),
	}
}

// resizeAction is what one running container needs to get its allocated
// resources.
type resizeAction struct {
	container *v1.Container
	running   *kruntime.Container
	// restart: a resource whose resizePolicy is RestartContainer
	// changed; otherwise the cgroup is updated in place.
	restart bool
	// decrease: the update lowers a value (it goes before the updates
	// that raise them, so the node is never over-committed in between).
	decrease bool
}

// computeResizeActions lists the running containers of the (allocated)
// pod whose actuated resources differ from their allocation, as
// upstream's computePodResizeAction: a container restarts if a resource
// that changed has the RestartContainer policy (no policy means
// NotRequired), else it is updated in place; decreases come first. A
// container with no actuated record is taken to have its allocation.
func computeResizeActions(pod *v1.Pod, rp *kruntime.Pod, actuated map[string]v1.ResourceRequirements) []resizeAction {
	var out []resizeAction
	for _, c := range resizable(pod) {
		latest := rp.Latest(c.Name)
		if latest == nil || latest.State != kruntime.StateRunning {
			continue
		}
		current, ok := actuated[c.Name]
		if !ok {
			continue
		}
		want, have := valuesOf(c.Resources), valuesOf(current)
		if want == have {
			continue
		}
		a := resizeAction{container: c, running: latest}
		changed := func(name v1.ResourceName, w, h int64) {
			if w == h {
				return
			}
			if w < h {
				a.decrease = true
			}
			for _, p := range c.ResizePolicy {
				if p.ResourceName == name && p.RestartPolicy == v1.RestartContainer {
					a.restart = true
				}
			}
		}
		changed(v1.ResourceMemory, want.memoryLimit, have.memoryLimit)
		changed(v1.ResourceMemory, want.memoryRequest, have.memoryRequest)
		changed(v1.ResourceCPU, want.cpuLimit, have.cpuLimit)
		changed(v1.ResourceCPU, want.cpuRequest, have.cpuRequest)
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(x, y resizeAction) int {
		switch {
		case x.decrease && !y.decrease:
			return -1
		case y.decrease && !x.decrease:
			return 1
		}
		return 0
	})
	return out
}

// setResources sets a container's cgroup values from its resources, as
// Kubernetes derives them: the memory limit; CPU shares from the request
// (the limit if there is none), 1024 per CPU and at least 2; the CFS quota
// from the limit over a 100 ms period, at least 1 ms.
func setResources(cfg *kruntime.ContainerConfig, c *v1.Container) {
	cfg.MemoryLimit, cfg.CPUQuota, cfg.CPUPeriod = 0, 0, 0
	if q, ok := c.Resources.Limits[v1.ResourceMemory]; ok {
		cfg.MemoryLimit = q.Value()
	}
	req, hasReq := c.Resources.Requests[v1.ResourceCPU]
	if lim, ok := c.Resources.Limits[v1.ResourceCPU]; ok {
		cfg.CPUPeriod = 100000
		cfg.CPUQuota = max(lim.MilliValue()*100000/1000, 1000)
		if !hasReq {
			req, hasReq = lim, true
		}
	}
	cfg.CPUShares = 2
	if hasReq {
		cfg.CPUShares = uint64(max(req.MilliValue()*1024/1000, 2))
	}
}

// resizeVerdict is whether the node takes a resize.
type resizeVerdict struct {
	// fits: allocate it now.
	fits bool
	// reason (Infeasible or Deferred) and message when it does not.
	reason, message string
}

// decideResize says whether the node has room for the desired pod beside
// the other pods' allocations (as admission: node allocatable less their
// requests). A pod that asks for more than the node's allocatable alone
// is Infeasible: no other pod leaving would make room; one that would fit
// an emptier node is Deferred. Without a Node object, every resize is
// taken.
func decideResize(desired *v1.Pod, node *v1.Node, others []*v1.Pod) resizeVerdict {
	if node == nil {
		return resizeVerdict{fits: true}
	}
	if msg := infeasible(desired, node); msg != "" {
		return resizeVerdict{reason: v1.PodReasonInfeasible, message: msg}
	}
	if r := fitsResources(desired, node, others); r != nil {
		return resizeVerdict{reason: v1.PodReasonDeferred, message: r.Message}
	}
	return resizeVerdict{fits: true}
}

// infeasible says why the pod's CPU or memory requests exceed the node's
// allocatable, in upstream's kubelet's words from before the apiserver
// came to refuse such resizes; "" if they do not.
func infeasible(pod *v1.Pod, node *v1.Node) string {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	alloc := node.Status.Allocatable
	if q, ok := alloc[v1.ResourceCPU]; ok && reqs.Cpu().MilliValue() > q.MilliValue() {
		return fmt.Sprintf("Node didn't have enough capacity: %s, requested: %d, capacity: %d", v1.ResourceCPU, reqs.Cpu().MilliValue(), q.MilliValue())
	}
	if q, ok := alloc[v1.ResourceMemory]; ok && reqs.Memory().Value() > q.Value() {
		return fmt.Sprintf("Node didn't have enough capacity: %s, requested: %d, capacity: %d", v1.ResourceMemory, reqs.Memory().Value(), q.Value())
	}
	return ""
}

// handleResize brings the pod's allocation up to date with its spec if
// the node can take it, and returns the pod with its allocated
// resources: what the sync creates containers with and reports.
func (m *Manager) handleResize(ctx context.Context, pod *v1.Pod) *v1.Pod {
	// The common case, a spec equal to its allocation, takes only the
	// allocations' lock and copies nothing.
	m.allocs.mu.Lock()
	pa := m.allocs.get(pod.UID)
	if pa == nil {
		// Admitted just now (or by a kubelet that did not record
		// allocations): the spec is the allocation.
		pa = &podAllocation{Allocated: allocationOf(pod), backfilled: true}
		if err := m.allocs.save(pod.UID, pa); err != nil {
			m.log.Warn("save pod allocation", zap.String("pod", key(pod)), zap.Error(err))
		}
		m.allocs.mu.Unlock()
		return pod
	}
	if !pa.backfilled {
		backfillConditions(pa, pod)
		pa.backfilled = true
	}
	if !allocationDiffers(pod, pa.Allocated) {
		pa.pending = nil
		m.allocs.mu.Unlock()
		return pod
	}
	m.allocs.mu.Unlock()

	// A resize takes the node's resources as admission does: under
	// admitMu, so two resizes cannot both take the last of them.
	m.admitMu.Lock()
	defer m.admitMu.Unlock()
	m.allocs.mu.Lock()
	defer m.allocs.mu.Unlock()
	if pa = m.allocs.get(pod.UID); pa == nil {
		return pod
	}
	allocated, _ := withAllocation(pod, pa.Allocated)
	v := decideResize(pod, m.node(pod.Spec.NodeName), m.allocatedPeers(pod))
	if !v.fits {
		if pa.pending == nil || pa.pending.Reason != v.reason || pa.pending.ObservedGeneration != pod.Generation {
			reason := reasonResizeDeferred
			if v.reason == v1.PodReasonInfeasible {
				reason = reasonResizeInfeasible
			}
			m.event(pod, "", v1.EventTypeWarning, reason, "Pod resize %s: %s", v.reason, resizeSummary(pod, pod.Generation, v.message))
		}
		pa.pending = resizeCondition(v1.PodResizePending, pa.pending, v.reason, v.message, pod.Generation)
		return allocated
	}
	next := &podAllocation{Allocated: allocationOf(pod), Actuated: pa.Actuated, backfilled: true}
	if err := m.allocs.save(pod.UID, next); err != nil {
		m.log.Warn("save pod allocation", zap.String("pod", key(pod)), zap.Error(err))
		m.allocs.pods[pod.UID] = pa
		return allocated
	}
	// A new resize: Pending and any error of the last one go, and
	// InProgress is of this generation.
	next.inProgress = resizeCondition(v1.PodResizeInProgress, nil, "", "", pod.Generation)
	m.event(pod, "", v1.EventTypeNormal, reasonResizeStarted, "Pod resize started: %s", resizeSummary(pod, pod.Generation, ""))
	return pod
}

// allocationDiffers reports whether any container's spec resources
// differ from its allocation.
func allocationDiffers(pod *v1.Pod, allocated map[string]v1.ResourceRequirements) bool {
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if res, ok := allocated[cs[i].Name]; ok && !sameResources(cs[i].Resources, res) {
				return true
			}
		}
	}
	return false
}

// backfillConditions takes the pod's resize conditions from its status,
// for a kubelet that restarted with a resize under way.
func backfillConditions(pa *podAllocation, pod *v1.Pod) {
	for _, c := range pod.Status.Conditions {
		switch c.Type {
		case v1.PodResizePending:
			pa.pending = c.DeepCopy()
		case v1.PodResizeInProgress:
			pa.inProgress = c.DeepCopy()
		}
	}
}

// allocatedPeers are the other pods the node runs (admitted, not
// finished), with their allocated resources.
func (m *Manager) allocatedPeers(pod *v1.Pod) []*v1.Pod {
	var out []*v1.Pod
	for _, p := range m.nodePods() {
		if p.UID == pod.UID || p.Spec.NodeName != pod.Spec.NodeName || status.IsTerminal(p.Status.Phase) || m.admission[p.UID] != admitted {
			continue
		}
		if pa := m.allocs.get(p.UID); pa != nil {
			p, _ = withAllocation(p, pa.Allocated)
		}
		out = append(out, p)
	}
	return out
}

// actuateResize gives the pod's running containers their allocated
// resources: an in-place update of their cgroups, or a restart where
// their resizePolicy asks. pod has the allocated resources. It returns
// when to sync again (0: no hurry), and whether it changed anything.
func (m *Manager) actuateResize(ctx context.Context, pod *v1.Pod, rp *kruntime.Pod, podIP, hostIP string, waiting map[string]status.Waiting) (time.Duration, bool) {
	m.allocs.mu.Lock()
	pa := m.allocs.get(pod.UID)
	var actuated map[string]v1.ResourceRequirements
	if pa != nil {
		actuated = pa.Actuated
	}
	m.allocs.mu.Unlock()
	actions := computeResizeActions(pod, rp, actuated)
	requeue := time.Duration(0)
	var errs []error
	for _, a := range actions {
		c := a.container
		if a.restart {
			m.killContainer(ctx, pod, c, a.running.ID, podIP, gracePeriod(pod), fmt.Sprintf("Container %s resize requires restart", c.Name))
			// Older attempts go, as for any restart; the one just
			// stopped stays for --previous.
			for _, old := range rp.Containers {
				if old.Name == c.Name && old.Attempt < a.running.Attempt {
					if err := m.opts.Runtime.RemoveContainer(ctx, pod.UID, old.ID); err != nil {
						m.log.Warn("remove old container", zap.String("pod", key(pod)), zap.String("container", old.ID), zap.Error(err))
					}
				}
			}
			// Run again at once, whatever the restart policy and
			// back-off: the kubelet stopped it, it did not fail. Its
			// creation records what it was actuated with.
			if d := m.runContainer(ctx, pod, c, a.running.Attempt+1, podIP, hostIP, waiting, 0); d > 0 && (requeue == 0 || d < requeue) {
				requeue = d
			}
			continue
		}
		cfg := kruntime.ContainerConfig{}
		setResources(&cfg, c)
		if err := m.opts.Runtime.UpdateContainerResources(ctx, pod.UID, a.running.ID, cfg.Resources()); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Name, err))
			continue
		}
		m.setActuated(pod.UID, c)
	}
	if len(errs) > 0 {
		msg := errors.Join(errs...).Error()
		m.log.Warn("resize pod", zap.String("pod", key(pod)), zap.String("error", msg))
		m.allocs.mu.Lock()
		if pa := m.allocs.get(pod.UID); pa != nil {
			old := pa.inProgress
			pa.inProgress = resizeCondition(v1.PodResizeInProgress, old, v1.PodReasonError, msg, pod.Generation)
			if old == nil || old.Reason != v1.PodReasonError || old.Message != msg {
				m.event(pod, "", v1.EventTypeWarning, reasonResizeError, "Pod resize error: %s", resizeSummary(pod, pa.inProgress.ObservedGeneration, msg))
			}
		}
		m.allocs.mu.Unlock()
		return 5 * time.Second, true
	}
	return requeue, len(actions) > 0
}

// setActuated records that the container's cgroup has c's resources
// (created with them, or updated to them).
func (m *Manager) setActuated(uid types.UID, c *v1.Container) {
	m.allocs.mu.Lock()
	defer m.allocs.mu.Unlock()
	pa := m.allocs.get(uid)
	if pa == nil {
		return
	}
	if pa.Actuated == nil {
		pa.Actuated = map[string]v1.ResourceRequirements{}
	}
	pa.Actuated[c.Name] = *c.Resources.DeepCopy()
	if err := m.allocs.save(uid, pa); err != nil {
		m.log.Warn("save pod allocation", zap.String("uid", string(uid)), zap.Error(err))
	}
}

// resizeConditions returns the pod's resize conditions for its status,
// first clearing PodResizeInProgress if every running container has its
// allocation (pod has the allocated resources; rp is the runtime's view
// after the sync), as upstream's kubelet does at the end of a sync.
func (m *Manager) resizeConditions(pod *v1.Pod, rp *kruntime.Pod) []v1.PodCondition {
	m.allocs.mu.Lock()
	defer m.allocs.mu.Unlock()
	pa := m.allocs.get(pod.UID)
	if pa == nil {
		return nil
	}
	if pa.inProgress != nil && rp != nil && resizeActuated(pod, rp, pa.Actuated) {
		generation := pa.inProgress.ObservedGeneration
		pa.inProgress = nil
		m.event(pod, "", v1.EventTypeNormal, reasonResizeCompleted, "Pod resize completed: %s", resizeSummary(pod, generation, ""))
	}
	var out []v1.PodCondition
	for _, c := range []*v1.PodCondition{pa.pending, pa.inProgress} {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out
}

// resizeActuated reports whether every resizable container has its
// allocation: running with it actuated, or not running (it will be
// created with it). A container that is created but not yet running (a
// restart under way) is not done yet.
func resizeActuated(pod *v1.Pod, rp *kruntime.Pod, actuated map[string]v1.ResourceRequirements) bool {
	for _, c := range resizable(pod) {
		latest := rp.Latest(c.Name)
		if latest == nil {
			continue
		}
		if latest.State == kruntime.StateCreated {
			return false
		}
		if latest.State != kruntime.StateRunning {
			continue
		}
		if have, ok := actuated[c.Name]; ok && valuesOf(have) != valuesOf(c.Resources) {
			return false
		}
	}
	return true
}

// resizeCondition is a resize condition, its transition time kept while
// its reason stays, as upstream's updatedPodResizeCondition.
func resizeCondition(t v1.PodConditionType, old *v1.PodCondition, reason, message string, generation int64) *v1.PodCondition {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	c := &v1.PodCondition{
		Type: t, Status: v1.ConditionTrue, LastProbeTime: now, LastTransitionTime: now,
		ObservedGeneration: generation, Reason: reason, Message: message,
	}
	if old != nil && old.Reason == reason {
		c.LastTransitionTime = old.LastTransitionTime
		if old.Message == message && old.ObservedGeneration == generation {
			// Unchanged: the same condition, so the status is not
			// written again for its probe time alone.
			c.LastProbeTime = old.LastProbeTime
		}
	}
	return c
}

// resizeSummary is the JSON upstream's resize events carry: the
// containers' resources, the generation, and an error if any.
func resizeSummary(pod *v1.Pod, generation int64, errMsg string) string {
	type containerAllocation struct {
		Name      string                  `json:"name"`
		Resources v1.ResourceRequirements `json:"resources,omitempty"`
	}
	summary := struct {
		InitContainers []containerAllocation `json:"initContainers,omitempty"`
		Containers     []containerAllocation `json:"containers,omitempty"`
		Generation     int64                 `json:"generation"`
		Error          string                `json:"error,omitempty"`
	}{Generation: generation, Error: errMsg}
	for _, c := range pod.Spec.InitContainers {
		summary.InitContainers = append(summary.InitContainers, containerAllocation{Name: c.Name, Resources: c.Resources})
	}
	for _, c := range pod.Spec.Containers {
		summary.Containers = append(summary.Containers, containerAllocation{Name: c.Name, Resources: c.Resources})
	}
	b, err := json.Marshal(summary)
	if err != nil {
		return ""
	}
	return string(b)
}
