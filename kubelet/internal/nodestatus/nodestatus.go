// Package nodestatus keeps one Node object true to its node: it registers
// the Node, renews its Lease in kube-node-lease every RenewInterval, and
// writes the Node's status (addresses, capacity, conditions, node info)
// when it changes and at least every ReportInterval. The real and the
// fake runtime share it; only the Checks differ.
package nodestatus

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// LeaseNamespace holds the nodes' heartbeat Leases.
const LeaseNamespace = "kube-node-lease"

// Check reports one node condition: status True means the problem the
// condition names is present (MemoryPressure), except for Ready.
type Check func() (status v1.ConditionStatus, reason, message string)

// Options describe one node.
type Options struct {
	NodeName string
	Client   kubernetes.Interface
	Log      *zap.Logger

	Labels    map[string]string
	Addresses []v1.NodeAddress
	// Capacity and Allocatable are the node's resources.
	Capacity    v1.ResourceList
	Allocatable v1.ResourceList
	NodeInfo    v1.NodeSystemInfo
	// KubeletPort is published in status.daemonEndpoints.
	KubeletPort int32
	// PodCIDR is the --pod-cidr fallback until spec.podCIDR is set.
	PodCIDR string

	// Recorder, if set, records the node's events: Starting, and each
	// condition's changes (NodeReady, NodeHasSufficientMemory, …).
	Recorder record.EventRecorder

	// Ready says whether the node can run pods: nil, or why not.
	Ready func() error
	// Checks compute the pressure conditions by type.
	Checks map[v1.NodeConditionType]Check
	// VolumesInUse lists the unique names of the volumes mounted for the
	// node's pods: status.volumesInUse. Nil reports none.
	VolumesInUse func() []v1.UniqueVolumeName

	// RenewInterval is how often the Lease is renewed (10s), LeaseDuration
	// its leaseDurationSeconds (40s), CheckInterval how often the status
	// is recomputed (10s), ReportInterval the longest time between two
	// status writes (1m).
	RenewInterval  time.Duration
	LeaseDuration  time.Duration
	CheckInterval  time.Duration
	ReportInterval time.Duration
}

// Manager registers one node and keeps its Lease and status current.
type Manager struct {
	opts Options
	log  *zap.Logger

	registered chan struct{}

	mu         sync.Mutex // guards podCIDR, lastStatus, lastReport, nodeUID, node
	podCIDR    string
	lastStatus *v1.NodeStatus
	lastReport time.Time
	nodeUID    types.UID
	node       *v1.Node
	kick       chan struct{}

	// lease is the Lease as last written; only Run's goroutine uses it.
	lease *coordinationv1.Lease
}

// New returns a manager for the node opts describe.
func New(opts Options) *Manager {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.RenewInterval == 0 {
		opts.RenewInterval = 10 * time.Second
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = 40 * time.Second
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = 10 * time.Second
	}
	if opts.ReportInterval == 0 {
		opts.ReportInterval = time.Minute
	}
	return &Manager{
		opts: opts, log: opts.Log.With(zap.String("node", opts.NodeName)),
		registered: make(chan struct{}), podCIDR: opts.PodCIDR, kick: make(chan struct{}, 1),
	}
}

// Registered is closed once the Node object exists, with its status and
// Lease.
func (m *Manager) Registered() <-chan struct{} { return m.registered }

// PodCIDR is the node's pod CIDR: spec.podCIDR once the API has it, else
// the configured fallback.
func (m *Manager) PodCIDR() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.podCIDR
}

// Kick asks for a status check now (the runtime became ready, the pod
// CIDR changed).
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run registers the node, then heartbeats until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	m.record(Event{Type: v1.EventTypeNormal, Reason: ReasonStarting, Message: "Starting kubelet."})
	// Spread many simulated nodes over the interval.
	jitter := func(d time.Duration) time.Duration { return d + rand.N(d/10+1) }
	for delay := 200 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := m.register(ctx)
		if err == nil {
			break
		}
		m.log.Warn("register node", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	m.syncStatus(ctx, true)
	m.renewLease(ctx)
	close(m.registered)

	lease := time.NewTimer(jitter(m.opts.RenewInterval))
	check := time.NewTimer(jitter(m.opts.CheckInterval))
	defer lease.Stop()
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			m.renewLease(ctx)
			lease.Reset(jitter(m.opts.RenewInterval))
		case <-check.C:
			m.syncStatus(ctx, false)
			check.Reset(jitter(m.opts.CheckInterval))
		case <-m.kick:
			m.syncStatus(ctx, false)
		}
	}
}

// register creates the Node, or adopts the one that exists (a restarted
// kubelet), bringing its labels and addresses up to date.
func (m *Manager) register(ctx context.Context) error {
	nodes := m.opts.Client.CoreV1().Nodes()
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: m.opts.NodeName, Labels: m.opts.Labels},
		Spec:       v1.NodeSpec{},
		// Registered with its status, as Kubernetes' kubelet does, so
		// the scheduler never sees a node with no allocatable pods.
		Status: m.Status(nil, time.Now()),
	}
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err == nil {
		m.observe(created)
		m.log.Info("node registered")
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node: %w", err)
	}
	existing, err := nodes.Get(ctx, m.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node: %w", err)
	}
	updated := existing.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	for k, v := range m.opts.Labels {
		updated.Labels[k] = v
	}
	if !apiequality.Semantic.DeepEqual(updated.Labels, existing.Labels) {
		if updated, err = nodes.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update node: %w", err)
		}
	}
	m.observe(updated)
	m.log.Info("node re-registered")
	return nil
}

func (m *Manager) observe(node *v1.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.node = node
	m.nodeUID = node.UID
	if node.Spec.PodCIDR != "" && node.Spec.PodCIDR != m.podCIDR {
		m.podCIDR = node.Spec.PodCIDR
		m.log.Info("pod CIDR from node spec", zap.String("podCIDR", m.podCIDR))
	}
}

// Node returns the Node as last registered or watched (not a copy), or
// nil before: what the pod workers admit pods and resizes against.
func (m *Manager) Node() *v1.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// ObserveNode takes spec.podCIDR from a Node the caller watched.
func (m *Manager) ObserveNode(node *v1.Node) {
	before := m.PodCIDR()
	m.observe(node)
	if m.PodCIDR() != before {
		m.Kick()
	}
}

// Status computes the node's status now.
func (m *Manager) Status(old *v1.NodeStatus, now time.Time) v1.NodeStatus {
	st := v1.NodeStatus{
		Capacity:        m.opts.Capacity,
		Allocatable:     m.opts.Allocatable,
		Addresses:       m.opts.Addresses,
		NodeInfo:        m.opts.NodeInfo,
		DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: m.opts.KubeletPort}},
	}
	if old != nil {
		st.Images = old.Images
	}
	if m.opts.VolumesInUse != nil {
		st.VolumesInUse = m.opts.VolumesInUse()
	}
	ready, reason, msg := v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"
	if m.opts.Ready != nil {
		if err := m.opts.Ready(); err != nil {
			ready, reason, msg = v1.ConditionFalse, "KubeletNotReady", err.Error()
		}
	}
	conds := []v1.NodeCondition{}
	for _, t := range []v1.NodeConditionType{v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
		s, r, mm := v1.ConditionFalse, "", ""
		if c := m.opts.Checks[t]; c != nil {
			s, r, mm = c()
		}
		if r == "" {
			r, mm = defaultReason(t, s)
		}
		conds = append(conds, v1.NodeCondition{Type: t, Status: s, Reason: r, Message: mm})
	}
	conds = append(conds, v1.NodeCondition{Type: v1.NodeReady, Status: ready, Reason: reason, Message: msg})
	t := metav1.NewTime(now.Truncate(time.Second))
	for i := range conds {
		conds[i].LastHeartbeatTime = t
		conds[i].LastTransitionTime = t
		if old == nil {
			continue
		}
		for _, o := range old.Conditions {
			if o.Type == conds[i].Type && o.Status == conds[i].Status {
				conds[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	st.Conditions = conds
	return st
}

func defaultReason(t v1.NodeConditionType, s v1.ConditionStatus) (string, string) {
	has := s == v1.ConditionTrue
	switch t {
	case v1.NodeMemoryPressure:
		if has {
			return "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"
		}
		return "KubeletHasSufficientMemory", "kubelet has sufficient memory available"
	case v1.NodeDiskPressure:
		if has {
			return "KubeletHasDiskPressure", "kubelet has disk pressure"
		}
		return "KubeletHasNoDiskPressure", "kubelet has no disk pressure"
	case v1.NodePIDPressure:
		if has {
			return "KubeletHasInsufficientPID", "kubelet has insufficient PID available"
		}
		return "KubeletHasSufficientPID", "kubelet has sufficient PID available"
	}
	return "", ""
}

// changed reports whether two statuses differ other than in heartbeat
// times.
func changed(a, b *v1.NodeStatus) bool {
	if a == nil || b == nil {
		return true
	}
	strip := func(s *v1.NodeStatus) *v1.NodeStatus {
		c := s.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		c.Images = nil
		return c
	}
	return !apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// syncStatus writes the node's status if it changed or the last report is
// older than ReportInterval.
func (m *Manager) syncStatus(ctx context.Context, force bool) {
	m.mu.Lock()
	last, lastReport := m.lastStatus, m.lastReport
	m.mu.Unlock()
	now := time.Now()
	st := m.Status(last, now)
	if !force && !changed(last, &st) && now.Sub(lastReport) < m.opts.ReportInterval {
		return
	}
	node, err := m.patchStatus(ctx, last, &st)
	if err != nil {
		m.log.Warn("update node status", zap.Error(err))
		// A Node deleted under us is registered again.
		if apierrors.IsNotFound(err) {
			if err := m.register(ctx); err == nil {
				m.mu.Lock()
				m.lastStatus = nil
				m.mu.Unlock()
			}
		}
		return
	}
	m.observe(node)
	m.record(ConditionEvents(m.opts.NodeName, last, &st)...)
	m.mu.Lock()
	m.lastStatus, m.lastReport = &st, now
	m.mu.Unlock()
}

func (m *Manager) patchStatus(ctx context.Context, old, st *v1.NodeStatus) (*v1.Node, error) {
	oldNode := &v1.Node{}
	if old != nil {
		oldNode.Status = *old
	}
	newNode := &v1.Node{Status: *st}
	oldJSON, err := json.Marshal(oldNode)
	if err != nil {
		return nil, err
	}
	newJSON, err := json.Marshal(newNode)
	if err != nil {
		return nil, err
	}
	var patch []byte
	if old == nil {
		// First write: replace the whole status.
		patch, err = json.Marshal(map[string]any{"status": st})
	} else {
		patch, err = strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, v1.Node{})
	}
	if err != nil {
		return nil, fmt.Errorf("node status patch: %w", err)
	}
	return m.opts.Client.CoreV1().Nodes().Patch(ctx, m.opts.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
}

// renewLease creates or renews the node's Lease: an update of the Lease
// as last written, and only on a conflict a read first.
func (m *Manager) renewLease(ctx context.Context) {
	leases := m.opts.Client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	if m.lease != nil {
		l := m.lease.DeepCopy()
		l.Spec.RenewTime = &now
		updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			m.lease = updated
			return
		}
		m.lease = nil
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			if ctx.Err() == nil {
				m.log.Warn("renew node lease", zap.Error(err))
			}
			return
		}
	}
	lease, err := leases.Get(ctx, m.opts.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		m.mu.Lock()
		uid := m.nodeUID
		m.mu.Unlock()
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: m.opts.NodeName, Namespace: LeaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(m.opts.NodeName),
				LeaseDurationSeconds: ptr.To(int32(m.opts.LeaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if uid != "" {
			lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: m.opts.NodeName, UID: uid}}
		}
		created, err := leases.Create(ctx, lease, metav1.CreateOptions{})
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("create node lease", zap.Error(err))
			}
			return
		}
		m.lease = created
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("get node lease", zap.Error(err))
		}
		return
	}
	lease.Spec.RenewTime = &now
	lease.Spec.HolderIdentity = ptr.To(m.opts.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(m.opts.LeaseDuration / time.Second))
	updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("renew node lease", zap.Error(err))
		}
		return
	}
	m.lease = updated
}
