package admissionregistration

import (
	"fmt"
	"reflect"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	webhookutil "k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// validatingWebhookStrategy defaults and validates
// ValidatingWebhookConfigurations as Kubernetes' v1 defaults and
// pkg/apis/admissionregistration/validation do.
type validatingWebhookStrategy struct{ apiresource.DefaultStrategy }

func (validatingWebhookStrategy) Default(obj runtime.Object) {
	c := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration)
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		defaultHook(&h.FailurePolicy, &h.MatchPolicy, &h.NamespaceSelector, &h.ObjectSelector, &h.TimeoutSeconds)
		defaultRules(h.Rules)
		defaultClientConfig(&h.ClientConfig)
	}
}

// PrepareForUpdate bumps the generation when the webhooks change: the
// configuration has no spec for the store to watch.
func (validatingWebhookStrategy) PrepareForUpdate(obj, old runtime.Object) {
	c, was := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration), old.(*admissionregistrationv1.ValidatingWebhookConfiguration)
	if !reflect.DeepEqual(c.Webhooks, was.Webhooks) {
		c.Generation = was.Generation + 1
	}
}

func (validatingWebhookStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateValidatingWebhooks(obj.(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks, strictWebhookOptions())
}

// ValidateUpdate is as lenient as the old object needs: a configuration
// stored before a rule tightened is not refused for keeping what it had,
// as upstream's update validation.
func (validatingWebhookStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	c, was := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration), old.(*admissionregistrationv1.ValidatingWebhookConfiguration)
	opts := webhookOptions{
		ignoreMatchConditions:          validatingMatchConditionsUnchanged(c.Webhooks, was.Webhooks),
		requireNoSideEffects:           true,
		requireRecognizedReviewVersion: true,
		requireUniqueNames:             true,
	}
	var hooks []hookCommon
	for _, h := range was.Webhooks {
		hooks = append(hooks, hookCommon{h.Name, h.SideEffects, h.AdmissionReviewVersions, h.NamespaceSelector, h.ObjectSelector})
	}
	opts.relaxFor(hooks)
	return validateValidatingWebhooks(c.Webhooks, opts)
}

// mutatingWebhookStrategy defaults and validates
// MutatingWebhookConfigurations.
type mutatingWebhookStrategy struct{ apiresource.DefaultStrategy }

func (mutatingWebhookStrategy) Default(obj runtime.Object) {
	c := obj.(*admissionregistrationv1.MutatingWebhookConfiguration)
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		defaultHook(&h.FailurePolicy, &h.MatchPolicy, &h.NamespaceSelector, &h.ObjectSelector, &h.TimeoutSeconds)
		if h.ReinvocationPolicy == nil {
			h.ReinvocationPolicy = ptr.To(admissionregistrationv1.NeverReinvocationPolicy)
		}
		defaultRules(h.Rules)
		defaultClientConfig(&h.ClientConfig)
	}
}

func (mutatingWebhookStrategy) PrepareForUpdate(obj, old runtime.Object) {
	c, was := obj.(*admissionregistrationv1.MutatingWebhookConfiguration), old.(*admissionregistrationv1.MutatingWebhookConfiguration)
	if !reflect.DeepEqual(c.Webhooks, was.Webhooks) {
		c.Generation = was.Generation + 1
	}
}

func (mutatingWebhookStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateMutatingWebhooks(obj.(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks, strictWebhookOptions())
}

func (mutatingWebhookStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	c, was := obj.(*admissionregistrationv1.MutatingWebhookConfiguration), old.(*admissionregistrationv1.MutatingWebhookConfiguration)
	opts := webhookOptions{
		ignoreMatchConditions:          mutatingMatchConditionsUnchanged(c.Webhooks, was.Webhooks),
		requireNoSideEffects:           true,
		requireRecognizedReviewVersion: true,
		requireUniqueNames:             true,
	}
	var hooks []hookCommon
	for _, h := range was.Webhooks {
		hooks = append(hooks, hookCommon{h.Name, h.SideEffects, h.AdmissionReviewVersions, h.NamespaceSelector, h.ObjectSelector})
	}
	opts.relaxFor(hooks)
	return validateMutatingWebhooks(c.Webhooks, opts)
}

// defaultHook fills what both kinds of webhook default alike.
func defaultHook(failure **admissionregistrationv1.FailurePolicyType, match **admissionregistrationv1.MatchPolicyType,
	nsSel, objSel **metav1.LabelSelector, timeout **int32) {
	if *failure == nil {
		*failure = ptr.To(admissionregistrationv1.Fail)
	}
	if *match == nil {
		*match = ptr.To(admissionregistrationv1.Equivalent)
	}
	if *nsSel == nil {
		*nsSel = &metav1.LabelSelector{}
	}
	if *objSel == nil {
		*objSel = &metav1.LabelSelector{}
	}
	if *timeout == nil {
		*timeout = ptr.To[int32](10)
	}
}

func defaultRules(rules []admissionregistrationv1.RuleWithOperations) {
	for i := range rules {
		if rules[i].Scope == nil {
			rules[i].Scope = ptr.To(admissionregistrationv1.AllScopes)
		}
	}
}

func defaultClientConfig(cc *admissionregistrationv1.WebhookClientConfig) {
	if cc.Service != nil && cc.Service.Port == nil {
		cc.Service.Port = ptr.To[int32](443)
	}
}

// acceptedReviewVersions are the AdmissionReview versions the apiserver
// can send.
var acceptedReviewVersions = []string{"v1", "v1beta1"}

// webhookOptions are the rules that tighten over time and so are relaxed
// on update for a configuration that already breaks them.
type webhookOptions struct {
	ignoreMatchConditions          bool
	requireNoSideEffects           bool
	requireRecognizedReviewVersion bool
	requireUniqueNames             bool
	allowInvalidLabelValues        bool
}

func strictWebhookOptions() webhookOptions {
	return webhookOptions{requireNoSideEffects: true, requireRecognizedReviewVersion: true, requireUniqueNames: true}
}

// hookCommon is what the relaxed rules read of an old webhook of either
// kind.
type hookCommon struct {
	name           string
	sideEffects    *admissionregistrationv1.SideEffectClass
	reviewVersions []string
	nsSel, objSel  *metav1.LabelSelector
}

// relaxFor relaxes the rules old already breaks.
func (o *webhookOptions) relaxFor(old []hookCommon) {
	names := sets.New[string]()
	for _, h := range old {
		if h.sideEffects == nil || !noSideEffectClasses.Has(string(*h.sideEffects)) {
			o.requireNoSideEffects = false
		}
		if len(h.reviewVersions) > 0 && !sets.New(h.reviewVersions...).HasAny(acceptedReviewVersions...) {
			o.requireRecognizedReviewVersion = false
		}
		if names.Has(h.name) {
			o.requireUniqueNames = false
		}
		names.Insert(h.name)
		for _, sel := range []*metav1.LabelSelector{h.nsSel, h.objSel} {
			if sel != nil && len(metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, nil)) > 0 {
				o.allowInvalidLabelValues = true
			}
		}
	}
}

var (
	supportedFailurePolicies = sets.New(string(admissionregistrationv1.Ignore), string(admissionregistrationv1.Fail))
	supportedMatchPolicies   = sets.New(string(admissionregistrationv1.Exact), string(admissionregistrationv1.Equivalent))
	supportedSideEffects     = sets.New(string(admissionregistrationv1.SideEffectClassUnknown), string(admissionregistrationv1.SideEffectClassNone),
		string(admissionregistrationv1.SideEffectClassSome), string(admissionregistrationv1.SideEffectClassNoneOnDryRun))
	noSideEffectClasses = sets.New(string(admissionregistrationv1.SideEffectClassNone), string(admissionregistrationv1.SideEffectClassNoneOnDryRun))
	supportedOperations = sets.New(string(admissionregistrationv1.OperationAll), string(admissionregistrationv1.Create),
		string(admissionregistrationv1.Update), string(admissionregistrationv1.Delete), string(admissionregistrationv1.Connect))
	supportedReinvocationPolicies = sets.New(string(admissionregistrationv1.NeverReinvocationPolicy), string(admissionregistrationv1.IfNeededReinvocationPolicy))
	supportedScopes               = sets.New(string(admissionregistrationv1.ClusterScope), string(admissionregistrationv1.NamespacedScope), string(admissionregistrationv1.AllScopes))
)

func validateValidatingWebhooks(hooks []admissionregistrationv1.ValidatingWebhook, opts webhookOptions) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range hooks {
		h := &hooks[i]
		path := field.NewPath("webhooks").Index(i)
		errs = append(errs, validateHook(hookFields{
			name: h.Name, rules: h.Rules, failure: h.FailurePolicy, match: h.MatchPolicy, sideEffects: h.SideEffects,
			timeout: h.TimeoutSeconds, nsSel: h.NamespaceSelector, objSel: h.ObjectSelector, clientConfig: h.ClientConfig,
			matchConditions: h.MatchConditions,
		}, opts, path)...)
		errs = append(errs, validateReviewVersions(h.AdmissionReviewVersions, opts.requireRecognizedReviewVersion, path.Child("admissionReviewVersions"))...)
		errs = append(errs, uniqueName(names, h.Name, opts, path)...)
	}
	return errs
}

func validateMutatingWebhooks(hooks []admissionregistrationv1.MutatingWebhook, opts webhookOptions) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range hooks {
		h := &hooks[i]
		path := field.NewPath("webhooks").Index(i)
		errs = append(errs, validateHook(hookFields{
			name: h.Name, rules: h.Rules, failure: h.FailurePolicy, match: h.MatchPolicy, sideEffects: h.SideEffects,
			timeout: h.TimeoutSeconds, nsSel: h.NamespaceSelector, objSel: h.ObjectSelector, clientConfig: h.ClientConfig,
			matchConditions: h.MatchConditions, reinvocation: h.ReinvocationPolicy,
		}, opts, path)...)
		errs = append(errs, validateReviewVersions(h.AdmissionReviewVersions, opts.requireRecognizedReviewVersion, path.Child("admissionReviewVersions"))...)
		errs = append(errs, uniqueName(names, h.Name, opts, path)...)
	}
	return errs
}

func uniqueName(seen sets.Set[string], name string, opts webhookOptions, path *field.Path) field.ErrorList {
	if !opts.requireUniqueNames || name == "" {
		return nil
	}
	if seen.Has(name) {
		return field.ErrorList{field.Duplicate(path.Child("name"), name)}
	}
	seen.Insert(name)
	return nil
}

// hookFields are the fields of a webhook of either kind, in the order
// upstream validates them.
type hookFields struct {
	name            string
	rules           []admissionregistrationv1.RuleWithOperations
	failure         *admissionregistrationv1.FailurePolicyType
	match           *admissionregistrationv1.MatchPolicyType
	sideEffects     *admissionregistrationv1.SideEffectClass
	timeout         *int32
	nsSel, objSel   *metav1.LabelSelector
	reinvocation    *admissionregistrationv1.ReinvocationPolicyType
	clientConfig    admissionregistrationv1.WebhookClientConfig
	matchConditions []admissionregistrationv1.MatchCondition
}

func validateHook(h hookFields, opts webhookOptions, path *field.Path) field.ErrorList {
	errs := utilvalidation.IsFullyQualifiedName(path.Child("name"), h.name)
	for i := range h.rules {
		errs = append(errs, validateRuleWithOperations(&h.rules[i], path.Child("rules").Index(i))...)
	}
	if h.failure != nil && !supportedFailurePolicies.Has(string(*h.failure)) {
		errs = append(errs, field.NotSupported(path.Child("failurePolicy"), *h.failure, sets.List(supportedFailurePolicies)))
	}
	if h.match != nil && !supportedMatchPolicies.Has(string(*h.match)) {
		errs = append(errs, field.NotSupported(path.Child("matchPolicy"), *h.match, sets.List(supportedMatchPolicies)))
	}
	allowed := supportedSideEffects
	if opts.requireNoSideEffects {
		allowed = noSideEffectClasses
	}
	if h.sideEffects == nil {
		errs = append(errs, field.Required(path.Child("sideEffects"), fmt.Sprintf("must specify one of %v", strings.Join(sets.List(allowed), ", "))))
	} else if !allowed.Has(string(*h.sideEffects)) {
		errs = append(errs, field.NotSupported(path.Child("sideEffects"), *h.sideEffects, sets.List(allowed)))
	}
	if h.timeout != nil && (*h.timeout > 30 || *h.timeout < 1) {
		errs = append(errs, field.Invalid(path.Child("timeoutSeconds"), *h.timeout, "the timeout value must be between 1 and 30 seconds"))
	}
	selOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValues}
	if h.nsSel != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(h.nsSel, selOpts, path.Child("namespaceSelector"))...)
	}
	if h.objSel != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(h.objSel, selOpts, path.Child("objectSelector"))...)
	}
	if h.reinvocation != nil && !supportedReinvocationPolicies.Has(string(*h.reinvocation)) {
		errs = append(errs, field.NotSupported(path.Child("reinvocationPolicy"), *h.reinvocation, sets.List(supportedReinvocationPolicies)))
	}
	errs = append(errs, validateClientConfig(h.clientConfig, path.Child("clientConfig"))...)
	if !opts.ignoreMatchConditions {
		errs = append(errs, validateMatchConditions(h.matchConditions, false, path.Child("matchConditions"))...)
	}
	return errs
}

func validateClientConfig(cc admissionregistrationv1.WebhookClientConfig, path *field.Path) field.ErrorList {
	switch {
	case (cc.URL == nil) == (cc.Service == nil):
		return field.ErrorList{field.Required(path, "exactly one of url or service is required")}
	case cc.URL != nil:
		return webhookutil.ValidateWebhookURL(path.Child("url"), *cc.URL, true)
	default:
		return webhookutil.ValidateWebhookService(path.Child("service"), cc.Service.Name, cc.Service.Namespace, cc.Service.Path, ptr.Deref(cc.Service.Port, 443))
	}
}

func validateReviewVersions(versions []string, requireRecognized bool, path *field.Path) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(path, fmt.Sprintf("must specify one of %v", strings.Join(acceptedReviewVersions, ", ")))}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	recognized := false
	for i, v := range versions {
		if seen.Has(v) {
			errs = append(errs, field.Invalid(path.Index(i), v, "duplicate version"))
			continue
		}
		seen.Insert(v)
		for _, msg := range utilvalidation.IsDNS1035Label(v) {
			errs = append(errs, field.Invalid(path.Index(i), v, msg))
		}
		if sets.New(acceptedReviewVersions...).Has(v) {
			recognized = true
		}
	}
	if requireRecognized && !recognized {
		errs = append(errs, field.Invalid(path, versions, fmt.Sprintf("must include at least one of %v", strings.Join(acceptedReviewVersions, ", "))))
	}
	return errs
}

func validateRuleWithOperations(r *admissionregistrationv1.RuleWithOperations, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	ops := path.Child("operations")
	if len(r.Operations) == 0 {
		errs = append(errs, field.Required(ops, ""))
	}
	if len(r.Operations) > 1 && hasWildcard(r.Operations) {
		errs = append(errs, field.Invalid(ops, r.Operations, "if '*' is present, must not specify other operations"))
	}
	for i, op := range r.Operations {
		if !supportedOperations.Has(string(op)) {
			errs = append(errs, field.NotSupported(ops.Index(i), op, sets.List(supportedOperations)))
		}
	}
	return append(errs, validateRule(&r.Rule, path)...)
}

func validateRule(r *admissionregistrationv1.Rule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(path.Child("apiGroups"), ""))
	}
	if len(r.APIGroups) > 1 && hasWildcard(r.APIGroups) {
		errs = append(errs, field.Invalid(path.Child("apiGroups"), r.APIGroups, "if '*' is present, must not specify other API groups"))
	}
	// The group may be empty (the core group); a version may not.
	if len(r.APIVersions) == 0 {
		errs = append(errs, field.Required(path.Child("apiVersions"), ""))
	}
	if len(r.APIVersions) > 1 && hasWildcard(r.APIVersions) {
		errs = append(errs, field.Invalid(path.Child("apiVersions"), r.APIVersions, "if '*' is present, must not specify other API versions"))
	}
	for i, v := range r.APIVersions {
		if v == "" {
			errs = append(errs, field.Required(path.Child("apiVersions").Index(i), ""))
		}
	}
	errs = append(errs, validateResources(r.Resources, path.Child("resources"))...)
	if r.Scope != nil && !supportedScopes.Has(string(*r.Scope)) {
		errs = append(errs, field.NotSupported(path.Child("scope"), *r.Scope, sets.List(supportedScopes)))
	}
	return errs
}

// validateResources checks resource names with their subresource forms:
// "*", "pods", "pods/*", "*/status", "*/*", refusing the combinations that
// say one thing twice.
func validateResources(resources []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(resources) == 0 {
		errs = append(errs, field.Required(path, ""))
	}
	withWildcardSub := sets.New[string]() // x/*
	subOfWildcard := sets.New[string]()   // */x
	doubleWildcard, singleWildcard, plain := false, false, false
	for i, resSub := range resources {
		if resSub == "" {
			errs = append(errs, field.Required(path.Index(i), ""))
			continue
		}
		if resSub == "*/*" {
			doubleWildcard = true
		}
		if resSub == "*" {
			singleWildcard = true
		}
		res, sub, ok := strings.Cut(resSub, "/")
		if !ok {
			plain = resSub != "*"
			continue
		}
		if withWildcardSub.Has(res) {
			errs = append(errs, field.Invalid(path.Index(i), resSub, fmt.Sprintf("if '%s/*' is present, must not specify %s", res, resSub)))
		}
		if subOfWildcard.Has(sub) {
			errs = append(errs, field.Invalid(path.Index(i), resSub, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, resSub)))
		}
		if sub == "*" {
			withWildcardSub.Insert(res)
		}
		if res == "*" {
			subOfWildcard.Insert(sub)
		}
	}
	if len(resources) > 1 && doubleWildcard {
		errs = append(errs, field.Invalid(path, resources, "if '*/*' is present, must not specify other resources"))
	}
	if singleWildcard && plain {
		errs = append(errs, field.Invalid(path, resources, "if '*' is present, must not specify other resources without subresources"))
	}
	return errs
}

func hasWildcard[S ~string](items []S) bool {
	for _, s := range items {
		if s == "*" {
			return true
		}
	}
	return false
}

func validatingMatchConditionsUnchanged(hooks, old []admissionregistrationv1.ValidatingWebhook) bool {
	if len(hooks) != len(old) {
		return false
	}
	for i := range old {
		if !reflect.DeepEqual(hooks[i].MatchConditions, old[i].MatchConditions) {
			return false
		}
	}
	return true
}

func mutatingMatchConditionsUnchanged(hooks, old []admissionregistrationv1.MutatingWebhook) bool {
	if len(hooks) != len(old) {
		return false
	}
	for i := range old {
		if !reflect.DeepEqual(hooks[i].MatchConditions, old[i].MatchConditions) {
			return false
		}
	}
	return true
}
