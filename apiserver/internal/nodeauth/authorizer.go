package nodeauth

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/rbac"
)

// Authorizer is Kubernetes' Node authorizer (--authorization-mode=Node).
// For a user that is not a node it has no opinion. For a node:
//
//   - Secrets, ConfigMaps, PersistentVolumeClaims, PersistentVolumes,
//     ServiceAccounts (and their tokens) and ResourceClaims: only reads
//     of single objects related to a pod bound to the node.
//   - Its own Node and Lease; pods only through a spec.nodeName=<node>
//     field selector or by the name of one of its pods. The writes
//     Kubernetes lets NodeRestriction judge (creating a Node or a mirror
//     pod, pod status, evictions) are allowed here and judged by
//     Restriction.
//   - Everything else: what the system:node rules (rbac.NodeRules) allow.
//
// What it refuses is NoOpinion with Kubernetes' reason, so that RBAC may
// still grant a node more.
type Authorizer struct {
	rel   relations
	rules []rbacv1.PolicyRule
}

var _ authz.Authorizer = (*Authorizer)(nil)

// NewAuthorizer returns the Node authorizer reading pods and volumes from
// the watch caches.
func NewAuthorizer(pods Pods, volumes Volumes) *Authorizer {
	return &Authorizer{rel: relations{pods: pods, volumes: volumes}, rules: rbac.NodeRules()}
}

// Resources the Node authorizer decides on itself.
var (
	secretResource         = schema.GroupResource{Resource: "secrets"}
	configMapResource      = schema.GroupResource{Resource: "configmaps"}
	podResource            = schema.GroupResource{Resource: "pods"}
	nodeResource           = schema.GroupResource{Resource: "nodes"}
	pvcResource            = schema.GroupResource{Resource: "persistentvolumeclaims"}
	pvResource             = schema.GroupResource{Resource: "persistentvolumes"}
	serviceAccountResource = schema.GroupResource{Resource: "serviceaccounts"}
	leaseResource          = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	csiNodeResource        = schema.GroupResource{Group: "storage.k8s.io", Resource: "csinodes"}
	vaResource             = schema.GroupResource{Group: "storage.k8s.io", Resource: "volumeattachments"}
	resourceClaimResource  = schema.GroupResource{Group: "resource.k8s.io", Resource: "resourceclaims"}
	resourceSliceResource  = schema.GroupResource{Group: "resource.k8s.io", Resource: "resourceslices"}
	pcrResource            = schema.GroupResource{Group: "certificates.k8s.io", Resource: "podcertificaterequests"}
)

// Authorize implements authz.Authorizer.
func (z *Authorizer) Authorize(ctx context.Context, a authz.Attributes) (authz.Decision, string, error) {
	node, isNode := NodeIdentity(a.User)
	if !isNode {
		return authz.DecisionNoOpinion, "", nil
	}
	if node == "" {
		return authz.DecisionNoOpinion, fmt.Sprintf("unknown node for user %q", a.User.Name), nil
	}
	if a.ResourceRequest {
		switch (schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}) {
		case secretResource:
			return z.readNamespaced(node, kindSecret, a)
		case configMapResource:
			return z.readNamespaced(node, kindConfigMap, a)
		case pvcResource:
			if a.Subresource == "status" {
				return z.statusUpdate(node, kindPVC, a)
			}
			return z.get(node, kindPVC, a)
		case pvResource:
			return z.get(node, kindPV, a)
		case resourceClaimResource:
			return z.get(node, kindResourceClaim, a)
		case vaResource:
			return z.get(node, kindUnserved, a)
		case serviceAccountResource:
			return z.serviceAccount(node, a)
		case leaseResource:
			return authorizeLease(node, a)
		case csiNodeResource:
			return authorizeCSINode(node, a)
		case nodeResource:
			return authorizeNode(node, a)
		case podResource:
			return z.pod(ctx, node, a)
		case resourceSliceResource, pcrResource:
			// Kubernetes lets nodes create these and relies on
			// NodeRestriction to check the node they name; Coracle serves
			// neither kind and has no such check, so it grants nothing.
			return authz.DecisionNoOpinion, "", nil
		}
	}
	if rbac.RulesAllow(a, z.rules...) {
		return authz.DecisionAllow, "", nil
	}
	return authz.DecisionNoOpinion, "", nil
}

// statusUpdate allows updating the status of an object related to node.
func (z *Authorizer) statusUpdate(node string, kind objectKind, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "update", "patch":
	default:
		return authz.DecisionNoOpinion, "can only get/update/patch this type", nil
	}
	if a.Subresource != "status" {
		return authz.DecisionNoOpinion, "can only update status subresource", nil
	}
	return z.relatedObject(node, kind, a)
}

// get allows getting a single object related to node.
func (z *Authorizer) get(node string, kind objectKind, a authz.Attributes) (authz.Decision, string, error) {
	if a.Verb != "get" {
		return authz.DecisionNoOpinion, "can only get individual resources of this type", nil
	}
	if a.Subresource != "" {
		return authz.DecisionNoOpinion, "cannot get subresource", nil
	}
	return z.relatedObject(node, kind, a)
}

// readNamespaced allows get, and list or watch of a single object (by a
// metadata.name field selector, which the request's Name carries), of a
// namespaced object related to node: the kubelet watches each Secret and
// ConfigMap its pods use.
func (z *Authorizer) readNamespaced(node string, kind objectKind, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "get", "list", "watch":
	default:
		return authz.DecisionNoOpinion, "can only read resources of this type", nil
	}
	if a.Subresource != "" {
		return authz.DecisionNoOpinion, "cannot read subresource", nil
	}
	if a.Namespace == "" {
		return authz.DecisionNoOpinion, "can only read namespaced object of this type", nil
	}
	return z.relatedObject(node, kind, a)
}

// relatedObject allows the request if the object it names is related to
// node.
func (z *Authorizer) relatedObject(node string, kind objectKind, a authz.Attributes) (authz.Decision, string, error) {
	if a.Name == "" {
		return authz.DecisionNoOpinion, "No Object name found", nil
	}
	ok, err := z.rel.related(node, kind, a.Namespace, a.Name)
	if err != nil {
		return authz.DecisionNoOpinion, noRelationship(node), err
	}
	if !ok {
		return authz.DecisionNoOpinion, noRelationship(node), nil
	}
	return authz.DecisionAllow, "", nil
}

func noRelationship(node string) string {
	return fmt.Sprintf("no relationship found between node '%s' and this object", node)
}

// serviceAccount allows reading a ServiceAccount of the node's pods (for
// image credential providers) and creating tokens for it.
func (z *Authorizer) serviceAccount(node string, a authz.Attributes) (authz.Decision, string, error) {
	if a.Verb == "get" && a.Subresource == "" {
		return z.readNamespaced(node, kindServiceAccount, a)
	}
	if a.Verb != "create" || a.Name == "" {
		return authz.DecisionNoOpinion, "can only create tokens for individual service accounts", nil
	}
	if a.Subresource != "token" {
		return authz.DecisionNoOpinion, "can only create token subresource of serviceaccount", nil
	}
	return z.relatedObject(node, kindServiceAccount, a)
}

// authorizeLease allows the node's own Lease in kube-node-lease. A create names
// no object yet; Restriction checks the new Lease's name.
func authorizeLease(node string, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return authz.DecisionNoOpinion, "can only get, create, update, patch, or delete a node lease", nil
	}
	if a.Namespace != corev1.NamespaceNodeLease {
		return authz.DecisionNoOpinion, fmt.Sprintf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease), nil
	}
	if a.Verb != "create" && a.Name != node {
		return authz.DecisionNoOpinion, "can only access node lease with the same name as the requesting node", nil
	}
	return authz.DecisionAllow, "", nil
}

// authorizeCSINode allows the node's own CSINode; its status only with the
// CSIVolumeHealth feature, off by default in Kubernetes and absent here.
func authorizeCSINode(node string, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "get", "create", "update", "patch", "delete":
		default:
			return authz.DecisionNoOpinion, "can only get, create, update, patch, or delete a CSINode", nil
		}
	case "status":
		return authz.DecisionNoOpinion, "CSINode status access requires CSIVolumeHealth feature", nil
	default:
		return authz.DecisionNoOpinion, "cannot authorize CSINode subresources", nil
	}
	if a.Verb != "create" && a.Name != node {
		return authz.DecisionNoOpinion, "can only access CSINode with the same name as the requesting node", nil
	}
	return authz.DecisionAllow, "", nil
}

// authorizeNode allows reading the node's own Node, by name (so a kubelet
// can look for it before registering), and writing Nodes and their
// status, which Restriction keeps to the node's own.
func authorizeNode(node string, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "create", "update", "patch":
			return authz.DecisionAllow, "", nil
		case "get", "list", "watch":
			switch a.Name {
			case node:
				return authz.DecisionAllow, "", nil
			case "":
				return authz.DecisionNoOpinion, fmt.Sprintf("node '%s' cannot read all nodes, only its own Node object", node), nil
			default:
				return authz.DecisionNoOpinion, fmt.Sprintf("node '%s' cannot read '%s', only its own Node object", node, a.Name), nil
			}
		}
	case "status":
		switch a.Verb {
		case "update", "patch":
			return authz.DecisionAllow, "", nil
		}
	}
	return authz.DecisionNoOpinion, "", nil
}

// pod allows reading the node's pods (a list or watch must select
// spec.nodeName=<node>), creating and deleting pods and updating pod
// status and creating evictions, which Restriction keeps to the node's
// own pods.
func (z *Authorizer) pod(ctx context.Context, node string, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "get":
			return z.get(node, kindPod, a)
		case "list", "watch":
			if selectsExactly(ctx, "spec.nodeName", node) {
				return authz.DecisionAllow, "", nil
			}
			if a.Name != "" {
				return z.relatedObject(node, kindPod, a)
			}
			return authz.DecisionNoOpinion, "can only list/watch pods with spec.nodeName field selector", nil
		case "create", "delete":
			return authz.DecisionAllow, "", nil
		}
	case "status":
		switch a.Verb {
		case "update", "patch":
			return authz.DecisionAllow, "", nil
		}
	case "eviction":
		if a.Verb == "create" {
			return authz.DecisionAllow, "", nil
		}
	}
	return authz.DecisionNoOpinion, "", nil
}
