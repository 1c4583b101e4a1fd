// Package nodeauth confines kubelets to their own node, as
// kube-apiserver's Node authorizer (plugin/pkg/auth/authorizer/node) and
// NodeRestriction admission plugin (plugin/pkg/admission/noderestriction)
// do. A kubelet authenticates as the user system:node:<name> in the group
// system:nodes; the Authorizer lets it read only the Secrets, ConfigMaps,
// volumes and ServiceAccounts of the pods bound to it, and the
// Restriction keeps its writes to its own Node, Lease, mirror pods and
// the status of its pods.
//
// Kubernetes keeps a graph of every pod, volume and node, updated from
// informers, and walks it per request. This package instead answers each
// question from the apiserver's watch caches when it is asked, through
// Pods and Volumes: one node's pods come from an index by spec.nodeName
// (PodIndex), so a kubelet reading a Secret costs a walk over the
// references of its own pods, however large the cluster.
package nodeauth

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"

	"coracle.dev/apiserver/internal/authn"
)

// The identity of a kubelet, as Kubernetes' user.NodesGroup and
// nodeidentifier.
const (
	NodesGroup     = "system:nodes"
	NodeUserPrefix = "system:node:"
)

// NodeIdentity tells whether u is a node and which, as Kubernetes'
// default node identifier: a user named system:node:<name> who is in the
// system:nodes group. A node whose name is empty is still a node, one
// that may do nothing.
func NodeIdentity(u *authn.User) (name string, isNode bool) {
	if u == nil || !strings.HasPrefix(u.Name, NodeUserPrefix) || !u.InGroup(NodesGroup) {
		return "", false
	}
	return strings.TrimPrefix(u.Name, NodeUserPrefix), true
}

// Pods reads pods from the apiserver's watch cache. Implementations are
// safe for concurrent use and return the cache's own objects, which
// callers never modify. A missing pod is an error for which
// apierrors.IsNotFound is true.
type Pods interface {
	// PodsOnNode returns every pod whose spec.nodeName is node, in any
	// phase, terminating ones included: a kubelet still reads the
	// Secrets of a pod it is stopping. It is called on every request a
	// kubelet makes for a Secret or ConfigMap, so it must come from an
	// index by spec.nodeName, not a scan of all pods.
	PodsOnNode(node string) ([]*corev1.Pod, error)
	// Pod returns one pod.
	Pod(namespace, name string) (*corev1.Pod, error)
}

// Volumes reads PersistentVolumeClaims and PersistentVolumes from the
// watch cache, under the same contract as Pods.
type Volumes interface {
	PersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(name string) (*corev1.PersistentVolume, error)
}

// Nodes reads Node objects from the watch cache, under the same contract
// as Pods.
type Nodes interface {
	Node(name string) (*corev1.Node, error)
}

type fieldSelectorKey struct{}

// WithFieldSelector returns ctx carrying the field selector of the list,
// watch or deletecollection request being authorized. Kubernetes passes
// it to authorizers in their attributes (GetFieldSelector); the Node
// authorizer lets a kubelet list and watch pods only with
// spec.nodeName=<itself>, so the request's selector must reach
// Authorize.
func WithFieldSelector(ctx context.Context, req fields.Requirements) context.Context {
	return context.WithValue(ctx, fieldSelectorKey{}, req)
}

// selectsExactly reports whether the request's field selector requires
// field to equal value.
func selectsExactly(ctx context.Context, field, value string) bool {
	reqs, _ := ctx.Value(fieldSelectorKey{}).(fields.Requirements)
	for _, r := range reqs {
		if r.Field == field && r.Operator == selection.Equals && r.Value == value {
			return true
		}
	}
	return false
}
