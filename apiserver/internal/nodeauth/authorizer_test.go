package nodeauth

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/fields"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// res builds the attributes of a resource request: group and resource
// as "group/resource" ("" group for core), sub the subresource.
func res(user *authn.User, verb, group, resource, sub, namespace, name string) authz.Attributes {
	return authz.Attributes{
		User: user, Verb: verb, ResourceRequest: true, APIGroup: group, APIVersion: "v1",
		Resource: resource, Subresource: sub, Namespace: namespace, Name: name,
	}
}

func TestAuthorizer(t *testing.T) {
	n1, n2 := nodeUser("n1"), nodeUser("n2")
	const (
		allow     = authz.DecisionAllow
		noOpinion = authz.DecisionNoOpinion
	)
	noRel1 := "no relationship found between node 'n1' and this object"
	noRel2 := "no relationship found between node 'n2' and this object"
	tests := []struct {
		name       string
		attrs      authz.Attributes
		selector   string
		want       authz.Decision
		wantReason string
	}{
		// Who is a node.
		{"a user who is not a node is left to others", res(alice, "get", "", "secrets", "", "ns1", "env-secret"), "", noOpinion, ""},
		{"a node name outside system:nodes is not a node", res(&authn.User{Name: "system:node:n1"}, "get", "", "secrets", "", "ns1", "env-secret"), "", noOpinion, ""},
		{"a node without a name may do nothing", res(nodeUser(""), "get", "", "services", "", "ns1", "x"), "", noOpinion, `unknown node for user "system:node:"`},
		{"a non-resource request of a node falls to the node rules", authz.Attributes{User: n1, Verb: "get", Path: "/healthz"}, "", noOpinion, ""},

		// Secrets the node's pods reference, from everywhere a pod can.
		{"image pull secret", res(n1, "get", "", "secrets", "", "ns1", "pull-secret"), "", allow, ""},
		{"container env secretKeyRef", res(n1, "get", "", "secrets", "", "ns1", "env-secret"), "", allow, ""},
		{"container envFrom secretRef", res(n1, "get", "", "secrets", "", "ns1", "envfrom-secret"), "", allow, ""},
		{"init container env", res(n1, "get", "", "secrets", "", "ns1", "init-secret"), "", allow, ""},
		{"ephemeral container env", res(n1, "get", "", "secrets", "", "ns1", "ephemeral-secret"), "", allow, ""},
		{"secret volume", res(n1, "get", "", "secrets", "", "ns1", "vol-secret"), "", allow, ""},
		{"projected secret", res(n1, "get", "", "secrets", "", "ns1", "projected-secret"), "", allow, ""},
		{"CSI volume node publish secret", res(n1, "get", "", "secrets", "", "ns1", "csi-secret"), "", allow, ""},
		{"a PV's node secret through the pod's claim", res(n1, "get", "", "secrets", "", "storage", "pv-node-secret"), "", allow, ""},
		{"a PV's secret without namespace is in the claim's, through an ephemeral volume's claim", res(n1, "get", "", "secrets", "", "ns1", "rbd-secret"), "", allow, ""},
		{"watch of one referenced secret by metadata.name", res(n1, "watch", "", "secrets", "", "ns1", "vol-secret"), "", allow, ""},
		{"list of one referenced secret by metadata.name", res(n1, "list", "", "secrets", "", "ns1", "vol-secret"), "", allow, ""},

		// Secrets the node may not read.
		{"another node's pod's secret", res(n1, "get", "", "secrets", "", "ns1", "other-secret"), "", noOpinion, noRel1},
		{"the other node reads its own pod's secret", res(n2, "get", "", "secrets", "", "ns1", "other-secret"), "", allow, ""},
		{"the other node may not read n1's pod's secret", res(n2, "get", "", "secrets", "", "ns1", "env-secret"), "", noOpinion, noRel2},
		{"same name in another namespace", res(n1, "get", "", "secrets", "", "ns2", "env-secret"), "", noOpinion, noRel1},
		{"a mirror pod's references grant nothing", res(n1, "get", "", "secrets", "", "ns1", "mirror-secret"), "", noOpinion, noRel1},
		{"an unscheduled pod's secret", res(n1, "get", "", "secrets", "", "ns1", "pending-secret"), "", noOpinion, noRel1},
		{"a PV's controller-only secret", res(n1, "get", "", "secrets", "", "storage", "pv-controller-secret"), "", noOpinion, noRel1},
		{"the secret of a PV no pod of the node mounts", res(n1, "get", "", "secrets", "", "ns1", "unused-rbd-secret"), "", noOpinion, noRel1},
		{"list all secrets", res(n1, "list", "", "secrets", "", "ns1", ""), "", noOpinion, "No Object name found"},
		{"watch all secrets", res(n1, "watch", "", "secrets", "", "", ""), "", noOpinion, "can only read namespaced object of this type"},
		{"update a referenced secret", res(n1, "update", "", "secrets", "", "ns1", "env-secret"), "", noOpinion, "can only read resources of this type"},
		{"create a secret", res(n1, "create", "", "secrets", "", "ns1", ""), "", noOpinion, "can only read resources of this type"},
		{"a node with no pods", res(nodeUser("n3"), "get", "", "secrets", "", "ns1", "env-secret"), "", noOpinion, "no relationship found between node 'n3' and this object"},

		// ConfigMaps.
		{"container env configMapKeyRef", res(n1, "get", "", "configmaps", "", "ns1", "env-cm"), "", allow, ""},
		{"container envFrom configMapRef", res(n1, "get", "", "configmaps", "", "ns1", "envfrom-cm"), "", allow, ""},
		{"init container configmap", res(n1, "get", "", "configmaps", "", "ns1", "init-cm"), "", allow, ""},
		{"ephemeral container configmap", res(n1, "get", "", "configmaps", "", "ns1", "ephemeral-cm"), "", allow, ""},
		{"configmap volume", res(n1, "get", "", "configmaps", "", "ns1", "vol-cm"), "", allow, ""},
		{"projected configmap", res(n1, "get", "", "configmaps", "", "ns1", "projected-cm"), "", allow, ""},
		{"a secret's name is not a configmap's", res(n1, "get", "", "configmaps", "", "ns1", "vol-secret"), "", noOpinion, noRel1},
		{"list configmaps", res(n1, "list", "", "configmaps", "", "ns1", ""), "", noOpinion, "No Object name found"},

		// Volumes.
		{"the pod's claim", res(n1, "get", "", "persistentvolumeclaims", "", "ns1", "data"), "", allow, ""},
		{"the pod's ephemeral volume's claim", res(n1, "get", "", "persistentvolumeclaims", "", "ns1", "web-scratch"), "", allow, ""},
		{"a claim no pod of the node mounts", res(n1, "get", "", "persistentvolumeclaims", "", "ns1", "unused"), "", noOpinion, noRel1},
		{"list claims", res(n1, "list", "", "persistentvolumeclaims", "", "ns1", ""), "", noOpinion, "can only get individual resources of this type"},
		{"update the status of the pod's claim", res(n1, "patch", "", "persistentvolumeclaims", "status", "ns1", "data"), "", allow, ""},
		{"update the status of another claim", res(n1, "update", "", "persistentvolumeclaims", "status", "ns1", "unused"), "", noOpinion, noRel1},
		{"get a claim's status", res(n1, "get", "", "persistentvolumeclaims", "status", "ns1", "data"), "", noOpinion, "can only get/update/patch this type"},
		{"update a claim", res(n1, "update", "", "persistentvolumeclaims", "", "ns1", "data"), "", noOpinion, "can only get individual resources of this type"},
		{"the volume bound to the pod's claim", res(n1, "get", "", "persistentvolumes", "", "", "pv-data"), "", allow, ""},
		{"the volume bound to another node's claim", res(n2, "get", "", "persistentvolumes", "", "", "pv-data"), "", noOpinion, noRel2},
		{"a volume bound to a claim no pod mounts", res(n1, "get", "", "persistentvolumes", "", "", "pv-elsewhere"), "", noOpinion, noRel1},
		{"an unbound volume", res(n1, "get", "", "persistentvolumes", "", "", "pv-available"), "", noOpinion, noRel1},
		{"a missing volume", res(n1, "get", "", "persistentvolumes", "", "", "pv-gone"), "", noOpinion, noRel1},
		{"list volumes", res(n1, "list", "", "persistentvolumes", "", "", ""), "", noOpinion, "can only get individual resources of this type"},
		{"a volume attachment (none exist)", res(n1, "get", "storage.k8s.io", "volumeattachments", "", "", "va"), "", noOpinion, noRel1},

		// ServiceAccounts and their tokens.
		{"get the pod's service account", res(n1, "get", "", "serviceaccounts", "", "ns1", "web-sa"), "", allow, ""},
		{"token for the pod's service account", res(n1, "create", "", "serviceaccounts", "token", "ns1", "web-sa"), "", allow, ""},
		{"token for another service account", res(n1, "create", "", "serviceaccounts", "token", "ns1", "default"), "", noOpinion, noRel1},
		{"another node's token for it", res(n2, "create", "", "serviceaccounts", "token", "ns1", "web-sa"), "", noOpinion, noRel2},
		{"list service accounts", res(n1, "list", "", "serviceaccounts", "", "ns1", ""), "", noOpinion, "can only create tokens for individual service accounts"},
		{"create a service account", res(n1, "create", "", "serviceaccounts", "", "ns1", "web-sa"), "", noOpinion, "can only create token subresource of serviceaccount"},

		// ResourceClaims.
		{"a claim the pod names", res(n1, "get", "resource.k8s.io", "resourceclaims", "", "ns1", "gpu-claim"), "", allow, ""},
		{"a claim made from the pod's template", res(n1, "get", "resource.k8s.io", "resourceclaims", "", "ns1", "web-tmpl-x7k2"), "", allow, ""},
		{"a template's name is no claim", res(n1, "get", "resource.k8s.io", "resourceclaims", "", "ns1", "gpu-template"), "", noOpinion, noRel1},
		{"list resource claims", res(n1, "list", "resource.k8s.io", "resourceclaims", "", "ns1", ""), "", noOpinion, "can only get individual resources of this type"},

		// Pods.
		{"get its pod", res(n1, "get", "", "pods", "", "ns1", "web"), "", allow, ""},
		{"get another node's pod", res(n1, "get", "", "pods", "", "ns1", "other"), "", noOpinion, noRel1},
		{"get a missing pod", res(n1, "get", "", "pods", "", "ns1", "gone"), "", noOpinion, noRel1},
		{"watch its pods by spec.nodeName", res(n1, "watch", "", "pods", "", "", ""), "spec.nodeName=n1", allow, ""},
		{"list its pods by spec.nodeName and more", res(n1, "list", "", "pods", "", "", ""), "spec.nodeName=n1,status.phase=Running", allow, ""},
		{"list another node's pods", res(n1, "list", "", "pods", "", "", ""), "spec.nodeName=n2", noOpinion, "can only list/watch pods with spec.nodeName field selector"},
		{"list pods not on the node", res(n1, "list", "", "pods", "", "", ""), "spec.nodeName!=n1", noOpinion, "can only list/watch pods with spec.nodeName field selector"},
		{"list all pods", res(n1, "list", "", "pods", "", "", ""), "", noOpinion, "can only list/watch pods with spec.nodeName field selector"},
		{"watch one of its pods by metadata.name", res(n1, "watch", "", "pods", "", "ns1", "web"), "", allow, ""},
		{"watch another node's pod by metadata.name", res(n1, "watch", "", "pods", "", "ns1", "other"), "", noOpinion, noRel1},
		{"create a (mirror) pod, judged by NodeRestriction", res(n1, "create", "", "pods", "", "ns1", ""), "", allow, ""},
		{"delete a pod, judged by NodeRestriction", res(n1, "delete", "", "pods", "", "ns1", "other"), "", allow, ""},
		{"patch pod status, judged by NodeRestriction", res(n1, "patch", "", "pods", "status", "ns1", "web"), "", allow, ""},
		{"evict a pod, judged by NodeRestriction", res(n1, "create", "", "pods", "eviction", "ns1", "web"), "", allow, ""},
		{"update a pod", res(n1, "update", "", "pods", "", "ns1", "web"), "", noOpinion, ""},
		{"bind a pod", res(n1, "create", "", "pods", "binding", "ns1", "web"), "", noOpinion, ""},
		{"read a pod's log", res(n1, "get", "", "pods", "log", "ns1", "web"), "", noOpinion, ""},

		// Nodes.
		{"get its own Node", res(n1, "get", "", "nodes", "", "", "n1"), "", allow, ""},
		{"watch its own Node by metadata.name", res(n1, "watch", "", "nodes", "", "", "n1"), "", allow, ""},
		{"get another Node", res(n1, "get", "", "nodes", "", "", "n2"), "", noOpinion, "node 'n1' cannot read 'n2', only its own Node object"},
		{"list all Nodes", res(n1, "list", "", "nodes", "", "", ""), "", noOpinion, "node 'n1' cannot read all nodes, only its own Node object"},
		{"create a Node, judged by NodeRestriction", res(n1, "create", "", "nodes", "", "", ""), "", allow, ""},
		{"patch a Node, judged by NodeRestriction", res(n1, "patch", "", "nodes", "", "", "n2"), "", allow, ""},
		{"update Node status, judged by NodeRestriction", res(n1, "update", "", "nodes", "status", "", "n1"), "", allow, ""},
		{"delete its own Node", res(n1, "delete", "", "nodes", "", "", "n1"), "", noOpinion, ""},

		// Leases and CSINodes.
		{"get its own Lease", res(n1, "get", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), "", allow, ""},
		{"update its own Lease", res(n1, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), "", allow, ""},
		{"create a Lease, judged by NodeRestriction", res(n1, "create", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), "", allow, ""},
		{"update another node's Lease", res(n1, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n2"), "", noOpinion, "can only access node lease with the same name as the requesting node"},
		{"a Lease in another namespace", res(n1, "get", "coordination.k8s.io", "leases", "", "kube-system", "n1"), "", noOpinion, `can only access leases in the "kube-node-lease" system namespace`},
		{"list Leases", res(n1, "list", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), "", noOpinion, "can only get, create, update, patch, or delete a node lease"},
		{"get its own CSINode", res(n1, "get", "storage.k8s.io", "csinodes", "", "", "n1"), "", allow, ""},
		{"get another CSINode", res(n1, "get", "storage.k8s.io", "csinodes", "", "", "n2"), "", noOpinion, "can only access CSINode with the same name as the requesting node"},
		{"CSINode status", res(n1, "update", "storage.k8s.io", "csinodes", "status", "", "n1"), "", noOpinion, "CSINode status access requires CSIVolumeHealth feature"},
		{"list CSINodes", res(n1, "list", "storage.k8s.io", "csinodes", "", "", ""), "", noOpinion, "can only get, create, update, patch, or delete a CSINode"},

		// Everything else: the system:node rules.
		{"list services", res(n1, "list", "", "services", "", "", ""), "", allow, ""},
		{"create events", res(n1, "create", "events.k8s.io", "events", "", "ns1", ""), "", allow, ""},
		{"create its CSR", res(n1, "create", "certificates.k8s.io", "certificatesigningrequests", "", "", ""), "", allow, ""},
		{"review a token", res(n1, "create", "authentication.k8s.io", "tokenreviews", "", "", ""), "", allow, ""},
		{"list deployments", res(n1, "list", "apps", "deployments", "", "", ""), "", noOpinion, ""},
		{"delete a service", res(n1, "delete", "", "services", "", "ns1", "web"), "", noOpinion, ""},
		{"create a resource slice (not served)", res(n1, "create", "resource.k8s.io", "resourceslices", "", "", ""), "", noOpinion, ""},
	}
	z := NewAuthorizer(testCluster(), testCluster())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.selector != "" {
				sel, err := fields.ParseSelector(tt.selector)
				if err != nil {
					t.Fatal(err)
				}
				ctx = WithFieldSelector(ctx, sel.Requirements())
			}
			got, reason, err := z.Authorize(ctx, tt.attrs)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("Authorize = %v, %q; want %v, %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

// TestAuthorizerReadError: a watch cache that cannot answer is an error,
// never an allow, and leaves the request to the other authorizers.
func TestAuthorizerReadError(t *testing.T) {
	c := testCluster()
	c.err = errors.New("cache not ready")
	z := NewAuthorizer(c, c)
	got, reason, err := z.Authorize(context.Background(), res(nodeUser("n1"), "get", "", "secrets", "", "ns1", "env-secret"))
	if got != authz.DecisionNoOpinion || err == nil || reason != "no relationship found between node 'n1' and this object" {
		t.Fatalf("Authorize = %v, %q, %v; want NoOpinion with an error", got, reason, err)
	}
}

// TestAuthorizerFollowsPods: a pod bound to the node later gives it its
// secrets at once, as the graph's watch does upstream.
func TestAuthorizerFollowsPods(t *testing.T) {
	c := testCluster()
	z := NewAuthorizer(c, c)
	a := res(nodeUser("n3"), "get", "", "secrets", "", "ns1", "late-secret")
	if d, _, _ := z.Authorize(context.Background(), a); d != authz.DecisionNoOpinion {
		t.Fatalf("before the pod is bound: %v", d)
	}
	c.pods = append(c.pods, secretVolumePod("ns1", "late", "n3", "late-secret"))
	if d, _, _ := z.Authorize(context.Background(), a); d != authz.DecisionAllow {
		t.Fatalf("after the pod is bound: %v", d)
	}
}

// BenchmarkAuthorizeSecret: a kubelet with 100 pods, in a cluster of
// 10,000, reading one of its pods' Secrets. It walks only its own pods.
func BenchmarkAuthorizeSecret(b *testing.B) {
	pods := NewPodIndex()
	for n := range 100 {
		for i := range 100 {
			node := fmt.Sprintf("n%d", n)
			pods.Set(secretVolumePod("ns1", fmt.Sprintf("p-%s-%d", node, i), node, fmt.Sprintf("s-%s-%d", node, i)))
		}
	}
	z := NewAuthorizer(pods, testCluster())
	a := res(nodeUser("n7"), "get", "", "secrets", "", "ns1", "s-n7-99")
	ctx := context.Background()
	for b.Loop() {
		if d, reason, _ := z.Authorize(ctx, a); d != authz.DecisionAllow {
			b.Fatal(reason)
		}
	}
}
