package server

import (
	"context"
	"fmt"
	"slices"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	k8sauthorizer "k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/warning"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/audit"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/kinds/admissionregistration"
	"coracle.dev/apiserver/internal/watchcache"
	"coracle.dev/apiserver/internal/webhook"
)

// The dynamic admission plugins, by kube-apiserver's names.
const (
	AdmissionMutatingAdmissionPolicy   = "MutatingAdmissionPolicy"
	AdmissionMutatingWebhook           = "MutatingAdmissionWebhook"
	AdmissionValidatingWebhook         = "ValidatingAdmissionWebhook"
	AdmissionValidatingAdmissionPolicy = "ValidatingAdmissionPolicy"
)

// dynamicAdmission is the Server's one webhook dispatcher, made on first
// use: the stores it reads configurations from are built after the
// admitters that use it.
type dynamicAdmission struct {
	once       sync.Once
	dispatcher *webhook.Dispatcher
	// scheme knows every kind served and the connect options.
	scheme *runtime.Scheme
	err    error
}

// webhookDispatcher returns the server's dispatcher.
func (s *Server) webhookDispatcher() (*webhook.Dispatcher, error) {
	s.dynamic.once.Do(func() {
		scheme, err := apiresource.NewScheme()
		if err != nil {
			s.dynamic.err = err
			return
		}
		s.dynamic.scheme = scheme
		interfaces := &admission.RuntimeObjectInterfaces{
			ObjectCreater: scheme, ObjectTyper: scheme, ObjectDefaulter: scheme, ObjectConvertor: scheme,
			EquivalentResourceMapper: equivalentResources{s.registry},
		}
		s.dynamic.dispatcher, s.dynamic.err = webhook.New(webhook.Options{
			Source: webhookSource{s}, Namespaces: webhookObjects{s}, Services: webhookObjects{s},
			Policies: webhookSource{s}, Params: policyParams{s},
			MutatingPolicies: webhookSource{s}, TypeConverters: policyTypeConverters{s},
			Interfaces: interfaces, Authorizer: celAuthorizer{s}, Log: s.log.Named("webhook"),
		})
	})
	return s.dynamic.dispatcher, s.dynamic.err
}

// webhookSource lists the webhook configurations from the watch caches.
type webhookSource struct{ s *Server }

func (w webhookSource) MutatingWebhookConfigurations() []*admissionregistrationv1.MutatingWebhookConfiguration {
	items, _ := w.s.store(admissionregistrationv1.GroupName, admissionregistration.ResourceMutatingWebhookConfigurations).
		Cache().List(watchcache.Predicate{Field: fields.Everything()})
	out := make([]*admissionregistrationv1.MutatingWebhookConfiguration, 0, len(items))
	for _, obj := range items {
		out = append(out, obj.(*admissionregistrationv1.MutatingWebhookConfiguration))
	}
	return out
}

func (w webhookSource) ValidatingWebhookConfigurations() []*admissionregistrationv1.ValidatingWebhookConfiguration {
	items, _ := w.s.store(admissionregistrationv1.GroupName, admissionregistration.ResourceValidatingWebhookConfigurations).
		Cache().List(watchcache.Predicate{Field: fields.Everything()})
	out := make([]*admissionregistrationv1.ValidatingWebhookConfiguration, 0, len(items))
	for _, obj := range items {
		out = append(out, obj.(*admissionregistrationv1.ValidatingWebhookConfiguration))
	}
	return out
}

func (w webhookSource) ValidatingAdmissionPolicies() []*admissionregistrationv1.ValidatingAdmissionPolicy {
	items, _ := w.s.store(admissionregistrationv1.GroupName, admissionregistration.ResourceValidatingAdmissionPolicies).
		Cache().List(watchcache.Predicate{Field: fields.Everything()})
	out := make([]*admissionregistrationv1.ValidatingAdmissionPolicy, 0, len(items))
	for _, obj := range items {
		out = append(out, obj.(*admissionregistrationv1.ValidatingAdmissionPolicy))
	}
	return out
}

func (w webhookSource) ValidatingAdmissionPolicyBindings() []*admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	items, _ := w.s.store(admissionregistrationv1.GroupName, admissionregistration.ResourceValidatingAdmissionPolicyBindings).
		Cache().List(watchcache.Predicate{Field: fields.Everything()})
	out := make([]*admissionregistrationv1.ValidatingAdmissionPolicyBinding, 0, len(items))
	for _, obj := range items {
		out = append(out, obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding))
	}
	return out
}

func (w webhookSource) MutatingAdmissionPolicies() []*admissionregistrationv1.MutatingAdmissionPolicy {
	items, _ := w.s.store(admissionregistrationv1.GroupName, admissionregistration.ResourceMutatingAdmissionPolicies).
		Cache().List(watchcache.Predicate{Field: fields.Everything()})
	out := make([]*admissionregistrationv1.MutatingAdmissionPolicy, 0, len(items))
	for _, obj := range items {
		out = append(out, obj.(*admissionregistrationv1.MutatingAdmissionPolicy))
	}
	return out
}

func (w webhookSource) MutatingAdmissionPolicyBindings() []*admissionregistrationv1.MutatingAdmissionPolicyBinding {
	items, _ := w.s.store(admissionregistrationv1.GroupName, admissionregistration.ResourceMutatingAdmissionPolicyBindings).
		Cache().List(watchcache.Predicate{Field: fields.Everything()})
	out := make([]*admissionregistrationv1.MutatingAdmissionPolicyBinding, 0, len(items))
	for _, obj := range items {
		out = append(out, obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding))
	}
	return out
}

// policyTypeConverters give MutatingAdmissionPolicies' apply
// configurations the schemas server-side apply uses: a custom resource's
// from its CRD, every other kind's (connect options included) from the
// OpenAPI models of k8s.io/api.
type policyTypeConverters struct{ s *Server }

func (p policyTypeConverters) TypeConverter(kind schema.GroupVersionKind) managedfields.TypeConverter {
	for _, d := range p.s.registry.InGroupVersion(kind.Group, kind.Version) {
		if d.Kind == kind.Kind {
			return p.s.fields.typeConverter(d)
		}
	}
	return p.s.fields.builtin
}

// policyParams reads policies' parameters.
type policyParams struct{ s *Server }

// storeFor is the store of the version paramKind names, not the first
// of its resource: a paramKind of autoscaling/v1 reads v1 objects.
func (p policyParams) storeFor(kind schema.GroupVersionKind) *genericstore.Store {
	for _, d := range p.s.registry.All() {
		if d.GVK() == kind {
			return p.s.storeFor(d)
		}
	}
	return nil
}

func (p policyParams) ParamScope(kind schema.GroupVersionKind) (served, namespaced bool) {
	st := p.storeFor(kind)
	if st == nil {
		return false, false
	}
	return true, st.Descriptor().Namespaced
}

func (p policyParams) Param(ctx context.Context, kind schema.GroupVersionKind, namespace, name string) (runtime.Object, error) {
	st := p.storeFor(kind)
	if st == nil {
		return nil, fmt.Errorf("paramKind kind %v not known", kind)
	}
	if obj := st.Cache().Get(st.Descriptor().Key(namespace, name)); obj != nil {
		return obj, nil
	}
	return st.Get(ctx, namespace, name)
}

func (p policyParams) ListParams(kind schema.GroupVersionKind, namespace string, selector labels.Selector) ([]runtime.Object, error) {
	st := p.storeFor(kind)
	if st == nil {
		return nil, fmt.Errorf("paramKind kind %v not known", kind)
	}
	items, _ := st.Cache().List(watchcache.Predicate{Namespace: namespace, Label: selector, Field: fields.Everything()})
	return items, nil
}

// webhookObjects reads namespaces and services, from the cache or else
// from etcd (one created a moment ago).
type webhookObjects struct{ s *Server }

func (w webhookObjects) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	obj, err := w.s.lookup(ctx, "", "namespaces", "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), nil
}

func (w webhookObjects) Service(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	obj, err := w.s.lookup(ctx, "", "services", namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Service), nil
}

// equivalentResources says which served resources are one resource at
// several groups or versions: those stored under the same etcd prefix,
// as kube-apiserver takes the storage prefix for a resource's identity.
// It reads the registry on every call, so custom resources count.
type equivalentResources struct{ r *apiresource.Registry }

func (e equivalentResources) EquivalentResourcesFor(resource schema.GroupVersionResource, subresource string) []schema.GroupVersionResource {
	d, ok := e.r.Lookup(resource.Group, resource.Version, resource.Resource)
	if !ok {
		return nil
	}
	var out []schema.GroupVersionResource
	for _, o := range e.r.All() {
		if o.KeyPrefix() == d.KeyPrefix() && (subresource == "" || o.HasSubresource(subresource)) {
			out = append(out, o.GroupVersion().WithResource(o.Resource))
		}
	}
	return out
}

func (e equivalentResources) KindFor(resource schema.GroupVersionResource, subresource string) schema.GroupVersionKind {
	d, ok := e.r.Lookup(resource.Group, resource.Version, resource.Resource)
	if !ok || (subresource != "" && !d.HasSubresource(subresource)) {
		return schema.GroupVersionKind{}
	}
	if subresource == apiresource.Scale {
		return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	}
	return d.GVK()
}

// celAuthorizer answers CEL's authorizer (match conditions) with the
// server's authorizers.
type celAuthorizer struct{ s *Server }

func (a celAuthorizer) Authorize(ctx context.Context, attrs k8sauthorizer.Attributes) (k8sauthorizer.Decision, string, error) {
	if a.s.authz == nil {
		return k8sauthorizer.DecisionAllow, "", nil
	}
	var u *authn.User
	if info := attrs.GetUser(); info != nil {
		u = &authn.User{Name: info.GetName(), UID: info.GetUID(), Groups: info.GetGroups(), Extra: info.GetExtra()}
	}
	d, reason, err := a.s.authz.Authorize(ctx, authz.Attributes{
		User: u, Verb: attrs.GetVerb(), ResourceRequest: attrs.IsResourceRequest(),
		APIGroup: attrs.GetAPIGroup(), APIVersion: attrs.GetAPIVersion(), Namespace: attrs.GetNamespace(),
		Resource: attrs.GetResource(), Subresource: attrs.GetSubresource(), Name: attrs.GetName(), Path: attrs.GetPath(),
	})
	switch d {
	case authz.DecisionAllow:
		return k8sauthorizer.DecisionAllow, reason, err
	case authz.DecisionDeny:
		return k8sauthorizer.DecisionDeny, reason, err
	default:
		return k8sauthorizer.DecisionNoOpinion, reason, err
	}
}

// webhookAdmission is the admission webhooks (and policies) as one of a
// kind's admitters, in kube-apiserver's two phases: MutatingAdmissionPolicies
// and mutating webhooks before the kind's validation (AdmitCreate,
// MutateUpdate), then ValidatingAdmissionPolicies and validating webhooks
// just before the write (ValidateCreate, AdmitUpdate); AdmitDelete runs
// both on a delete.
type webhookAdmission struct {
	s                          *Server
	d                          *apiresource.Descriptor
	mutatingPolicies, mutating bool
	policies, validating       bool
}

// webhookAdmitter returns the kind's dynamic admitter, or nil when the
// four plugins are disabled.
func (s *Server) webhookAdmitter(d *apiresource.Descriptor, on func(string) bool) genericstore.Admitter {
	a := &webhookAdmission{s: s, d: d, mutatingPolicies: on(AdmissionMutatingAdmissionPolicy), mutating: on(AdmissionMutatingWebhook),
		policies: on(AdmissionValidatingAdmissionPolicy), validating: on(AdmissionValidatingWebhook)}
	if !a.mutatingPolicies && !a.mutating && !a.policies && !a.validating {
		return nil
	}
	return a
}

var (
	_ genericstore.CreateValidator = (*webhookAdmission)(nil)
	_ genericstore.UpdateMutator   = (*webhookAdmission)(nil)
	_ genericstore.UpdateAdmitter  = (*webhookAdmission)(nil)
	_ genericstore.DeleteAdmitter  = (*webhookAdmission)(nil)
)

// admission phases.
const (
	mutate = 1 << iota
	validate
)

func (a *webhookAdmission) createRequest(obj runtime.Object) (webhook.Request, error) {
	m, err := metaOf(obj)
	if err != nil {
		return webhook.Request{}, err
	}
	obj.GetObjectKind().SetGroupVersionKind(a.d.GVK())
	return webhook.Request{
		Operation: admission.Create, Namespace: m.GetNamespace(), Name: m.GetName(),
		Object: obj, Options: options(&metav1.CreateOptions{}, "CreateOptions"),
	}, nil
}

// AdmitCreate runs the mutating webhooks on a new object.
func (a *webhookAdmission) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	r, err := a.createRequest(obj)
	if err != nil {
		return err
	}
	return a.admit(ctx, r, mutate)
}

// ValidateCreate runs the policies and validating webhooks on a new,
// valid object.
func (a *webhookAdmission) ValidateCreate(ctx context.Context, obj runtime.Object) error {
	r, err := a.createRequest(obj)
	if err != nil {
		return err
	}
	return a.admit(ctx, r, validate)
}

func (a *webhookAdmission) updateRequest(subresource string, obj, old runtime.Object) (webhook.Request, bool, error) {
	if subresource == apiresource.Binding {
		// Upstream admits pods/binding as a CREATE of a Binding, which
		// the store does not hand us.
		return webhook.Request{}, false, nil
	}
	m, err := metaOf(obj)
	if err != nil {
		return webhook.Request{}, false, err
	}
	obj.GetObjectKind().SetGroupVersionKind(a.d.GVK())
	return webhook.Request{
		Operation: admission.Update, Subresource: subresource, Namespace: m.GetNamespace(), Name: m.GetName(),
		Object: obj, OldObject: a.withGVK(old), Options: options(&metav1.UpdateOptions{}, "UpdateOptions"),
	}, true, nil
}

// MutateUpdate runs the mutating webhooks on a change, before the kind's
// defaults and validation.
func (a *webhookAdmission) MutateUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error {
	r, ok, err := a.updateRequest(subresource, obj, old)
	if !ok || err != nil {
		return err
	}
	return a.admit(ctx, r, mutate)
}

// AdmitUpdate runs the policies and validating webhooks on a valid
// change.
func (a *webhookAdmission) AdmitUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error {
	r, ok, err := a.updateRequest(subresource, obj, old)
	if !ok || err != nil {
		return err
	}
	return a.admit(ctx, r, validate)
}

// AdmitDelete runs the webhooks on a delete: there is no new object for
// a mutating webhook to change, but it is still called.
func (a *webhookAdmission) AdmitDelete(ctx context.Context, obj runtime.Object) error {
	m, err := metaOf(obj)
	if err != nil {
		return err
	}
	return a.admit(ctx, webhook.Request{
		Operation: admission.Delete, Namespace: m.GetNamespace(), Name: m.GetName(),
		OldObject: a.withGVK(obj), Options: options(&metav1.DeleteOptions{}, "DeleteOptions"),
	}, mutate|validate)
}

// admit dispatches r to the phases asked for.
func (a *webhookAdmission) admit(ctx context.Context, r webhook.Request, phases int) error {
	d, err := a.s.webhookDispatcher()
	if err != nil {
		return err
	}
	if !d.Active() {
		return nil
	}
	r.Kind, r.Resource = a.d.GVK(), a.d.GroupVersion().WithResource(a.d.Resource)
	if a.d.Group == "" && a.d.Resource == "namespaces" && r.Namespace == "" {
		// A namespace is in itself, as kube-apiserver's request info has it.
		r.Namespace = r.Name
	}
	r.User = requestUser(ctx)
	r.DryRun = genericstore.RequestFrom(ctx).DryRun
	r.Default = a.d.Strategy.Default
	attr := webhook.NewAttributes(r)
	defer a.report(ctx, attr)
	// Mutating policies before mutating webhooks, as kube-apiserver orders
	// the plugins; Mutate runs them a second time when a change must be
	// seen by one that ran before it.
	if plugins := (webhook.MutatingPlugins{Policies: a.mutatingPolicies, Webhooks: a.mutating}); phases&mutate != 0 && (plugins.Policies || plugins.Webhooks) {
		if err := d.Mutate(ctx, attr, plugins); err != nil {
			return err
		}
	}
	if phases&validate == 0 {
		return nil
	}
	// Policies before webhooks, as kube-apiserver orders the plugins.
	if a.policies {
		if err := d.ValidatePolicies(ctx, attr); err != nil {
			return err
		}
	}
	if a.validating {
		return d.Validate(ctx, attr)
	}
	return nil
}

// report hands the client the webhooks' warnings and the audit log
// their annotations.
func (a *webhookAdmission) report(ctx context.Context, attr *webhook.Attributes) {
	// The HTTP layer sends what is recorded in the request's context as
	// Warning headers (k8s.io/apiserver's warning recorder).
	for _, w := range attr.Warnings() {
		warning.AddWarning(ctx, "", w)
	}
	if e := audit.EntryFrom(ctx); e != nil {
		for k, v := range attr.Annotations() {
			e.AddAnnotation(k, v)
		}
	}
}

// withGVK returns obj with its apiVersion and kind set, copying it
// first when they are missing: obj may be the watch cache's.
func (a *webhookAdmission) withGVK(obj runtime.Object) runtime.Object {
	if obj == nil || obj.GetObjectKind().GroupVersionKind() == a.d.GVK() {
		return obj
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(a.d.GVK())
	return obj
}

// options gives a request's options the apiVersion and kind webhooks
// see them with.
func options(obj runtime.Object, kind string) runtime.Object {
	obj.GetObjectKind().SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind(kind))
	return obj
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return m, nil
}

// requestUser is the request's user as admission reviews carry it.
func requestUser(ctx context.Context) user.Info {
	u, ok := authn.UserFrom(ctx)
	if !ok {
		return &user.DefaultInfo{}
	}
	return &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
}

// admitConnect judges a CONNECT of a subresource of d (pods' exec,
// attach, portforward and proxy, services' and nodes' proxy), as upstream
// admits them: the object is the request's options (PodExecOptions,
// ServiceProxyOptions, …) and the kind theirs. Mutating admission sees
// it too, but nothing is stored.
func (s *Server) admitConnect(ctx context.Context, desc *apiresource.Descriptor, namespace, name, subresource string, opts runtime.Object) error {
	on := func(p string) bool { return !slices.Contains(s.cfg.DisableAdmissionPlugins, p) }
	d, err := s.webhookDispatcher()
	if err != nil || !d.Active() {
		return err
	}
	gvks, _, err := s.dynamic.scheme.ObjectKinds(opts)
	if err != nil || len(gvks) == 0 {
		return apierrors.NewInternalError(fmt.Errorf("connect options %T: %v", opts, err))
	}
	opts = opts.DeepCopyObject()
	opts.GetObjectKind().SetGroupVersionKind(gvks[0])
	attr := webhook.NewAttributes(webhook.Request{
		Operation: admission.Connect, Kind: gvks[0], Resource: desc.GroupVersion().WithResource(desc.Resource),
		Subresource: subresource, Namespace: namespace, Name: name, Object: opts, User: requestUser(ctx),
	})
	a := &webhookAdmission{s: s}
	defer a.report(ctx, attr)
	if plugins := (webhook.MutatingPlugins{Policies: on(AdmissionMutatingAdmissionPolicy), Webhooks: on(AdmissionMutatingWebhook)}); plugins.Policies || plugins.Webhooks {
		if err := d.Mutate(ctx, attr, plugins); err != nil {
			return err
		}
	}
	if on(AdmissionValidatingAdmissionPolicy) {
		if err := d.ValidatePolicies(ctx, attr); err != nil {
			return err
		}
	}
	if on(AdmissionValidatingWebhook) {
		return d.Validate(ctx, attr)
	}
	return nil
}
