package nodeauth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/diff"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// Restriction is Kubernetes' NodeRestriction admission plugin: it keeps
// what a node writes to objects of its own, where the Node authorizer
// could not tell from the request alone (it does not see the object):
//
//   - Pods: a node creates only mirror pods bound to itself, owned by its
//     own Node and referencing no other API object; it updates only the
//     status of pods bound to it, deletes and evicts only those.
//   - Nodes: only its own, without a configSource, without changing its
//     taints or owner references, and with no labels outside those a
//     kubelet may set (kubelet.kubernetes.io/, node.kubernetes.io/ and the
//     well-known hostname, topology, instance-type, os and arch labels;
//     never node-restriction.kubernetes.io/).
//   - Leases: only its own, in kube-node-lease. CSINodes: only its own.
//   - PersistentVolumeClaims: only their status' capacity and conditions.
//   - CertificateSigningRequests for the kubelet signers: only for
//     CN=system:node:<itself>.
//   - ServiceAccount tokens: only bound to a pod on the node
//     (AdmitTokenRequest).
//
// Users that are not nodes pass. The genericstore calls AdmitCreate,
// AdmitUpdate and AdmitDelete for every kind it is registered on; the
// object's type tells which rules apply, and a type without rules
// passes.
type Restriction struct {
	pods  Pods
	nodes Nodes
	authz authz.Authorizer
}

// NewRestriction returns NodeRestriction reading pods and nodes from the
// watch caches. authorizer is the apiserver's whole authorizer chain: a
// node may request a token for an audience its pod does not name only if
// the chain allows it the verb request-serviceaccounts-token-audience on
// that audience (Kubernetes' ServiceAccountNodeAudienceRestriction); with
// a nil authorizer such requests are refused.
func NewRestriction(pods Pods, nodes Nodes, authorizer authz.Authorizer) *Restriction {
	return &Restriction{pods: pods, nodes: nodes, authz: authorizer}
}

// Admission operations, as Kubernetes names them in its messages.
const (
	opCreate = "CREATE"
	opUpdate = "UPDATE"
	opDelete = "DELETE"
)

// request is one admission decision's input, Kubernetes'
// admission.Attributes.
type request struct {
	user        *authn.User
	node        string
	op          string
	resource    schema.GroupResource
	subresource string
	namespace   string
	name        string
	obj, old    runtime.Object
}

// forbidden is admission.NewForbidden: a 403 naming the resource and the
// object.
func (r *request) forbidden(err error) error {
	return apierrors.NewForbidden(r.resource, r.name, err)
}

// AdmitCreate implements genericstore.Admitter.
func (p *Restriction) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	return p.admit(ctx, opCreate, "", obj, nil)
}

// AdmitUpdate implements genericstore.UpdateAdmitter.
func (p *Restriction) AdmitUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error {
	return p.admit(ctx, opUpdate, subresource, obj, old)
}

// AdmitDelete implements genericstore.DeleteAdmitter; obj is the stored
// object.
func (p *Restriction) AdmitDelete(ctx context.Context, obj runtime.Object) error {
	return p.admit(ctx, opDelete, "", nil, obj)
}

func (p *Restriction) admit(ctx context.Context, op, subresource string, obj, old runtime.Object) error {
	user, _ := authn.UserFrom(ctx)
	node, isNode := NodeIdentity(user)
	if !isNode {
		return nil
	}
	// A delete judges the stored object; everything else the new one.
	subject := obj
	if subject == nil {
		subject = old
	}
	r := &request{user: user, node: node, op: op, subresource: subresource, obj: obj, old: old}
	var check func(*request) error
	switch o := subject.(type) {
	case *corev1.Pod:
		r.resource, r.namespace, r.name, check = podResource, o.Namespace, o.Name, p.admitPod
	case *policyv1.Eviction:
		r.resource, r.subresource, r.namespace, r.name, check = podResource, "eviction", o.Namespace, o.Name, p.admitEviction
	case *corev1.Node:
		r.resource, r.name, check = nodeResource, o.Name, admitNode
	case *corev1.PersistentVolumeClaim:
		r.resource, r.namespace, r.name, check = pvcResource, o.Namespace, o.Name, admitPVC
	case *coordinationv1.Lease:
		r.resource, r.namespace, r.name, check = leaseResource, o.Namespace, o.Name, admitLease
	case *storagev1.CSINode:
		r.resource, r.name, check = csiNodeResource, o.Name, admitCSINode
	case *certificatesv1.CertificateSigningRequest:
		r.resource, r.name, check = csrResource, o.Name, admitCSR
	default:
		return nil
	}
	if node == "" {
		return r.forbidden(fmt.Errorf("could not determine node from user %q", user.Name))
	}
	return check(r)
}

var csrResource = schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}

// admitPod: a node creates mirror pods and deletes pods bound to it, and
// updates nothing but the status of pods bound to it.
func (p *Restriction) admitPod(r *request) error {
	switch r.subresource {
	case "":
	case "status":
		return admitPodStatus(r)
	case "eviction":
		return r.forbidden(fmt.Errorf("unexpected operation %s", r.op))
	default:
		return r.forbidden(fmt.Errorf("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", r.subresource))
	}
	switch r.op {
	case opCreate:
		return p.admitPodCreate(r)
	case opDelete:
		if r.old.(*corev1.Pod).Spec.NodeName != r.node {
			return r.forbidden(fmt.Errorf("node %q can only delete pods with spec.nodeName set to itself", r.node))
		}
		return nil
	}
	return r.forbidden(fmt.Errorf("unexpected operation %q, node %q can only create and delete mirror pods", r.op, r.node))
}

// admitPodCreate allows a mirror pod of a static pod: bound to the node,
// controlled by the node's own Node object (so it goes when the Node
// goes) and referencing no other API object, which its node would
// otherwise gain access to.
func (p *Restriction) admitPodCreate(r *request) error {
	pod := r.obj.(*corev1.Pod)
	node := r.node
	if !isMirrorPod(pod) {
		return r.forbidden(fmt.Errorf("pod does not have %q annotation, node %q can only create mirror pods", corev1.MirrorPodAnnotationKey, node))
	}
	if pod.Spec.NodeName != node {
		return r.forbidden(fmt.Errorf("node %q can only create pods with spec.nodeName set to itself", node))
	}
	switch len(pod.OwnerReferences) {
	case 0:
		return r.forbidden(fmt.Errorf("node %q can only create pods with an owner reference set to itself", node))
	case 1:
	default:
		return r.forbidden(fmt.Errorf("node %q can only create pods with a single owner reference set to itself", node))
	}
	owner := pod.OwnerReferences[0]
	if owner.APIVersion != corev1.SchemeGroupVersion.String() || owner.Kind != "Node" || owner.Name != node {
		return r.forbidden(fmt.Errorf("node %q can only create pods with an owner reference set to itself", node))
	}
	if owner.Controller == nil || !*owner.Controller {
		return r.forbidden(fmt.Errorf("node %q can only create pods with a controller owner reference set to itself", node))
	}
	if owner.BlockOwnerDeletion != nil && *owner.BlockOwnerDeletion {
		return r.forbidden(fmt.Errorf("node %q must not set blockOwnerDeletion on an owner reference", node))
	}
	n, err := p.nodes.Node(node)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return r.forbidden(fmt.Errorf("error looking up node %s to verify uid: %v", node, err))
	}
	if owner.UID != n.UID {
		// Kubernetes' message, which words the two UIDs this way round.
		return r.forbidden(fmt.Errorf("node %s UID mismatch: expected %s got %s", node, owner.UID, n.UID))
	}
	refs, resource, err := apiObjectReference(pod)
	if err != nil {
		return r.forbidden(fmt.Errorf("error checking mirror pod for API references: %w", err))
	}
	if refs {
		return r.forbidden(fmt.Errorf("node %q can not create pods that reference %s", node, resource))
	}
	return nil
}

// admitPodStatus lets a node report the status of its own pods, without
// relabelling them or changing which ResourceClaims they were given.
func admitPodStatus(r *request) error {
	if r.op != opUpdate {
		return r.forbidden(fmt.Errorf("unexpected operation %q", r.op))
	}
	oldPod, newPod := r.old.(*corev1.Pod), r.obj.(*corev1.Pod)
	if oldPod.Spec.NodeName != r.node {
		return r.forbidden(fmt.Errorf("node %q can only update pod status for pods with spec.nodeName set to itself", r.node))
	}
	if !labels.Equals(oldPod.Labels, newPod.Labels) {
		return r.forbidden(fmt.Errorf("node %q cannot update labels through pod status", r.node))
	}
	if !apiequality.Semantic.DeepEqual(oldPod.Status.ResourceClaimStatuses, newPod.Status.ResourceClaimStatuses) {
		return r.forbidden(fmt.Errorf("node %q cannot update resource claim statues", r.node))
	}
	if !apiequality.Semantic.DeepEqual(oldPod.Status.ExtendedResourceClaimStatus, newPod.Status.ExtendedResourceClaimStatus) {
		return r.forbidden(fmt.Errorf("node %q cannot update extended resource claim status", r.node))
	}
	if !apiequality.Semantic.DeepEqual(oldPod.Status.NodeAllocatableResourceClaimStatuses, newPod.Status.NodeAllocatableResourceClaimStatuses) {
		return r.forbidden(fmt.Errorf("node %q cannot update node allocatable resource claim statuses", r.node))
	}
	return nil
}

// admitEviction lets a node evict only pods bound to it. The Eviction
// must carry the pod's namespace and name (the request path's).
func (p *Restriction) admitEviction(r *request) error {
	if r.op != opCreate {
		return r.forbidden(fmt.Errorf("unexpected operation %s", r.op))
	}
	if r.name == "" {
		return r.forbidden(errors.New("could not determine pod from request data"))
	}
	pod, err := p.pods.Pod(r.namespace, r.name)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return r.forbidden(err)
	}
	if pod.Spec.NodeName != r.node {
		return r.forbidden(fmt.Errorf("node %s can only evict pods with spec.nodeName set to itself", r.node))
	}
	return nil
}

// admitPVC lets a node write only the capacity and conditions in a
// claim's status (a volume expansion it finished), and, as Kubernetes
// with RecoverVolumeExpansionFailure, the allocated resources.
func admitPVC(r *request) error {
	if r.subresource != "status" {
		return r.forbidden(errors.New("may only update PVC status"))
	}
	if r.op != opUpdate {
		return r.forbidden(fmt.Errorf("unexpected operation %q", r.op))
	}
	oldPVC := r.old.(*corev1.PersistentVolumeClaim).DeepCopy()
	newPVC := r.obj.(*corev1.PersistentVolumeClaim).DeepCopy()
	for _, c := range []*corev1.PersistentVolumeClaim{oldPVC, newPVC} {
		// A client may leave resourceVersion empty for an unconditional
		// update, and the store tracks managed fields itself.
		c.ResourceVersion = ""
		c.ManagedFields = nil
		c.Status.Capacity = nil
		c.Status.Conditions = nil
		c.Status.AllocatedResourceStatuses = nil
		c.Status.AllocatedResources = nil
	}
	if !apiequality.Semantic.DeepEqual(oldPVC, newPVC) {
		return r.forbidden(fmt.Errorf("node %q is not allowed to update fields other than status.quantity and status.conditions: %v", r.node, diff.Diff(oldPVC, newPVC)))
	}
	return nil
}

// admitNode keeps a node to its own Node object, and keeps it from
// changing what would let it attract workloads meant for other nodes:
// taints, restricted labels, and a configSource (what a node may read is
// scoped by its Node's spec).
func admitNode(r *request) error {
	if r.name != r.node {
		return r.forbidden(fmt.Errorf("node %q is not allowed to modify node %q", r.node, r.name))
	}
	switch r.op {
	case opCreate:
		n := r.obj.(*corev1.Node)
		if n.Spec.ConfigSource != nil {
			// Kubernetes' message, "pods" and all.
			return r.forbidden(fmt.Errorf("node %q is not allowed to create pods with a non-nil configSource", r.node))
		}
		if bad := forbiddenLabels(modifiedLabels(n.Labels, nil)); len(bad) > 0 {
			return r.forbidden(fmt.Errorf("node %q is not allowed to set the following labels: %s", r.node, strings.Join(bad, ", ")))
		}
	case opUpdate:
		n, old := r.obj.(*corev1.Node), r.old.(*corev1.Node)
		// An older kubelet may drop the field in a status update, so only
		// a new non-nil configSource counts.
		if n.Spec.ConfigSource != nil && !apiequality.Semantic.DeepEqual(n.Spec.ConfigSource, old.Spec.ConfigSource) {
			return r.forbidden(fmt.Errorf("node %q is not allowed to update configSource to a new non-nil configSource", r.node))
		}
		if !apiequality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return r.forbidden(fmt.Errorf("node %q is not allowed to modify taints", r.node))
		}
		if !apiequality.Semantic.DeepEqual(n.OwnerReferences, old.OwnerReferences) {
			return r.forbidden(fmt.Errorf("node %q is not allowed to modify ownerReferences", r.node))
		}
		if bad := forbiddenLabels(modifiedLabels(n.Labels, old.Labels)); len(bad) > 0 {
			return r.forbidden(fmt.Errorf("is not allowed to modify labels: %s", strings.Join(bad, ", ")))
		}
	}
	return nil
}

// modifiedLabels returns the keys added, removed or changed between a and
// b.
func modifiedLabels(a, b map[string]string) []string {
	var keys []string
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			keys = append(keys, k)
		}
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || v != w {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// forbiddenLabels returns, sorted, the keys among modified a node may not
// set: any under node-restriction.kubernetes.io/, and any other
// kubernetes.io or k8s.io key but those a kubelet sets.
func forbiddenLabels(modified []string) []string {
	var bad []string
	for _, key := range modified {
		ns := labelNamespace(key)
		restricted := ns == corev1.LabelNamespaceNodeRestriction || strings.HasSuffix(ns, "."+corev1.LabelNamespaceNodeRestriction)
		if restricted || (isKubernetesLabel(ns) && !isKubeletLabel(key)) {
			bad = append(bad, key)
		}
	}
	return bad
}

// kubeletLabels are the kubernetes.io labels a kubelet may set on its own
// Node, as k8s.io/kubelet's well-known labels.
var kubeletLabels = []string{
	corev1.LabelHostname,
	corev1.LabelTopologyZone,
	corev1.LabelTopologyRegion,
	corev1.LabelFailureDomainBetaZone,
	corev1.LabelFailureDomainBetaRegion,
	corev1.LabelInstanceType,
	corev1.LabelInstanceTypeStable,
	corev1.LabelOSStable,
	corev1.LabelArchStable,
	"beta.kubernetes.io/os",
	"beta.kubernetes.io/arch",
}

// kubeletLabelNamespaces are the label prefixes a kubelet may set freely.
var kubeletLabelNamespaces = []string{corev1.LabelNamespaceSuffixKubelet, corev1.LabelNamespaceSuffixNode}

// isKubeletLabel reports whether a kubelet may set the label key on its
// own Node (--node-labels), as k8s.io/kubelet's isKubeletLabel.
func isKubeletLabel(key string) bool {
	if slices.Contains(kubeletLabels, key) {
		return true
	}
	ns := labelNamespace(key)
	for _, allowed := range kubeletLabelNamespaces {
		if ns == allowed || strings.HasSuffix(ns, "."+allowed) {
			return true
		}
	}
	return false
}

func isKubernetesLabel(ns string) bool {
	return ns == "kubernetes.io" || strings.HasSuffix(ns, ".kubernetes.io") ||
		ns == "k8s.io" || strings.HasSuffix(ns, ".k8s.io")
}

func labelNamespace(key string) string {
	if ns, _, ok := strings.Cut(key, "/"); ok {
		return ns
	}
	return ""
}

// admitLease keeps a node to its own Lease in kube-node-lease.
func admitLease(r *request) error {
	if r.namespace != corev1.NamespaceNodeLease {
		return r.forbidden(fmt.Errorf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease))
	}
	if r.name != r.node {
		return r.forbidden(errors.New("can only access node lease with the same name as the requesting node"))
	}
	return nil
}

// admitCSINode keeps a node to its own CSINode.
func admitCSINode(r *request) error {
	if r.name != r.node {
		return r.forbidden(errors.New("can only access CSINode with the same name as the requesting node"))
	}
	if r.subresource == "status" {
		return r.forbidden(errors.New("CSIVolumeHealth feature gate is disabled"))
	}
	return nil
}

// admitCSR lets a node ask the kubelet signers only for certificates in
// its own name: a client certificate for another node would be that
// node's identity.
func admitCSR(r *request) error {
	if r.op != opCreate {
		return nil
	}
	csr := r.obj.(*certificatesv1.CertificateSigningRequest)
	if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName && csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
		return nil
	}
	req, err := parseCSR(csr.Spec.Request)
	if err != nil {
		return r.forbidden(fmt.Errorf("unable to parse csr: %w", err))
	}
	if req.Subject.CommonName != NodeUserPrefix+r.node {
		return r.forbidden(fmt.Errorf("can only create a node CSR with CN=system:node:%s", r.node))
	}
	return nil
}

func parseCSR(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

// AdmitTokenRequest judges a TokenRequest for the ServiceAccount
// namespace/serviceAccount (a create of serviceaccounts/token), before
// the token is issued: a node may only ask for a token bound to a pod
// (by name and UID) that is bound to the node, and only for an audience
// that pod's projected token volumes name, unless the authorizer allows
// it that audience. Users that are not nodes pass.
func (p *Restriction) AdmitTokenRequest(ctx context.Context, namespace, serviceAccount string, tr *authenticationv1.TokenRequest) error {
	user, _ := authn.UserFrom(ctx)
	node, isNode := NodeIdentity(user)
	if !isNode {
		return nil
	}
	r := &request{user: user, node: node, op: opCreate, resource: serviceAccountResource, subresource: "token", namespace: namespace, name: serviceAccount, obj: tr}
	if node == "" {
		return r.forbidden(fmt.Errorf("could not determine node from user %q", user.Name))
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return r.forbidden(errors.New("node requested token not bound to a pod"))
	}
	if ref.UID == "" {
		return r.forbidden(errors.New("node requested token with a pod binding without a uid"))
	}
	pod, err := p.pods.Pod(namespace, ref.Name)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return r.forbidden(err)
	}
	if ref.UID != pod.UID {
		return r.forbidden(fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.NodeName != node {
		return r.forbidden(errors.New("node requested token bound to a pod scheduled on a different node"))
	}
	if err := p.checkAudience(ctx, r, tr, pod); err != nil {
		return r.forbidden(err)
	}
	return nil
}

// checkAudience allows the token's audience (none: the apiserver's) if a
// projected serviceAccountToken volume of the pod asks for it, or if the
// authorizer lets the node request it. Kubernetes also accepts the
// audiences of the CSI drivers of the pod's volumes; Coracle serves no
// CSIDriver objects, so there are none.
func (p *Restriction) checkAudience(ctx context.Context, r *request, tr *authenticationv1.TokenRequest, pod *corev1.Pod) error {
	audience := ""
	switch len(tr.Spec.Audiences) {
	case 0:
	case 1:
		audience = tr.Spec.Audiences[0]
	default:
		return errors.New("node may only request 0 or 1 audiences")
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == audience {
				return nil
			}
		}
	}
	notAuthorized := fmt.Errorf("%s is not authorized to request tokens for audience %q", r.user.Name, audience)
	if p.authz == nil {
		return notAuthorized
	}
	decision, _, err := p.authz.Authorize(ctx, authz.Attributes{
		User: r.user, Verb: "request-serviceaccounts-token-audience", ResourceRequest: true,
		APIGroup: "", APIVersion: "v1", Namespace: r.namespace, Resource: audience, Name: r.name,
	})
	// An authorizer may allow and report an error too (RBAC with a
	// missing role): the decision counts first, as in Kubernetes.
	if decision == authz.DecisionAllow {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error authorizing %s to request tokens for audience %q: %w", r.user.Name, audience, err)
	}
	return notAuthorized
}
