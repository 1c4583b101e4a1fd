// Package nodeipam is the node IPAM controller: every node gets its own
// podCIDR cut from --cluster-cidr, never the same as another node's, and
// gives it back when deleted. After a restart the taken CIDRs are
// rebuilt from the nodes before anything is allocated.
package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/nodeipam/cidrset"
)

// Name is the controller's name.
const Name = "node-ipam-controller"

// Event reasons, as Kubernetes records them on nodes.
const (
	ReasonCIDRNotAvailable     = "CIDRNotAvailable"
	ReasonCIDRAssignmentFailed = "CIDRAssignmentFailed"
)

// Controller allocates node podCIDRs.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	recorder record.EventRecorder
	log      *zap.Logger

	mu        sync.Mutex // guards set and allocated
	set       *cidrset.Set
	allocated map[string]*net.IPNet // node name -> its CIDR
}

// New builds the controller; nil when --cluster-cidr is empty.
func New(c controller.Context) (controller.Runner, error) {
	if c.Settings.ClusterCIDR == "" {
		c.Log.Info("no cluster CIDR: node IPAM off")
		return nil, nil
	}
	_, cluster, err := net.ParseCIDR(c.Settings.ClusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("cluster CIDR: %w", err)
	}
	set, err := cidrset.New(cluster, c.Settings.NodeCIDRMaskSize)
	if err != nil {
		return nil, err
	}
	inf := c.Informers.Core().V1().Nodes()
	ctl := &Controller{
		client: c.Client, nodes: inf.Lister(), recorder: c.Recorder, log: c.Log,
		set: set, allocated: map[string]*net.IPNet{},
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.OnSynced(ctl.occupyAll)
	return ctl, ctl.Watch(inf.Informer(), ctl.Objects())
}

// occupyAll takes what the nodes hold, before anything is handed out.
func (c *Controller) occupyAll(context.Context) {
	nodes, _ := c.nodes.List(labels.Everything())
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		c.occupyLocked(n)
	}
}

// occupyLocked records the CIDR node holds.
func (c *Controller) occupyLocked(node *corev1.Node) bool {
	if node.Spec.PodCIDR == "" {
		return false
	}
	_, cidr, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil {
		return false
	}
	if old, ok := c.allocated[node.Name]; ok && old.String() != cidr.String() {
		_ = c.set.Release(old)
	}
	if err := c.set.Occupy(cidr); err != nil {
		c.log.Info("node podCIDR outside the cluster CIDR", zap.String("node", node.Name), zap.String("podCIDR", node.Spec.PodCIDR))
		return true
	}
	c.allocated[node.Name] = cidr
	return true
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if cidr, ok := c.allocated[name]; ok {
			_ = c.set.Release(cidr)
			delete(c.allocated, name)
			c.log.Info("released node CIDR", zap.String("node", name), zap.String("cidr", cidr.String()))
		}
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.occupyLocked(node) {
		c.mu.Unlock()
		return nil
	}
	cidr, ok := c.allocated[name]
	if !ok {
		cidr, err = c.set.Allocate()
		if err != nil {
			c.mu.Unlock()
			c.recorder.Eventf(node, corev1.EventTypeNormal, ReasonCIDRNotAvailable, "Node %s status is now: %s", name, ReasonCIDRNotAvailable)
			return fmt.Errorf("allocate a CIDR for node %s: %w", name, err)
		}
		c.allocated[name] = cidr
	}
	c.mu.Unlock()

	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": cidr.String(), "podCIDRs": []string{cidr.String()}}})
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil // the delete event releases it
	}
	if err != nil {
		c.recorder.Eventf(node, corev1.EventTypeWarning, ReasonCIDRAssignmentFailed, "Node %s: failed to assign CIDR %s: %v", name, cidr, err)
		return fmt.Errorf("assign CIDR %s to node %s: %w", cidr, name, err)
	}
	c.log.Info("assigned node CIDR", zap.String("node", name), zap.String("cidr", cidr.String()))
	return nil
}
