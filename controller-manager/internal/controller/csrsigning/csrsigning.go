// Package csrsigning is the CertificateSigningRequest signer: it issues,
// with the cluster CA (--cluster-signing-cert-file and
// --cluster-signing-key-file), the certificates of approved requests to
// Kubernetes' built-in signers kubernetes.io/kube-apiserver-client-kubelet
// (kubelets' client certificates), kubernetes.io/kubelet-serving (their
// serving certificates) and kubernetes.io/kube-apiserver-client (any
// client of the apiserver). A request a signer must refuse gets a Failed
// condition instead, as Kubernetes' signer controller does.
package csrsigning

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"go.uber.org/zap"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/csr"
)

// Name is the controller's name.
const Name = "csrsigning"

// ReasonSignerValidationFailure is the reason of the Failed condition of
// a request its signer refuses, as Kubernetes'.
const ReasonSignerValidationFailure = "SignerValidationFailure"

// Action is what to do with a request.
type Action int

const (
	// None leaves the request as it is.
	None Action = iota
	// Sign issues its certificate.
	Sign
	// Fail marks it Failed with the plan's Message.
	Fail
)

// Plan is the decision about one request.
type Plan struct {
	Action Action
	// Request is the parsed request to sign (Sign).
	Request *x509.CertificateRequest
	// Message says why the signer refuses the request (Fail).
	Message string
}

// Decide is the pure part: an approved request to one of our signers,
// not issued and not Failed, is signed if its signer's rules allow it
// and failed if not. The error is for a request that does not parse
// (the apiserver's validation lets none through).
func Decide(r *certv1.CertificateSigningRequest) (Plan, error) {
	if len(r.Status.Certificate) > 0 || !csr.IsApproved(r) || csr.HasTrueCondition(r, certv1.CertificateFailed) {
		return Plan{}, nil
	}
	switch r.Spec.SignerName {
	case certv1.KubeAPIServerClientKubeletSignerName, certv1.KubeletServingSignerName, certv1.KubeAPIServerClientSignerName:
	default:
		return Plan{}, nil
	}
	req, err := csr.Parse(r.Spec.Request)
	if err != nil {
		return Plan{}, fmt.Errorf("unable to parse csr %q: %w", r.Name, err)
	}
	if err := validate(r.Spec.SignerName, req, r.Spec.Usages); err != nil {
		return Plan{Action: Fail, Message: err.Error()}, nil
	}
	return Plan{Action: Sign, Request: req}, nil
}

// validate applies the rules of signer to a request.
func validate(signer string, req *x509.CertificateRequest, usages []certv1.KeyUsage) error {
	switch signer {
	case certv1.KubeletServingSignerName:
		return csr.ValidateKubeletServingCSR(req, csr.Usages(usages))
	case certv1.KubeAPIServerClientKubeletSignerName:
		return csr.ValidateKubeletClientCSR(req, csr.Usages(usages))
	default:
		return csr.ValidateAPIServerClientUsages(usages)
	}
}

// Controller signs approved requests.
type Controller struct {
	*controller.Base
	client kubernetes.Interface
	csrs   certlisters.CertificateSigningRequestLister
	ca     *caFiles
	maxTTL time.Duration
	log    *zap.Logger
	clock  clock.PassiveClock
}

// New builds the controller. Without both signing files it has nothing
// to sign with and returns a nil Runner, as kube-controller-manager
// skips its signer; files given that hold no usable CA are an error.
func New(c controller.Context) (controller.Runner, error) {
	s := c.Settings
	if s.ClusterSigningCertFile == "" || s.ClusterSigningKeyFile == "" {
		c.Log.Info("Skipping CSR signer controller because no csr cert/key was specified",
			zap.String("clusterSigningCertFile", s.ClusterSigningCertFile), zap.String("clusterSigningKeyFile", s.ClusterSigningKeyFile))
		return nil, nil
	}
	if !csr.Served(c.Discovery) {
		c.Log.Warn("apiserver does not serve " + csr.GroupVersion + ": CSR signing off")
		return nil, nil
	}
	files := &caFiles{certFile: s.ClusterSigningCertFile, keyFile: s.ClusterSigningKeyFile}
	if _, err := files.current(); err != nil {
		return nil, fmt.Errorf("failed to init certificate signer: %w", err)
	}
	inf := c.Informers.Certificates().V1().CertificateSigningRequests()
	ctl := &Controller{
		client: c.Client, csrs: inf.Lister(), ca: files, maxTTL: s.ClusterSigningDuration,
		log: c.Log, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, ctl.Watch(inf.Informer(), ctl.Objects())
}

func (c *Controller) sync(ctx context.Context, name string) error {
	r, ok, err := controller.Get[*certv1.CertificateSigningRequest](name, func(string) certlisters.CertificateSigningRequestLister { return c.csrs })
	if !ok {
		return err
	}
	plan, err := Decide(r)
	if err != nil || plan.Action == None {
		return err
	}
	r = r.DeepCopy()
	now := c.clock.Now()
	if plan.Action == Fail {
		t := metav1.NewTime(now)
		r.Status.Conditions = append(r.Status.Conditions, certv1.CertificateSigningRequestCondition{
			Type: certv1.CertificateFailed, Status: corev1.ConditionTrue,
			Reason: ReasonSignerValidationFailure, Message: plan.Message,
			LastUpdateTime: t, LastTransitionTime: t,
		})
		if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, r, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("error adding failure condition for csr %s: %w", name, err)
		}
		c.log.Info("certificate signing request refused by its signer", zap.String("csr", name),
			zap.String("signer", r.Spec.SignerName), zap.String("why", plan.Message))
		return nil
	}
	ca, err := c.ca.current()
	if ca == nil {
		return err
	}
	if err != nil {
		c.log.Warn("CA files unusable; signing with the CA last loaded", zap.Error(err))
	}
	certPEM, err := ca.Sign(plan.Request, r.Spec.Usages, Duration(r.Spec.ExpirationSeconds, c.maxTTL), now)
	if err != nil {
		return fmt.Errorf("error auto signing csr %s: %w", name, err)
	}
	r.Status.Certificate = certPEM
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, r, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("error updating signature for csr %s: %w", name, err)
	}
	c.log.Info("certificate issued", zap.String("csr", name), zap.String("signer", r.Spec.SignerName),
		zap.String("subject", plan.Request.Subject.String()))
	return nil
}
