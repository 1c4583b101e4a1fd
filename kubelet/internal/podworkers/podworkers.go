// Package podworkers runs one worker per pod. A worker's sync reads the
// pod as the API has it (from the informer cache) and as the runtime has
// it, and acts on the difference: it admits a new pod to its node (or
// rejects it, Failed, when its host ports are taken or the node cannot
// run it), creates the sandbox, pulls images, starts and restarts
// containers under the restart policy and its back-off, runs their
// postStart and preStop hooks (lifecycle.go), fails pods past their
// activeDeadlineSeconds (deadline.go), reports termination messages
// (termination.go), stops containers of pods being deleted and writes
// their final status before deleting them, removes what is left of pods
// that no longer exist, and writes the pod's status. Static pods (GetPod returns them from their files or URL)
// run the same way; their status is written to their mirror pods. Every
// sync starts from the current state, never from the event that caused
// it, so a missed event or a restarted kubelet changes nothing.
//
// A worker's life:
//
//	Update(uid) ──▶ sync ──requeue──▶ sync ... ──pod gone and nothing left──▶ done
//	                 ▲ signal (informer event, container exit, back-off expiry)
package podworkers

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"

	"coracle.dev/kubelet/internal/envvars"
	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/prober"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
	"coracle.dev/kubelet/internal/volumes"
)

// ImageService is the node's image store as the workers use it.
type ImageService interface {
	// Get returns a present image by the reference a pod names.
	Get(ref string) (*images.Image, bool)
	// Pull fetches the image from its registry with the given pull
	// secrets (type dockerconfigjson).
	Pull(ctx context.Context, ref string, pullSecrets []v1.Secret) (*images.Image, error)
	// Use records that a container was made from the image now.
	Use(ref string)
}

// Options configure the workers.
type Options struct {
	Client  kubernetes.Interface
	Runtime kruntime.Runtime
	Images  ImageService
	// Env reads ConfigMaps and Secrets for container environments.
	Env envvars.Source
	// GetPod returns the pod with this UID from the informer cache (not
	// a copy: the workers copy before changing), or nil.
	GetPod func(types.UID) *v1.Pod
	// PodUIDs lists the UIDs of every pod in the informer cache of the
	// kubelet's nodes; housekeeping gives each a worker.
	PodUIDs func() []types.UID
	// MirrorPod returns the current mirror pod in the API of a static
	// pod (one GetPod returns from a file or URL, whose UID the API does
	// not know), or nil while there is none: a static pod's status is
	// written to it. Nil for a kubelet without static pods.
	MirrorPod func(static *v1.Pod) *v1.Pod
	// Recorder returns the event recorder of a node.
	Recorder func(node string) record.EventRecorder
	// HostIP returns a node's InternalIP.
	HostIP func(node string) string
	// GetNode returns a node's Node object from a cache (not a copy), or
	// nil; admission checks pods against it (resources, node affinity,
	// NoExecute taints). Without it only host ports and the OS are
	// checked.
	GetNode func(name string) *v1.Node
	// AdmitHandlers are further checks a new pod must pass, after the
	// node's own (resources, ports, affinity), as upstream's pod admit
	// handlers: the eviction manager's (no BestEffort pods under memory
	// pressure), the allowed sysctls. A refusal's reason and message go
	// to the Failed pod's status.
	AdmitHandlers []AdmitHandler
	// Volumes makes pods' volumes; nil runs pods without (the fake
	// runtime).
	Volumes *volumes.Manager
	// Probes runs containers' probes; nil ignores them (the fake
	// runtime).
	Probes *prober.Manager
	// PodLogDir is where container logs go: DIR/<ns>_<pod>_<uid>/<container>/<attempt>.log.
	PodLogDir string
	// PodPidsLimit caps each container's processes; 0 means no cap.
	PodPidsLimit int64
	// AllocationDir is where each pod's allocated and actuated resources
	// are kept (in-place resize), so a restarted kubelet knows them;
	// "" keeps them in memory only.
	AllocationDir string
	// ResyncInterval is how often a pod is synced with nothing to
	// prompt it; HousekeepingInterval how often the runtime is listed for
	// pods with no worker.
	ResyncInterval       time.Duration
	HousekeepingInterval time.Duration
	Log                  *zap.Logger
}

// AdmitHandler decides whether the node takes a pod.
type AdmitHandler func(pod *v1.Pod) (ok bool, reason, message string)

// Manager owns the workers.
type Manager struct {
	opts Options
	log  *zap.Logger
	// crashBackoff delays restarts of containers that exited (10s doubling
	// to 5m, forgotten after 10m), pullBackoff failed image pulls.
	crashBackoff *flowcontrol.Backoff
	pullBackoff  *flowcontrol.Backoff
	// mountBackoff delays the next try of a pod whose volumes could not
	// be mounted.
	mountBackoff *flowcontrol.Backoff

	// starting bounds the pods creating sandboxes and containers at
	// once: on a few cores, pods started first then finish first instead
	// of all finishing late together.
	starting chan struct{}

	ctx context.Context
	wg  sync.WaitGroup

	mu      sync.Mutex // guards workers and pending
	workers map[types.UID]*worker
	// pending holds updates that came before Run.
	pending map[types.UID]bool
	// evictions are the pods the eviction manager asked to end.
	evictions map[types.UID]eviction

	// admitMu serializes admission, so two pods cannot both take the
	// last of a port or a resource; it guards admission.
	admitMu   sync.Mutex
	admission map[types.UID]admission

	// allocs are the pods' allocated resources (resize.go).
	allocs *allocations
}

// Back-off of crashing containers and failed pulls, as Kubernetes'.
const (
	initialBackoff = 10 * time.Second
	maxBackoff     = 300 * time.Second
)

// New returns a manager; Run starts it.
func New(opts Options) *Manager {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 10 * time.Second
	}
	if opts.HousekeepingInterval == 0 {
		opts.HousekeepingInterval = 2 * time.Second
	}
	return &Manager{
		opts: opts, log: opts.Log,
		crashBackoff: flowcontrol.NewBackOff(initialBackoff, maxBackoff),
		pullBackoff:  flowcontrol.NewBackOff(initialBackoff, maxBackoff),
		mountBackoff: flowcontrol.NewBackOff(time.Second, opts.ResyncInterval),
		workers:      map[types.UID]*worker{},
		pending:      map[types.UID]bool{},
		evictions:    map[types.UID]eviction{},
		admission:    map[types.UID]admission{},
		allocs:       newAllocations(opts.AllocationDir),
		starting:     make(chan struct{}, max(2, runtime.NumCPU())),
	}
}

// worker is one pod's.
type worker struct {
	uid    types.UID
	signal chan struct{}

	// Only the worker's goroutine touches what follows.
	lastStatus *v1.Pod // the pod as our last status write returned it
	// staticStatus is a static pod's status as last computed: the
	// kubelet's own record, which a mirror pod made anew (deleted by
	// someone, or not yet made) lacks.
	staticStatus *v1.PodStatus
	deleted      bool // the API delete with grace 0 was sent
	// rejection is why admission refused the pod, until its Failed
	// status is written.
	rejection *rejection
	// deadlineEvent: the DeadlineExceeded event was recorded.
	deadlineEvent bool
	// messages are the termination messages of exited attempts, by
	// container ID.
	messages map[string]string
}

// Run starts housekeeping and blocks until ctx ends and every worker has
// returned.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	pending := m.pending
	m.pending = nil
	m.mu.Unlock()
	for uid := range pending {
		m.Update(uid)
	}
	t := time.NewTicker(m.opts.HousekeepingInterval)
	defer t.Stop()
	m.housekeeping(ctx)
	for {
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return
		case uid := <-m.opts.Runtime.Changes():
			m.Update(uid)
		case <-t.C:
			m.housekeeping(ctx)
		}
	}
}

// housekeeping starts a worker for every pod, of the API or of the
// runtime, that has none: whatever an event did not bring (pods deleted
// while the kubelet was down, whose containers must go, too).
func (m *Manager) housekeeping(ctx context.Context) {
	var uids []types.UID
	if m.opts.PodUIDs != nil {
		uids = m.opts.PodUIDs()
	}
	pods, err := m.opts.Runtime.ListPods(ctx)
	if err != nil {
		m.log.Warn("list runtime pods", zap.Error(err))
	}
	for _, p := range pods {
		uids = append(uids, p.UID)
	}
	for _, uid := range uids {
		m.mu.Lock()
		_, ok := m.workers[uid]
		m.mu.Unlock()
		if !ok {
			m.Update(uid)
		}
	}
}

// Update asks the pod's worker to sync, starting one if needed.
func (m *Manager) Update(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		m.pending[uid] = true
		return
	}
	if m.ctx.Err() != nil {
		return
	}
	w := m.workers[uid]
	if w == nil {
		w = &worker{uid: uid, signal: make(chan struct{}, 1)}
		m.workers[uid] = w
		m.wg.Add(1)
		go m.run(m.ctx, w)
	}
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// SetProbes gives the workers a prober (which itself calls Update, so it
// comes after New). Call before Run.
func (m *Manager) SetProbes(p *prober.Manager) { m.opts.Probes = p }

// Workers is the number of pods with a worker.
func (m *Manager) Workers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.workers)
}

func (m *Manager) run(ctx context.Context, w *worker) {
	defer m.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.signal:
		case <-timer.C:
		}
		requeue, done := m.sync(ctx, w)
		if done {
			m.mu.Lock()
			if len(w.signal) == 0 {
				delete(m.workers, w.uid)
				m.mu.Unlock()
				m.release(w.uid)
				m.forgetEviction(w.uid)
				m.allocs.forget(w.uid)
				return
			}
			m.mu.Unlock()
			continue
		}
		if requeue <= 0 || requeue > m.opts.ResyncInterval {
			requeue = m.opts.ResyncInterval
		}
		timer.Reset(requeue)
	}
}

// sync brings one pod a step closer to what the API wants. It returns
// when to sync again, and done when nothing is left to do for the pod.
func (m *Manager) sync(ctx context.Context, w *worker) (time.Duration, bool) {
	var pod *v1.Pod
	if p := m.opts.GetPod(w.uid); p != nil {
		pod = p.DeepCopy()
		// Our last status write may be newer than the cache.
		if w.lastStatus != nil && newer(w.lastStatus.ResourceVersion, pod.ResourceVersion) {
			pod.Status = w.lastStatus.Status
		}
		if isStaticPod(pod) {
			pod.Status = m.statusBase(w, pod).Status
		}
	}
	rp, err := m.opts.Runtime.GetPod(ctx, w.uid)
	if errors.Is(err, kruntime.ErrNotFound) {
		rp = nil
	} else if err != nil {
		m.log.Warn("runtime pod", zap.String("uid", string(w.uid)), zap.Error(err))
		return time.Second, false
	}
	switch {
	case pod == nil:
		if rp == nil {
			// Volumes may be mounted for a pod that never got a
			// sandbox (one claim mounted, another not yet bound).
			if err := m.removeVolumes(w.uid); err != nil {
				m.log.Warn("remove volumes of deleted pod", zap.String("uid", string(w.uid)), zap.Error(err))
				return 2 * time.Second, false
			}
			return 0, true
		}
		// The pod is gone from the API: stop and remove what is left.
		grace := rp.TerminationGracePeriod
		if grace <= 0 || grace > 30*time.Second {
			grace = 30 * time.Second
		}
		if err := m.teardown(ctx, nil, rp, grace, true); err != nil {
			m.log.Warn("remove orphaned pod", zap.String("uid", string(w.uid)), zap.Error(err))
			return 2 * time.Second, false
		}
		m.log.Info("removed orphaned pod", zap.String("pod", rp.Namespace+"/"+rp.Name))
		return 0, true
	case pod.DeletionTimestamp != nil:
		return m.syncDeleted(ctx, w, pod, rp), false
	case status.IsTerminal(pod.Status.Phase):
		// Finished: stop anything still running and free the network;
		// containers and logs stay until the pod is deleted.
		if rp != nil && (rp.Running() || rp.SandboxReady) {
			if err := m.teardown(ctx, pod, rp, gracePeriod(pod), false); err != nil {
				m.log.Warn("tear down finished pod", zap.String("pod", key(pod)), zap.Error(err))
				return 2 * time.Second, false
			}
		}
		m.release(w.uid)
		m.forgetEviction(w.uid)
		// Its containers are done with its claims: unmounted, and no
		// longer in the node's volumesInUse.
		if m.opts.Volumes != nil {
			if err := m.opts.Volumes.UnmountClaims(pod); err != nil {
				m.log.Warn("unmount volumes of finished pod", zap.String("pod", key(pod)), zap.Error(err))
				return 2 * time.Second, false
			}
		}
		return 0, false
	}
	if ev, ok := m.evictionOf(w.uid); ok {
		return m.evict(ctx, w, pod, rp, ev), false
	}
	if rp == nil && isStaticPod(pod) && m.sameNameRunning(ctx, pod) {
		// A static pod's manifest changed: its new UID waits for the
		// old pod of the name to stop, as Kubernetes' pod workers make
		// static pods of one full name wait (they would share host
		// ports and files).
		return time.Second, false
	}
	if !m.admit(ctx, w, pod, rp) {
		// Rejected: its Failed status makes the next sync see a
		// finished pod; until it is written, try again.
		return 2 * time.Second, false
	}
	return m.syncPod(ctx, w, pod, rp), false
}

// syncDeleted stops the containers of a pod being deleted within its grace
// period, writes its final status, removes everything of it, and deletes
// it from the API.
//
// The final status comes before the delete, as in Kubernetes: whoever
// holds a finalizer on the pod (the Job controller) sees how it ended —
// Failed, or Succeeded if every container exited 0, with each container's
// exit code — before the pod goes. It is computed while the runtime still
// has the containers' exits, so it is written before they are removed.
func (m *Manager) syncDeleted(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod) time.Duration {
	if rp != nil {
		grace := gracePeriod(pod)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		}
		if err := m.stopContainers(ctx, pod, rp, grace); err != nil {
			m.log.Warn("stop deleted pod", zap.String("pod", key(pod)), zap.Error(err))
			return 2 * time.Second
		}
		m.release(w.uid)
		stopped, err := m.opts.Runtime.GetPod(ctx, w.uid)
		if err != nil {
			m.log.Warn("runtime pod", zap.String("pod", key(pod)), zap.Error(err))
			return 2 * time.Second
		}
		if err := m.writeFinalStatus(ctx, w, pod, stopped); err != nil {
			m.log.Warn("final pod status", zap.String("pod", key(pod)), zap.Error(err))
			return 2 * time.Second
		}
		if err := m.remove(ctx, w.uid); err != nil {
			m.log.Warn("remove deleted pod", zap.String("pod", key(pod)), zap.Error(err))
			return 2 * time.Second
		}
	} else if !status.IsTerminal(pod.Status.Phase) {
		// Nothing ever ran (or it was removed by a kubelet that died
		// before its write): the pod still ends terminal.
		m.release(w.uid)
		if err := m.writeFinalStatus(ctx, w, pod, nil); err != nil {
			m.log.Warn("final pod status", zap.String("pod", key(pod)), zap.Error(err))
			return 2 * time.Second
		}
	}
	if rp == nil {
		if err := m.removeVolumes(w.uid); err != nil {
			m.log.Warn("remove volumes of deleted pod", zap.String("pod", key(pod)), zap.Error(err))
			return 2 * time.Second
		}
	}
	if w.deleted {
		return 5 * time.Second
	}
	if err := m.deleteFromAPI(ctx, pod); err != nil {
		m.log.Warn("delete pod", zap.String("pod", key(pod)), zap.Error(err))
		return 2 * time.Second
	}
	w.deleted = true
	m.log.Info("pod deleted", zap.String("pod", key(pod)))
	return 5 * time.Second
}

// teardown stops every container of the pod (SIGTERM, SIGKILL after
// grace, all at once) and removes the sandbox; with remove, also the
// containers, their logs and records.
func (m *Manager) teardown(ctx context.Context, pod *v1.Pod, rp *kruntime.Pod, grace time.Duration, remove bool) error {
	if err := m.stopContainers(ctx, pod, rp, grace); err != nil {
		return err
	}
	if remove {
		return m.remove(ctx, rp.UID)
	}
	return m.opts.Runtime.RemoveSandbox(ctx, rp.UID)
}

// stopContainers stops every container of the pod that has not exited:
// SIGTERM, SIGKILL after grace, all at once.
func (m *Manager) stopContainers(ctx context.Context, pod *v1.Pod, rp *kruntime.Pod, grace time.Duration) error {
	if m.opts.Probes != nil {
		m.opts.Probes.Forget(rp.UID)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(rp.Containers))
	for i := range rp.Containers {
		c := rp.Containers[i]
		if c.State == kruntime.StateExited {
			continue
		}
		if pod != nil && c.State == kruntime.StateRunning {
			// Running: its preStop hook first, within grace.
			m.event(pod, c.Name, v1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
			spec, podIP := containerSpec(pod, c.Name), m.podIPOf(pod, rp)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = m.stopWithPreStop(ctx, pod, spec, c.ID, podIP, grace)
			}()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.opts.Runtime.StopContainer(ctx, rp.UID, c.ID, grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// remove removes everything left of a pod whose containers have exited:
// containers, logs, sandbox, records and volumes.
func (m *Manager) remove(ctx context.Context, uid types.UID) error {
	m.crashBackoff.GC()
	m.pullBackoff.GC()
	m.mountBackoff.GC()
	if err := m.opts.Runtime.RemovePod(ctx, uid); err != nil {
		return err
	}
	return m.removeVolumes(uid)
}

// removeVolumes unmounts and removes the pod's volumes, if it has any.
func (m *Manager) removeVolumes(uid types.UID) error {
	if m.opts.Volumes == nil {
		return nil
	}
	return m.opts.Volumes.Remove(string(uid))
}

// sameNameRunning reports whether the runtime still has another pod of
// the static pod's namespace and name (its previous manifest's).
func (m *Manager) sameNameRunning(ctx context.Context, pod *v1.Pod) bool {
	pods, err := m.opts.Runtime.ListPods(ctx)
	if err != nil {
		m.log.Warn("list runtime pods", zap.Error(err))
		return true
	}
	for _, p := range pods {
		if p.UID != pod.UID && p.Namespace == pod.Namespace && p.Name == pod.Name {
			m.Update(p.UID) // its worker tears it down
			return true
		}
	}
	return false
}

func gracePeriod(pod *v1.Pod) time.Duration {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func key(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }
