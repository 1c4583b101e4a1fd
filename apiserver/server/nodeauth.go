package server

import (
	"context"
	"slices"
	"sync/atomic"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/nodeauth"
	"coracle.dev/apiserver/internal/watchcache"
)

// nodeObjects are what the Node authorizer and NodeRestriction read: the
// pods by node from an index the pod watch cache keeps current, the rest
// from the watch caches.
type nodeObjects struct {
	s     *Server
	index atomic.Pointer[nodeauth.PodIndex]
}

var (
	_ nodeauth.Pods    = (*nodeObjects)(nil)
	_ nodeauth.Volumes = (*nodeObjects)(nil)
	_ nodeauth.Nodes   = (*nodeObjects)(nil)
)

func newNodeObjects(s *Server) *nodeObjects {
	n := &nodeObjects{s: s}
	n.index.Store(nodeauth.NewPodIndex())
	return n
}

func (n *nodeObjects) PodsOnNode(node string) ([]*corev1.Pod, error) {
	return n.index.Load().PodsOnNode(node)
}

func (n *nodeObjects) Pod(namespace, name string) (*corev1.Pod, error) {
	return n.index.Load().Pod(namespace, name)
}

func (n *nodeObjects) get(res, namespace, name string) (any, error) {
	if obj := n.s.cached("", res, namespace, name); obj != nil {
		return obj, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: res}, name)
}

func (n *nodeObjects) PersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	obj, err := n.get("persistentvolumeclaims", namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.PersistentVolumeClaim), nil
}

func (n *nodeObjects) PersistentVolume(name string) (*corev1.PersistentVolume, error) {
	obj, err := n.get("persistentvolumes", "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.PersistentVolume), nil
}

func (n *nodeObjects) Node(name string) (*corev1.Node, error) {
	obj, err := n.get("nodes", "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}

// run keeps the pod index current from the pod watch cache: a fresh index
// from each watch's initial state, swapped in whole, then its events.
func (n *nodeObjects) run(ctx context.Context) {
	var index *nodeauth.PodIndex
	n.s.follow(ctx, n.s.store("", "pods").Cache(), "pods for the node authorizer", func(initial []watchcache.Delivery) {
		index = nodeauth.NewPodIndex()
		for _, d := range initial {
			apply(index, d)
		}
		n.index.Store(index)
	}, func(d watchcache.Delivery) { apply(index, d) })
}

func apply(index *nodeauth.PodIndex, d watchcache.Delivery) {
	pod, ok := d.Object.(*corev1.Pod)
	if !ok {
		return
	}
	switch d.Type {
	case watch.Added, watch.Modified:
		index.Set(pod)
	case watch.Deleted:
		index.Delete(pod.Namespace, pod.Name)
	}
}

// nodeAuthorizer is the Node authorizer.
func (s *Server) nodeAuthorizer() authz.Authorizer {
	return nodeauth.NewAuthorizer(s.nodeObjects, s.nodeObjects)
}

// admitTokenRequest is NodeRestriction's check of a TokenRequest: a
// kubelet gets tokens only for its own pods.
func (s *Server) admitTokenRequest(ctx context.Context, namespace, name string, tr *authenticationv1.TokenRequest) error {
	if s.restriction == nil || slices.Contains(s.cfg.DisableAdmissionPlugins, AdmissionNodeRestriction) {
		return nil
	}
	return s.restriction.AdmitTokenRequest(ctx, namespace, name, tr)
}

// admitEviction is NodeRestriction's check of an eviction.
func (s *Server) admitEviction(ctx context.Context, ev *policyv1.Eviction) error {
	if s.restriction == nil || slices.Contains(s.cfg.DisableAdmissionPlugins, AdmissionNodeRestriction) {
		return nil
	}
	return s.restriction.AdmitCreate(ctx, ev)
}
