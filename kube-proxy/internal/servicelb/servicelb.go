// Package servicelb is a small built-in load balancer, as k3s's ServiceLB:
// a Service of type LoadBalancer (with no loadBalancerClass) gets the
// InternalIP of every Ready node as its status.loadBalancer.ingress, and
// every kube-proxy serves the service's port on those addresses (the
// rules treat them as load-balancer IPs).
//
// Only one kube-proxy writes the status: the one whose node name sorts
// first among the Ready nodes (among all nodes when none is Ready). The
// write is idempotent, so two writers for a moment agree anyway.
package servicelb

import (
	"context"
	"net"
	"sort"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"coracle.dev/kube-proxy/internal/trigger"
)

// Controller writes load-balancer status.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	nodeName string
	nodeIP   string
	log      *zap.Logger
	trigger  *trigger.Trigger
}

// New builds the controller on factory; nodeIP ("" none) stands for this
// node's address when its Node object has no InternalIP.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, nodeName, nodeIP string, log *zap.Logger) (*Controller, error) {
	svc, node := factory.Core().V1().Services(), factory.Core().V1().Nodes()
	c := &Controller{client: client, services: svc.Lister(), nodes: node.Lister(), nodeName: nodeName, nodeIP: nodeIP, log: log, trigger: trigger.New()}
	if err := c.trigger.Watch(svc.Informer(), node.Informer()); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	if !toolscache.WaitForCacheSync(ctx.Done(), c.trigger.Synced()...) {
		return
	}
	retry := time.NewTicker(30 * time.Second)
	defer retry.Stop()
	for {
		c.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-c.trigger.C():
		case <-retry.C:
		}
	}
}

// Plan is the pure part: whether this node writes, and the ingress every
// LoadBalancer Service should have.
func Plan(nodes []*v1.Node, self, selfIP string) (leader bool, ingress []v1.LoadBalancerIngress) {
	var ready []*v1.Node
	for _, n := range nodes {
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
				ready = append(ready, n)
			}
		}
	}
	if len(ready) == 0 {
		ready = nodes
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
	if len(ready) == 0 || ready[0].Name != self {
		return false, nil
	}
	seen := map[string]bool{}
	var ips []string
	for _, n := range ready {
		found := false
		for _, a := range n.Status.Addresses {
			if a.Type == v1.NodeInternalIP && net.ParseIP(a.Address).To4() != nil && !seen[a.Address] {
				seen[a.Address], found = true, true
				ips = append(ips, a.Address)
			}
		}
		if !found && n.Name == self && selfIP != "" && !seen[selfIP] {
			seen[selfIP] = true
			ips = append(ips, selfIP)
		}
	}
	sort.Slice(ips, func(i, j int) bool { return ipLess(ips[i], ips[j]) })
	for _, ip := range ips {
		ingress = append(ingress, v1.LoadBalancerIngress{IP: ip, IPMode: ptr.To(v1.LoadBalancerIPModeVIP)})
	}
	return true, ingress
}

func ipLess(a, b string) bool {
	x, y := net.ParseIP(a).To4(), net.ParseIP(b).To4()
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

func (c *Controller) reconcile(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	leader, ingress := Plan(nodes, c.nodeName, c.nodeIP)
	if !leader {
		return
	}
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range svcs {
		if svc.Spec.Type != v1.ServiceTypeLoadBalancer || svc.Spec.LoadBalancerClass != nil {
			continue
		}
		want := v1.LoadBalancerStatus{Ingress: ingress}
		if equality.Semantic.DeepEqual(svc.Status.LoadBalancer, want) {
			continue
		}
		upd := svc.DeepCopy()
		upd.Status.LoadBalancer = want
		if _, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			c.log.Warn("load-balancer status not written", zap.String("service", svc.Namespace+"/"+svc.Name), zap.Error(err))
			continue
		}
		c.log.Info("load-balancer status written", zap.String("service", svc.Namespace+"/"+svc.Name), zap.Int("addresses", len(ingress)))
	}
}
