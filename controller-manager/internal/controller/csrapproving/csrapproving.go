// Package csrapproving is the CertificateSigningRequest approver: it
// approves, on its own, the requests a node makes for its credentials,
// and leaves every other request pending for a human (`kubectl
// certificate approve` or `deny`).
//
// As Kubernetes' approver (pkg/controller/certificates/approver), it
// recognizes kubelet client requests and asks the apiserver, with a
// SubjectAccessReview for the requester the apiserver wrote into
// spec.username, groups, uid and extra, whether they may create the
// "selfnodeclient" (the node renewing its own certificate) or else the
// "nodeclient" (a bootstrapper: a new node) subresource of
// certificatesigningrequests; RBAC's bindings give those to system:nodes
// and to the bootstrap tokens' group. A request so recognized but not
// allowed is looked at again with back-off, as a binding may yet come.
// An apiserver that serves no SubjectAccessReviews has no authorizer to
// ask: then the approver checks the same rule by identity (Decide).
//
// Kubernetes leaves kubelet serving certificates to an external approver
// because it cannot tell whether the names asked for are the node's. We
// can: a serving request from the node itself is approved when every IP
// and DNS name in it is among that Node's status.addresses, as
// postfinance/kubelet-csr-approver checks them.
package csrapproving

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"go.uber.org/zap"
	authorizationv1 "k8s.io/api/authorization/v1"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/csr"
)

// Name is the controller's name.
const Name = "csrapproving"

// ReasonAutoApproved is the reason of the Approved condition this
// controller adds, as Kubernetes'.
const ReasonAutoApproved = "AutoApproved"

// What the approver recognized a request as: Kubernetes' names of the
// subresources its SubjectAccessReviews ask about, and one of ours for
// serving certificates.
const (
	SelfNodeClient = "selfnodeclient"
	NodeClient     = "nodeclient"
	KubeletServing = "kubeletserving"
)

// The messages of the Approved condition. The client ones are
// Kubernetes' own, word for word: tools and people who know them read
// the same thing here, even when the check was by identity.
const (
	MessageSelfNodeClient = "Auto approving self kubelet client certificate after SubjectAccessReview."
	MessageNodeClient     = "Auto approving kubelet client certificate after SubjectAccessReview."
	MessageKubeletServing = "Auto approving kubelet serving certificate after checking its names against the Node's addresses."
)

// NodeGetter finds a Node by name in the cache; false if there is none.
type NodeGetter func(name string) (*corev1.Node, bool)

// Plan is what to do with one request.
type Plan struct {
	// Approve is true when the request is to be approved with Message.
	Approve bool
	// Recognized is what the request was recognized as (SelfNodeClient,
	// NodeClient, KubeletServing), empty if nothing.
	Recognized string
	// Message is the Approved condition's message when Approve is true;
	// otherwise why the request stays pending, for the log.
	Message string
	// Retry is true when the request was recognized but its requester
	// not allowed: it is looked at again with back-off, as Kubernetes'
	// approver does, since a binding that allows it may come later.
	Retry bool
}

// Reviewer answers whether the requester of r may create subresource
// (SelfNodeClient or NodeClient) of certificatesigningrequests in
// certificates.k8s.io: a SubjectAccessReview.
type Reviewer func(r *certv1.CertificateSigningRequest, subresource string) (bool, error)

// DecideByReview is the decision: whether the request r is one this
// controller approves. A request already approved, denied or issued is
// left alone, and so is anything not recognized; may answers whether
// the requester of a kubelet client request may have it, and node the
// serving rule's question about addresses. An error is may's.
func DecideByReview(r *certv1.CertificateSigningRequest, node NodeGetter, may Reviewer) (Plan, error) {
	return decide(r, node, may)
}

// Decide is DecideByReview without an authorizer to ask, for an
// apiserver that serves no SubjectAccessReviews: it checks by identity
// what Kubernetes' bootstrap policy, with kubeadm's bindings, allows.
// The node itself (its name, in system:nodes) may renew its client
// certificate, a bootstrapper (system:bootstrappers) ask for a new
// node's.
func Decide(r *certv1.CertificateSigningRequest, node NodeGetter) Plan {
	p, _ := decide(r, node, nil)
	return p
}

// decide is DecideByReview, or Decide when may is nil.
func decide(r *certv1.CertificateSigningRequest, node NodeGetter, may Reviewer) (Plan, error) {
	if len(r.Status.Certificate) > 0 {
		return Plan{Message: "already issued"}, nil
	}
	if approved, denied := csr.ApprovalCondition(&r.Status); approved || denied {
		return Plan{Message: "already approved or denied"}, nil
	}
	switch r.Spec.SignerName {
	case certv1.KubeAPIServerClientKubeletSignerName, certv1.KubeletServingSignerName:
	default:
		return Plan{Message: "signer " + r.Spec.SignerName + " is approved by hand"}, nil
	}
	req, err := csr.Parse(r.Spec.Request)
	if err != nil {
		return Plan{Message: fmt.Sprintf("unable to parse csr %q: %v", r.Name, err)}, nil
	}
	usages := csr.Usages(r.Spec.Usages)
	nodeUser := req.Subject.CommonName
	isNode := r.Spec.Username == nodeUser && slices.Contains(r.Spec.Groups, csr.NodesGroup)

	if r.Spec.SignerName == certv1.KubeAPIServerClientKubeletSignerName {
		if err := csr.ValidateKubeletClientCSR(req, usages); err != nil {
			return Plan{Message: "not a kubelet client certificate request: " + err.Error()}, nil
		}
		if may == nil {
			return byIdentity(r, nodeUser, isNode), nil
		}
		return byReview(r, nodeUser, may)
	}

	if err := csr.ValidateKubeletServingCSR(req, usages); err != nil {
		return Plan{Message: "not a kubelet serving certificate request: " + err.Error()}, nil
	}
	if !isNode {
		return Plan{Recognized: KubeletServing, Message: fmt.Sprintf("requester %q is not %s in %s", r.Spec.Username, nodeUser, csr.NodesGroup)}, nil
	}
	nodeName := strings.TrimPrefix(nodeUser, csr.NodeUserPrefix)
	n, ok := node(nodeName)
	if !ok {
		return Plan{Recognized: KubeletServing, Message: fmt.Sprintf("node %q not found", nodeName)}, nil
	}
	if err := namesOf(n, req.DNSNames, req.IPAddresses); err != nil {
		return Plan{Recognized: KubeletServing, Message: err.Error()}, nil
	}
	return Plan{Approve: true, Recognized: KubeletServing, Message: MessageKubeletServing}, nil
}

// byReview decides on a kubelet client request for nodeUser by asking
// may. As Kubernetes, it tries the self rule first, when the requester
// is the node the certificate is for, then the bootstrapper's rule.
func byReview(r *certv1.CertificateSigningRequest, nodeUser string, may Reviewer) (Plan, error) {
	var tried []string
	if r.Spec.Username == nodeUser {
		tried = append(tried, SelfNodeClient)
		ok, err := may(r, SelfNodeClient)
		if err != nil {
			return Plan{}, err
		}
		if ok {
			return Plan{Approve: true, Recognized: SelfNodeClient, Message: MessageSelfNodeClient}, nil
		}
	}
	tried = append(tried, NodeClient)
	ok, err := may(r, NodeClient)
	if err != nil {
		return Plan{}, err
	}
	if ok {
		return Plan{Approve: true, Recognized: NodeClient, Message: MessageNodeClient}, nil
	}
	return Plan{Recognized: NodeClient, Retry: true,
		Message: fmt.Sprintf("recognized csr %q as %v but subject access review was not approved", r.Name, tried)}, nil
}

// byIdentity decides on a kubelet client request for nodeUser by the
// requester's name and groups; isNode says the requester is nodeUser in
// system:nodes. The self rule comes first here too: a node renewing its
// own certificate is not a bootstrapper any more.
func byIdentity(r *certv1.CertificateSigningRequest, nodeUser string, isNode bool) Plan {
	if isNode {
		return Plan{Approve: true, Recognized: SelfNodeClient, Message: MessageSelfNodeClient}
	}
	if slices.Contains(r.Spec.Groups, bootstrapapi.BootstrapDefaultGroup) {
		return Plan{Approve: true, Recognized: NodeClient, Message: MessageNodeClient}
	}
	return Plan{Recognized: NodeClient, Message: fmt.Sprintf("requester %q is neither in group %s nor %s in %s",
		r.Spec.Username, bootstrapapi.BootstrapDefaultGroup, nodeUser, csr.NodesGroup)}
}

// namesOf checks that every DNS name is one of the node's Hostname,
// InternalDNS or ExternalDNS addresses and every IP one of its IP
// addresses (of any type).
func namesOf(n *corev1.Node, dnsNames []string, ips []net.IP) error {
	var names []string
	var addrs []net.IP
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			names = append(names, a.Address)
		default:
			if ip := net.ParseIP(a.Address); ip != nil {
				addrs = append(addrs, ip)
			}
		}
	}
	for _, d := range dnsNames {
		if !slices.Contains(names, d) {
			return fmt.Errorf("DNS name %q is not an address of node %q", d, n.Name)
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(addrs, ip.Equal) {
			return fmt.Errorf("IP address %s is not an address of node %q", ip, n.Name)
		}
	}
	return nil
}

// Controller approves node certificate requests.
type Controller struct {
	*controller.Base
	client kubernetes.Interface
	csrs   certlisters.CertificateSigningRequestLister
	nodes  corelisters.NodeLister
	log    *zap.Logger
	clock  clock.PassiveClock
}

// New builds the controller; nil when the apiserver does not serve
// CertificateSigningRequests.
func New(c controller.Context) (controller.Runner, error) {
	if !csr.Served(c.Discovery) {
		c.Log.Warn("apiserver does not serve " + csr.GroupVersion + ": CSR approving off")
		return nil, nil
	}
	csrInf := c.Informers.Certificates().V1().CertificateSigningRequests()
	nodeInf := c.Informers.Core().V1().Nodes()
	ctl := &Controller{client: c.Client, csrs: csrInf.Lister(), nodes: nodeInf.Lister(), log: c.Log, clock: c.Clock}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, errors.Join(
		ctl.Watch(csrInf.Informer(), controller.Handlers[*certv1.CertificateSigningRequest]{
			Add:    func(r *certv1.CertificateSigningRequest) { ctl.Enqueue(r.Name) },
			Update: func(_, r *certv1.CertificateSigningRequest) { ctl.Enqueue(r.Name) },
		}),
		// A serving request may come before its Node has its addresses:
		// look at the pending ones again when a Node appears or is
		// re-addressed.
		ctl.Watch(nodeInf.Informer(), controller.Handlers[*corev1.Node]{
			Add: func(*corev1.Node) { ctl.enqueuePendingServing() },
			Update: func(old, n *corev1.Node) {
				if !slices.Equal(old.Status.Addresses, n.Status.Addresses) {
					ctl.enqueuePendingServing()
				}
			},
		}),
	)
}

func (c *Controller) enqueuePendingServing() {
	all, _ := c.csrs.List(labels.Everything())
	for _, r := range all {
		if approved, denied := csr.ApprovalCondition(&r.Status); r.Spec.SignerName == certv1.KubeletServingSignerName && !approved && !denied {
			c.Enqueue(r.Name)
		}
	}
}

func (c *Controller) sync(ctx context.Context, name string) error {
	r, ok, err := controller.Get[*certv1.CertificateSigningRequest](name, func(string) certlisters.CertificateSigningRequestLister { return c.csrs })
	if !ok {
		return err
	}
	node := func(name string) (*corev1.Node, bool) {
		n, err := c.nodes.Get(name)
		return n, err == nil
	}
	plan, err := DecideByReview(r, node, c.reviewer(ctx))
	if apierrors.IsNotFound(err) {
		// The apiserver serves no SubjectAccessReviews, so has no
		// authorizer to ask: decide by identity instead.
		plan, err = Decide(r, node), nil
	}
	if err != nil {
		return fmt.Errorf("subject access review for csr %s: %w", name, err)
	}
	if !plan.Approve {
		if plan.Recognized != "" {
			c.log.Debug("certificate signing request left pending", zap.String("csr", name),
				zap.String("recognized", plan.Recognized), zap.String("why", plan.Message))
		}
		if plan.Retry {
			return fmt.Errorf("%w: %s", controller.ErrWaiting, plan.Message)
		}
		return nil
	}
	r = r.DeepCopy()
	now := metav1.NewTime(c.clock.Now())
	r.Status.Conditions = append(r.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: ReasonAutoApproved, Message: plan.Message,
		LastUpdateTime: now, LastTransitionTime: now,
	})
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, r.Name, r, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("error updating approval for csr %s: %w", name, err)
	}
	c.log.Info("certificate signing request approved", zap.String("csr", name),
		zap.String("recognized", plan.Recognized), zap.String("requester", r.Spec.Username))
	return nil
}

// reviewer asks the apiserver whether a request's requester may create
// a certificatesigningrequests subresource, as Kubernetes' approver asks
// it.
func (c *Controller) reviewer(ctx context.Context) Reviewer {
	return func(r *certv1.CertificateSigningRequest, subresource string) (bool, error) {
		extra := make(map[string]authorizationv1.ExtraValue, len(r.Spec.Extra))
		for k, v := range r.Spec.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		sar, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: r.Spec.Username, UID: r.Spec.UID, Groups: r.Spec.Groups, Extra: extra,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Group: certv1.GroupName, Version: "*", Resource: "certificatesigningrequests",
					Subresource: subresource, Verb: "create",
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	}
}
