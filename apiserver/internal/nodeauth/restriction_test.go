package nodeauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// mirrorPod is a valid mirror pod of node n1.
func mirrorPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "kube-system", Name: "etcd-n1",
			Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "hash"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: "n1", UID: "n1-uid", Controller: ptrTo(true),
			}},
		},
		Spec: corev1.PodSpec{
			NodeName:   "n1",
			Containers: []corev1.Container{{Name: "etcd", Image: "etcd"}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/etcd"}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{DownwardAPI: &corev1.DownwardAPIProjection{}},
				}}}},
			},
		},
	}
}

func mirrorWith(change func(*corev1.Pod)) *corev1.Pod {
	p := mirrorPod()
	change(p)
	return p
}

func node(name string, change func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
	}}}
	if change != nil {
		change(n)
	}
	return n
}

func lease(namespace, name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
}

func claim(change func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "data", ResourceVersion: "7"},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv-data"},
		Status: corev1.PersistentVolumeClaimStatus{
			Phase:    corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		},
	}
	if change != nil {
		change(c)
	}
	return c
}

func csr(t *testing.T, signer, cn string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, Organization: []string{NodesGroup}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			SignerName: signer,
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		},
	}
}

// errKind says what error a case expects.
type errKind int

const (
	admitted errKind = iota
	forbidden
	notFound
)

func TestRestriction(t *testing.T) {
	n1 := nodeUser("n1")
	pod := webPod
	withStatus := func(p *corev1.Pod, change func(*corev1.Pod)) *corev1.Pod {
		p = p.DeepCopy()
		p.Status.Phase = corev1.PodRunning
		if change != nil {
			change(p)
		}
		return p
	}
	tests := []struct {
		name        string
		user        *authn.User
		op          string
		subresource string
		obj, old    runtime.Object
		want        errKind
		wantMsg     string
	}{
		// Who is restricted.
		{"a user who is not a node passes", alice, opCreate, "", pod(), nil, admitted, ""},
		{"a request without a user passes", nil, opCreate, "", pod(), nil, admitted, ""},
		{"a node without a name is refused", nodeUser(""), opCreate, "", mirrorPod(), nil, forbidden,
			`pods "etcd-n1" is forbidden: could not determine node from user "system:node:"`},
		{"kinds without rules pass", n1, opCreate, "", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, nil, admitted, ""},

		// Mirror pods.
		{"a mirror pod of its own", n1, opCreate, "", mirrorPod(), nil, admitted, ""},
		{"a pod that is not a mirror pod", n1, opCreate, "", pod(), nil, forbidden,
			`pods "web" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods`},
		{"a mirror pod bound to another node", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) { p.Spec.NodeName = "n2" }), nil, forbidden,
			`pods "etcd-n1" is forbidden: node "n1" can only create pods with spec.nodeName set to itself`},
		{"a mirror pod without an owner", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) { p.OwnerReferences = nil }), nil, forbidden,
			`pods "etcd-n1" is forbidden: node "n1" can only create pods with an owner reference set to itself`},
		{"a mirror pod with two owners", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.OwnerReferences = append(p.OwnerReferences, p.OwnerReferences[0])
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" can only create pods with a single owner reference set to itself`},
		{"a mirror pod owned by another node", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) { p.OwnerReferences[0].Name = "n2" }), nil, forbidden,
			`pods "etcd-n1" is forbidden: node "n1" can only create pods with an owner reference set to itself`},
		{"a mirror pod owned by a ReplicaSet", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.OwnerReferences[0].APIVersion, p.OwnerReferences[0].Kind = "apps/v1", "ReplicaSet"
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" can only create pods with an owner reference set to itself`},
		{"a mirror pod whose owner is not its controller", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) { p.OwnerReferences[0].Controller = nil }), nil, forbidden,
			`pods "etcd-n1" is forbidden: node "n1" can only create pods with a controller owner reference set to itself`},
		{"a mirror pod blocking its owner's deletion", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.OwnerReferences[0].BlockOwnerDeletion = ptrTo(true)
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" must not set blockOwnerDeletion on an owner reference`},
		{"a mirror pod owned by an old Node of the same name", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) { p.OwnerReferences[0].UID = "old-uid" }), nil, forbidden,
			`pods "etcd-n1" is forbidden: node n1 UID mismatch: expected old-uid got n1-uid`},
		{"a mirror pod of a node not registered", nodeUser("n9"), opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.Spec.NodeName, p.OwnerReferences[0].Name = "n9", "n9"
		}), nil, notFound, `nodes "n9" not found`},
		{"a mirror pod with a service account", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" }), nil, forbidden,
			`pods "etcd-n1" is forbidden: node "n1" can not create pods that reference serviceaccounts`},
		{"a mirror pod with a secret volume", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}})
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" can not create pods that reference secrets`},
		{"a mirror pod with a configmap env", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}}
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" can not create pods that reference configmaps`},
		{"a mirror pod with a claim", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "d"}}})
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" can not create pods that reference persistentvolumeclaims`},
		{"a mirror pod with a projected token", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}})
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" can not create pods that reference serviceaccounts (via projected volumes)`},
		{"a mirror pod with a resource claim", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpu", ResourceClaimName: ptrTo("gpu")}}
		}), nil, forbidden, `pods "etcd-n1" is forbidden: node "n1" can not create pods that reference resourceclaims`},
		{"a mirror pod with a volume of no known type", n1, opCreate, "", mirrorWith(func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "odd"})
		}), nil, forbidden, `pods "etcd-n1" is forbidden: error checking mirror pod for API references: unknown volume type for volume  "odd"`},

		// Pod status, updates, deletes and evictions.
		{"status of its pod", n1, opUpdate, "status", withStatus(pod(), nil), pod(), admitted, ""},
		{"status of another node's pod", nodeUser("n2"), opUpdate, "status", withStatus(pod(), nil), pod(), forbidden,
			`pods "web" is forbidden: node "n2" can only update pod status for pods with spec.nodeName set to itself`},
		{"labels through pod status", n1, opUpdate, "status", withStatus(pod(), func(p *corev1.Pod) { p.Labels = map[string]string{"role": "db"} }), pod(), forbidden,
			`pods "web" is forbidden: node "n1" cannot update labels through pod status`},
		{"resource claims through pod status", n1, opUpdate, "status", withStatus(pod(), func(p *corev1.Pod) { p.Status.ResourceClaimStatuses = nil }), pod(), forbidden,
			`pods "web" is forbidden: node "n1" cannot update resource claim statues`},
		{"update its pod", n1, opUpdate, "", pod(), pod(), forbidden,
			`pods "web" is forbidden: unexpected operation "UPDATE", node "n1" can only create and delete mirror pods`},
		{"bind a pod", n1, opUpdate, "binding", pod(), pod(), forbidden,
			`pods "web" is forbidden: unexpected pod subresource "binding", only 'status' and 'eviction' are allowed`},
		{"delete its pod", n1, opDelete, "", nil, pod(), admitted, ""},
		{"delete another node's pod", nodeUser("n2"), opDelete, "", nil, pod(), forbidden,
			`pods "web" is forbidden: node "n2" can only delete pods with spec.nodeName set to itself`},
		{"evict its pod", n1, opCreate, "", &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "web"}}, nil, admitted, ""},
		{"evict another node's pod", n1, opCreate, "", &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "other"}}, nil, forbidden,
			`pods "other" is forbidden: node n1 can only evict pods with spec.nodeName set to itself`},
		{"evict a missing pod", n1, opCreate, "", &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "gone"}}, nil, notFound, `pods "gone" not found`},

		// Nodes.
		{"register itself", n1, opCreate, "", node("n1", nil), nil, admitted, ""},
		{"register with kubelet labels", n1, opCreate, "", node("n1", func(n *corev1.Node) {
			n.Labels["node.kubernetes.io/instance-type"] = "m5"
			n.Labels["topology.kubernetes.io/zone"] = "a"
			n.Labels["kubelet.kubernetes.io/x"] = "y"
			n.Labels["foo.node.kubernetes.io/x"] = "y"
			n.Labels["example.com/rack"] = "r1"
			n.Labels["plain"] = "yes"
		}), nil, admitted, ""},
		{"register another node", n1, opCreate, "", node("n2", nil), nil, forbidden, `nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`},
		{"register with a node role", n1, opCreate, "", node("n1", func(n *corev1.Node) {
			n.Labels["node-role.kubernetes.io/control-plane"] = ""
			n.Labels["node-restriction.kubernetes.io/secure"] = "true"
		}), nil, forbidden,
			`nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: node-restriction.kubernetes.io/secure, node-role.kubernetes.io/control-plane`},
		{"register with a k8s.io label", n1, opCreate, "", node("n1", func(n *corev1.Node) { n.Labels["team.k8s.io/x"] = "y" }), nil, forbidden,
			`nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: team.k8s.io/x`},
		{"register with a configSource", n1, opCreate, "", node("n1", func(n *corev1.Node) { n.Spec.ConfigSource = &corev1.NodeConfigSource{} }), nil, forbidden,
			`nodes "n1" is forbidden: node "n1" is not allowed to create pods with a non-nil configSource`},
		{"update its status", n1, opUpdate, "status", node("n1", func(n *corev1.Node) { n.Status.Phase = corev1.NodeRunning }), node("n1", nil), admitted, ""},
		{"update another node's status", n1, opUpdate, "status", node("n2", nil), node("n2", nil), forbidden,
			`nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`},
		{"change an allowed label", n1, opUpdate, "", node("n1", func(n *corev1.Node) { n.Labels["kubernetes.io/arch"] = "arm64" }), node("n1", nil), admitted, ""},
		{"keep a restricted label someone else set", n1, opUpdate, "", node("n1", func(n *corev1.Node) { n.Labels["node-role.kubernetes.io/worker"] = "" }),
			node("n1", func(n *corev1.Node) { n.Labels["node-role.kubernetes.io/worker"] = "" }), admitted, ""},
		{"remove a restricted label", n1, opUpdate, "", node("n1", nil), node("n1", func(n *corev1.Node) { n.Labels["node-role.kubernetes.io/worker"] = "" }), forbidden,
			`nodes "n1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/worker`},
		{"add a taint", n1, opUpdate, "", node("n1", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
		}), node("n1", nil), forbidden, `nodes "n1" is forbidden: node "n1" is not allowed to modify taints`},
		{"remove a taint", n1, opUpdate, "", node("n1", nil), node("n1", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
		}), forbidden, `nodes "n1" is forbidden: node "n1" is not allowed to modify taints`},
		{"change owner references", n1, opUpdate, "", node("n1", func(n *corev1.Node) {
			n.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Namespace", Name: "x", UID: "u"}}
		}), node("n1", nil), forbidden, `nodes "n1" is forbidden: node "n1" is not allowed to modify ownerReferences`},
		{"set a new configSource", n1, opUpdate, "", node("n1", func(n *corev1.Node) { n.Spec.ConfigSource = &corev1.NodeConfigSource{} }), node("n1", nil), forbidden,
			`nodes "n1" is forbidden: node "n1" is not allowed to update configSource to a new non-nil configSource`},
		{"drop the configSource", n1, opUpdate, "status", node("n1", nil), node("n1", func(n *corev1.Node) { n.Spec.ConfigSource = &corev1.NodeConfigSource{} }), admitted, ""},
		{"delete its own Node", n1, opDelete, "", nil, node("n1", nil), admitted, ""},
		{"delete another Node", n1, opDelete, "", nil, node("n2", nil), forbidden, `nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`},

		// Leases.
		{"create its Lease", n1, opCreate, "", lease("kube-node-lease", "n1"), nil, admitted, ""},
		{"renew its Lease", n1, opUpdate, "", lease("kube-node-lease", "n1"), lease("kube-node-lease", "n1"), admitted, ""},
		{"create another node's Lease", n1, opCreate, "", lease("kube-node-lease", "n2"), nil, forbidden,
			`leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the requesting node`},
		{"renew another node's Lease", n1, opUpdate, "", lease("kube-node-lease", "n2"), lease("kube-node-lease", "n2"), forbidden,
			`leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the requesting node`},
		{"delete another node's Lease", n1, opDelete, "", nil, lease("kube-node-lease", "n2"), forbidden,
			`leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the requesting node`},
		{"a Lease in another namespace", n1, opCreate, "", lease("kube-system", "n1"), nil, forbidden,
			`leases.coordination.k8s.io "n1" is forbidden: can only access leases in the "kube-node-lease" system namespace`},

		// CSINodes.
		{"create its CSINode", n1, opCreate, "", &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, nil, admitted, ""},
		{"create another CSINode", n1, opCreate, "", &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, nil, forbidden,
			`csinodes.storage.k8s.io "n2" is forbidden: can only access CSINode with the same name as the requesting node`},

		// Claim status.
		{"claim capacity after an expansion", n1, opUpdate, "status", claim(func(c *corev1.PersistentVolumeClaim) {
			c.ResourceVersion = ""
			c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}
			c.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionFalse}}
		}), claim(nil), admitted, ""},
		{"claim phase through status", n1, opUpdate, "status", claim(func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = corev1.ClaimLost }), claim(nil), forbidden,
			`persistentvolumeclaims "data" is forbidden: node "n1" is not allowed to update fields other than status.quantity and status.conditions: ...`},
		{"claim labels through status", n1, opUpdate, "status", claim(func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"a": "b"} }), claim(nil), forbidden,
			`persistentvolumeclaims "data" is forbidden: node "n1" is not allowed to update fields other than status.quantity and status.conditions: ...`},
		{"claim itself", n1, opUpdate, "", claim(nil), claim(nil), forbidden, `persistentvolumeclaims "data" is forbidden: may only update PVC status`},

		// Certificate signing requests.
		{"its own client certificate", n1, opCreate, "", csr(t, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1"), nil, admitted, ""},
		{"its own serving certificate", n1, opCreate, "", csr(t, certificatesv1.KubeletServingSignerName, "system:node:n1"), nil, admitted, ""},
		{"another node's client certificate", n1, opCreate, "", csr(t, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n2"), nil, forbidden,
			`certificatesigningrequests.certificates.k8s.io "csr-1" is forbidden: can only create a node CSR with CN=system:node:n1`},
		{"a certificate from another signer", n1, opCreate, "", csr(t, "example.com/signer", "anything"), nil, admitted, ""},
		{"a request that is not a CSR", n1, opCreate, "", &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
			Spec:       certificatesv1.CertificateSigningRequestSpec{SignerName: certificatesv1.KubeletServingSignerName, Request: []byte("junk")},
		}, nil, forbidden, `certificatesigningrequests.certificates.k8s.io "csr-1" is forbidden: unable to parse csr: PEM block type must be CERTIFICATE REQUEST`},
	}
	c := testCluster()
	p := NewRestriction(c, c, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.user != nil {
				ctx = authn.WithUser(ctx, tt.user)
			}
			var err error
			switch tt.op {
			case opCreate:
				err = p.AdmitCreate(ctx, tt.obj)
			case opUpdate:
				err = p.AdmitUpdate(ctx, tt.subresource, tt.obj, tt.old)
			case opDelete:
				err = p.AdmitDelete(ctx, tt.old)
			}
			checkErr(t, err, tt.want, tt.wantMsg)
		})
	}
}

func checkErr(t *testing.T, err error, want errKind, wantMsg string) {
	t.Helper()
	switch want {
	case admitted:
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	case forbidden:
		if !apierrors.IsForbidden(err) {
			t.Fatalf("err = %v, want 403 Forbidden", err)
		}
	case notFound:
		if !apierrors.IsNotFound(err) {
			t.Fatalf("err = %v, want 404 NotFound", err)
		}
	}
	// A message ending in "..." is a prefix: the rest embeds a diff.
	got := err.Error()
	if prefix, ok := strings.CutSuffix(wantMsg, "..."); ok {
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("message\n got: %s\nwant: %s", got, wantMsg)
		}
		return
	}
	if got != wantMsg {
		t.Errorf("message\n got: %s\nwant: %s", got, wantMsg)
	}
}

// allowAudience is an authorizer that allows node n1 to request tokens
// for the audience "vault-admin" only.
type allowAudience struct{}

func (allowAudience) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	if a.Verb == "request-serviceaccounts-token-audience" && a.Resource == "vault-admin" && a.Name == "web-sa" && a.Namespace == "ns1" {
		return authz.DecisionAllow, "", nil
	}
	return authz.DecisionNoOpinion, "", nil
}

func TestRestrictionTokenRequest(t *testing.T) {
	boundTo := func(name, uid string, audiences ...string) *authenticationv1.TokenRequest {
		return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences:      audiences,
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)},
		}}
	}
	tests := []struct {
		name    string
		user    *authn.User
		tr      *authenticationv1.TokenRequest
		want    errKind
		wantMsg string
	}{
		{"a user who is not a node passes", alice, &authenticationv1.TokenRequest{}, admitted, ""},
		{"bound to its pod", nodeUser("n1"), boundTo("web", "web-uid"), admitted, ""},
		{"bound to its pod for an audience the pod's volume names", nodeUser("n1"), boundTo("web", "web-uid", "vault"), admitted, ""},
		{"bound to its pod for an audience the authorizer allows", nodeUser("n1"), boundTo("web", "web-uid", "vault-admin"), admitted, ""},
		{"bound to its pod for another audience", nodeUser("n1"), boundTo("web", "web-uid", "api"), forbidden,
			`serviceaccounts "web-sa" is forbidden: system:node:n1 is not authorized to request tokens for audience "api"`},
		{"two audiences", nodeUser("n1"), boundTo("web", "web-uid", "vault", "api"), forbidden,
			`serviceaccounts "web-sa" is forbidden: node may only request 0 or 1 audiences`},
		{"not bound", nodeUser("n1"), &authenticationv1.TokenRequest{}, forbidden,
			`serviceaccounts "web-sa" is forbidden: node requested token not bound to a pod`},
		{"bound to a secret", nodeUser("n1"), &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Secret", Name: "s", UID: "u"}}}, forbidden,
			`serviceaccounts "web-sa" is forbidden: node requested token not bound to a pod`},
		{"bound without a UID", nodeUser("n1"), boundTo("web", ""), forbidden,
			`serviceaccounts "web-sa" is forbidden: node requested token with a pod binding without a uid`},
		{"bound to a pod since recreated", nodeUser("n1"), boundTo("web", "old-uid"), forbidden,
			`serviceaccounts "web-sa" is forbidden: the UID in the bound object reference (old-uid) does not match the UID in record. The object might have been deleted and then recreated`},
		{"bound to another node's pod", nodeUser("n2"), boundTo("web", "web-uid"), forbidden,
			`serviceaccounts "web-sa" is forbidden: node requested token bound to a pod scheduled on a different node`},
		{"bound to a missing pod", nodeUser("n1"), boundTo("gone", "u"), notFound, `pods "gone" not found`},
	}
	c := testCluster()
	p := NewRestriction(c, c, allowAudience{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := authn.WithUser(context.Background(), tt.user)
			checkErr(t, p.AdmitTokenRequest(ctx, "ns1", "web-sa", tt.tr), tt.want, tt.wantMsg)
		})
	}

	t.Run("without an authorizer only the pod's audiences", func(t *testing.T) {
		ctx := authn.WithUser(context.Background(), nodeUser("n1"))
		err := NewRestriction(c, c, nil).AdmitTokenRequest(ctx, "ns1", "web-sa", boundTo("web", "web-uid", "vault-admin"))
		checkErr(t, err, forbidden, `serviceaccounts "web-sa" is forbidden: system:node:n1 is not authorized to request tokens for audience "vault-admin"`)
	})
}
