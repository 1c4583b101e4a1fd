// Package nodelifecycle is the node lifecycle controller. Every
// --node-monitor-period it checks that each node's kubelet is alive: a
// renewed Lease in kube-node-lease or a new heartbeat in the Ready
// condition. A node silent for --node-monitor-grace-period gets its Ready
// (and pressure) conditions set to Unknown. From the conditions it keeps
// the node's taints: node.kubernetes.io/unreachable (Ready Unknown) or
// not-ready (Ready False), NoSchedule and NoExecute, and the NoSchedule
// taints for unschedulable, pressure and network-unavailable nodes; and
// it marks the pods of a node that is not Ready as not ready, so Services
// stop sending them traffic. Evicting the pods is the taint eviction
// controller's work.
package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Name is the controller's name.
const Name = "node-lifecycle-controller"

// Event reasons on nodes and pods.
const (
	ReasonNodeNotReady   = "NodeNotReady"
	ReasonRegisteredNode = "RegisteredNode"
	ReasonRemovingNode   = "RemovingNode"
)

// Controller is the node lifecycle controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
	grace    time.Duration

	mu      sync.Mutex // guards records
	records map[string]*Record
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	nodeInf := c.Informers.Core().V1().Nodes()
	leaseInf := c.Informers.Coordination().V1().Leases()
	podInf := c.Informers.Core().V1().Pods()
	ctl := &Controller{
		client: c.Client, nodes: nodeInf.Lister(), leases: leaseInf.Lister(), pods: podInf.Lister(),
		recorder: c.Recorder, log: c.Log, clock: c.Clock,
		grace: c.Settings.NodeMonitorGracePeriod, records: map[string]*Record{},
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.WaitFor(leaseInf.Informer(), podInf.Informer())
	ctl.Every(c.Settings.NodeMonitorPeriod, ctl.monitor)
	return ctl, ctl.Watch(nodeInf.Informer(), ctl.Objects())
}

// monitor checks every node's health and writes Unknown conditions for
// the silent ones.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	now := c.clock.Now()
	seen := map[string]bool{}
	for _, n := range nodes {
		seen[n.Name] = true
		lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(n.Name)
		if err != nil {
			lease = (*coordinationv1.Lease)(nil)
		}
		c.mu.Lock()
		prev := c.records[n.Name]
		rec := Observe(prev, n, lease, now)
		c.records[n.Name] = &rec
		c.mu.Unlock()
		if prev == nil {
			// As upstream: each node this controller comes to know
			// (again, after a restart) gets a RegisteredNode event.
			c.recorder.Eventf(n, corev1.EventTypeNormal, ReasonRegisteredNode, "Registered Node %s in Controller", n.Name)
		}
		if conditionStatus(n, corev1.NodeReady) != corev1.ConditionTrue {
			// Pods placed on it since the last look are marked too.
			c.Enqueue(n.Name)
		}
		conds := StaleConditions(n, rec, now, c.grace)
		if conds == nil {
			continue
		}
		next := n.DeepCopy()
		next.Status.Conditions = conds
		if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				c.log.Info("mark node status unknown failed", zap.String("node", n.Name), zap.Error(err))
			}
			continue
		}
		c.log.Info("node stopped posting status", zap.String("node", n.Name), zap.Duration("grace", c.grace))
		c.recorder.Eventf(n, corev1.EventTypeNormal, ReasonNodeNotReady, "Node %s status is now: %s", n.Name, ReasonNodeNotReady)
	}
	c.mu.Lock()
	for name := range c.records {
		if !seen[name] {
			delete(c.records, name)
			ref := &corev1.ObjectReference{Kind: "Node", Name: name}
			c.recorder.Eventf(ref, corev1.EventTypeNormal, ReasonRemovingNode, "Removing Node %s from Controller", name)
		}
	}
	c.mu.Unlock()
}

// sync brings a node's taints in line with its conditions, and marks its
// pods not ready while it is not Ready.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	zone := ZoneStates(nodes)[node.Labels[corev1.LabelTopologyZone]]
	eviction := EvictionFor(zone, len(nodes))
	if taints, changed := DesiredTaints(node, eviction, c.clock.Now()); changed {
		next := node.DeepCopy()
		next.Spec.Taints = taints
		if _, err := c.client.CoreV1().Nodes().Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("update taints of node %s: %w", name, err)
		}
		c.log.Info("node taints updated", zap.String("node", name), zap.Any("taints", taints))
	}
	if conditionStatus(node, corev1.NodeReady) == corev1.ConditionTrue {
		return nil
	}
	return c.markPodsNotReady(ctx, node)
}

func (c *Controller) markPodsNotReady(ctx context.Context, node *corev1.Node) error {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var firstErr error
	for _, p := range pods {
		if p.Spec.NodeName != node.Name || !podstate.IsReady(p) || podstate.IsTerminal(p) {
			continue
		}
		next := p.DeepCopy()
		now := metav1.NewTime(c.clock.Now())
		for i := range next.Status.Conditions {
			if cond := &next.Status.Conditions[i]; cond.Type == corev1.PodReady {
				cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, now
			}
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && firstErr == nil {
				firstErr = fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
			}
			continue
		}
		c.recorder.Eventf(p, corev1.EventTypeWarning, ReasonNodeNotReady, "Node is not ready")
	}
	return firstErr
}
