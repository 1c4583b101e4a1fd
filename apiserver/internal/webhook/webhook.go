// Package webhook is the apiserver's dynamic admission: it calls the
// admission webhooks that ValidatingWebhookConfigurations and
// MutatingWebhookConfigurations register, as kube-apiserver's
// MutatingAdmissionWebhook and ValidatingAdmissionWebhook plugins do, and
// evaluates ValidatingAdmissionPolicies (policy.go) and
// MutatingAdmissionPolicies (mutatingpolicy.go).
//
// A request's admission attributes (operation, kind, resource,
// namespace, name, object, old object, options, dry run, user) go to
// every webhook whose rules, matchPolicy, namespaceSelector,
// objectSelector and matchConditions select them, as an
// admission.k8s.io AdmissionReview POSTed over HTTPS. Mutating webhooks
// run one after another, each seeing the object as the ones before left
// it, and their JSONPatch responses change the object in place (after the
// MutatingAdmissionPolicies; both run once more when a change must be
// seen by one that ran before it);
// validating webhooks run in parallel and only say yes or no. The
// building blocks are k8s.io/apiserver's own (rule matching, the
// webhooks' REST clients with caBundle and service resolution, the
// AdmissionReview round trip, CEL match conditions, error texts), so the
// webhooks see exactly what kube-apiserver sends them.
//
// The configurations are read from the watch caches through Source, on
// every request, never from etcd; a configuration's compiled form is kept
// until its resourceVersion changes.
package webhook

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
	webhookutil "k8s.io/apiserver/pkg/util/webhook"
)

// Source lists the webhook configurations currently stored. The
// configurations are shared with the caches: callers do not change them.
type Source interface {
	MutatingWebhookConfigurations() []*admissionregistrationv1.MutatingWebhookConfiguration
	ValidatingWebhookConfigurations() []*admissionregistrationv1.ValidatingWebhookConfiguration
}

// Namespaces reads a namespace for namespaceSelectors. A namespace that
// does not exist is an apimachinery NotFound error, which the request
// then fails with, as upstream.
type Namespaces interface {
	Namespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// Services reads a Service for webhooks named by service reference.
type Services interface {
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
}

// Options build a Dispatcher.
type Options struct {
	Source     Source
	Namespaces Namespaces
	// Services resolves service references to the Service's ClusterIP
	// and port; the apiserver's host reaches ClusterIPs through
	// kube-proxy, as kube-apiserver's default resolver.
	Services Services
	// Interfaces convert objects between the versions of a kind, and say
	// which resources are the same one served in another version (for
	// matchPolicy Equivalent).
	Interfaces admission.ObjectInterfaces
	// Policies lists ValidatingAdmissionPolicies and bindings; nil turns
	// them off. Params reads their parameters.
	Policies PolicySource
	Params   Params
	// MutatingPolicies lists MutatingAdmissionPolicies and bindings; nil
	// turns them off. TypeConverters give the schemas their
	// ApplyConfiguration mutations merge with.
	MutatingPolicies MutatingPolicySource
	TypeConverters   TypeConverters
	// Authorizer answers the authorizer of CEL match conditions; nil
	// leaves it unset, and a condition that uses it fails.
	Authorizer authorizer.UnconditionalAuthorizer
	Log        *zap.Logger
}

// Dispatcher calls the webhooks that match a request.
type Dispatcher struct {
	source     Source
	namespaces Namespaces
	interfaces admission.ObjectInterfaces
	authz      authorizer.UnconditionalAuthorizer
	clients    *webhookutil.ClientManager
	conditions plugincel.ConditionCompiler
	hooks      *hookCache
	policies   PolicySource
	params     Params
	// compiledPolicies keeps the policies compiled.
	compiledPolicies *policyCache
	mutatingPolicies MutatingPolicySource
	typeConverters   TypeConverters
	// compiledMutations keeps the mutating policies compiled.
	compiledMutations *mutatingPolicyCache
	log               *zap.Logger
}

// New returns a Dispatcher.
func New(opts Options) (*Dispatcher, error) {
	cm, err := webhookutil.NewClientManager(
		[]schema.GroupVersion{admissionv1beta1.SchemeGroupVersion, admissionv1.SchemeGroupVersion},
		admissionv1beta1.AddToScheme, admissionv1.AddToScheme)
	if err != nil {
		return nil, fmt.Errorf("webhook clients: %w", err)
	}
	auth, err := webhookutil.NewDefaultAuthenticationInfoResolver("")
	if err != nil {
		return nil, fmt.Errorf("webhook clients: %w", err)
	}
	cm.SetAuthenticationInfoResolver(auth)
	cm.SetServiceResolver(serviceResolver{opts.Services})
	if err := cm.Validate(); err != nil {
		return nil, fmt.Errorf("webhook clients: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Dispatcher{
		source:     opts.Source,
		namespaces: opts.Namespaces,
		interfaces: opts.Interfaces,
		authz:      opts.Authorizer,
		clients:    &cm,
		conditions: plugincel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())),
		hooks:      newHookCache(),
		policies:   opts.Policies,
		params:     opts.Params,

		compiledPolicies:  newPolicyCache(),
		mutatingPolicies:  opts.MutatingPolicies,
		typeConverters:    opts.TypeConverters,
		compiledMutations: newMutatingPolicyCache(),
		log:               log,
	}, nil
}

// serviceResolver finds a Service's ClusterIP and port, as upstream's
// ClusterIP resolver (k8s.io/apiserver/pkg/util/proxy.ResolveCluster).
// The TLS server name stays <service>.<namespace>.svc: only the address
// dialled changes.
type serviceResolver struct{ services Services }

func (r serviceResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	if r.services == nil {
		return nil, fmt.Errorf("no service resolver for %s/%s", namespace, name)
	}
	svc, err := r.services.Service(context.Background(), namespace, name)
	if err != nil {
		return nil, err
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeExternalName:
		return &url.URL{Scheme: "https", Host: net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port)))}, nil
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, "":
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			return nil, fmt.Errorf(`cannot route to service with ClusterIP "None"`)
		}
		for _, p := range svc.Spec.Ports {
			if p.Port == port {
				return &url.URL{Scheme: "https", Host: net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port)))}, nil
			}
		}
		return nil, fmt.Errorf("no service port %d found for service %q", port, svc.Name)
	default:
		return nil, fmt.Errorf("unsupported service type %q", svc.Spec.Type)
	}
}

// Active reports whether any webhook or policy binding is configured:
// with none, a caller can skip building attributes at all.
func (d *Dispatcher) Active() bool {
	return len(d.source.MutatingWebhookConfigurations()) > 0 || len(d.source.ValidatingWebhookConfigurations()) > 0 ||
		(d.policies != nil && len(d.policies.ValidatingAdmissionPolicyBindings()) > 0) ||
		(d.mutatingPolicies != nil && len(d.mutatingPolicies.MutatingAdmissionPolicyBindings()) > 0)
}

// exempt reports whether attr is about admission configuration itself,
// which no webhook or policy may judge (it could lock itself in):
// upstream's rule.
func exempt(attr admission.Attributes) bool {
	return rules.IsExemptAdmissionConfigurationResource(attr)
}
