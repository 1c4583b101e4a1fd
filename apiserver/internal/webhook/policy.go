package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// PolicySource lists the ValidatingAdmissionPolicies and their bindings
// currently stored; the objects are shared with the caches.
type PolicySource interface {
	ValidatingAdmissionPolicies() []*admissionregistrationv1.ValidatingAdmissionPolicy
	ValidatingAdmissionPolicyBindings() []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

// Params reads the parameter objects bindings name, of a policy's
// paramKind.
type Params interface {
	// ParamScope says whether kind is served, and whether it is
	// namespaced.
	ParamScope(kind schema.GroupVersionKind) (served, namespaced bool)
	// Param returns one object; NotFound when there is none.
	Param(ctx context.Context, kind schema.GroupVersionKind, namespace, name string) (runtime.Object, error)
	// ListParams returns the objects selector selects, in namespace ("" for
	// cluster-scoped kinds).
	ListParams(kind schema.GroupVersionKind, namespace string, selector labels.Selector) ([]runtime.Object, error)
}

// compiledCache keeps each policy compiled until it changes (by name and
// resourceVersion): compiling CEL is far costlier than evaluating it.
// The validating and the mutating policies each have one.
type compiledCache[T any] struct {
	mu      sync.Mutex // guards entries
	entries map[string]compiledEntry[T]
}

type compiledEntry[T any] struct {
	resourceVersion string
	compiled        T
}

func newCompiledCache[T any]() *compiledCache[T] {
	return &compiledCache[T]{entries: map[string]compiledEntry[T]{}}
}

// policyCache holds the ValidatingAdmissionPolicies' validators.
type policyCache = compiledCache[validatingpolicy.Validator]

func newPolicyCache() *policyCache { return newCompiledCache[validatingpolicy.Validator]() }

// get returns what compile made of the policy name at resourceVersion,
// compiling it when it is new or changed.
func (c *compiledCache[T]) get(name, resourceVersion string, compile func() T) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[name]; ok && e.resourceVersion == resourceVersion {
		return e.compiled
	}
	v := compile()
	c.entries[name] = compiledEntry[T]{resourceVersion: resourceVersion, compiled: v}
	return v
}

// forget drops the policies no longer stored.
func (c *compiledCache[T]) forget(live map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.entries {
		if !live[name] {
			delete(c.entries, name)
		}
	}
}

// compilePolicy compiles a policy's variables, match conditions,
// validations, messages and audit annotations as upstream's plugin does;
// a policy that does not compile yields a validator that answers with
// the compile error (its failurePolicy decides).
func compilePolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy) validatingpolicy.Validator {
	withParams := p.Spec.ParamKind != nil
	vars := plugincel.OptionalVariableDeclarations{HasParams: withParams, HasAuthorizer: true}
	messageVars := plugincel.OptionalVariableDeclarations{HasParams: withParams}
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		return validatingpolicy.NewValidator(nil, nil, nil, nil, p.Spec.FailurePolicy, err)
	}
	variables := make([]plugincel.NamedExpressionAccessor, len(p.Spec.Variables))
	for i, v := range p.Spec.Variables {
		variables[i] = &validatingpolicy.Variable{Name: v.Name, Expression: v.Expression}
	}
	compiler.CompileAndStoreVariables(variables, vars, environment.StoredExpressions)

	var matcher matchconditions.Matcher
	if len(p.Spec.MatchConditions) > 0 {
		conds := make([]plugincel.ExpressionAccessor, len(p.Spec.MatchConditions))
		for i := range p.Spec.MatchConditions {
			conds[i] = (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i])
		}
		matcher = matchconditions.NewMatcher(compiler.CompileCondition(conds, vars, environment.StoredExpressions), p.Spec.FailurePolicy, "policy", "validate", p.Name)
	}
	validations := make([]plugincel.ExpressionAccessor, len(p.Spec.Validations))
	messages := make([]plugincel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		validations[i] = &validatingpolicy.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		if v.MessageExpression != "" {
			messages[i] = &validatingpolicy.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
	}
	annotations := make([]plugincel.ExpressionAccessor, len(p.Spec.AuditAnnotations))
	for i, a := range p.Spec.AuditAnnotations {
		annotations[i] = &validatingpolicy.AuditAnnotationCondition{Key: a.Key, ValueExpression: a.ValueExpression}
	}
	return validatingpolicy.NewValidator(
		compiler.CompileCondition(validations, vars, environment.StoredExpressions),
		matcher,
		compiler.CompileCondition(annotations, vars, environment.StoredExpressions),
		compiler.CompileCondition(messages, messageVars, environment.StoredExpressions),
		p.Spec.FailurePolicy, nil)
}

// matchResources is a policy's or a binding's match resources as the
// selectors see them.
type matchResources struct {
	m *admissionregistrationv1.MatchResources
}

func (r matchResources) GetParsedNamespaceSelector() (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(r.m.NamespaceSelector)
}

func (r matchResources) GetParsedObjectSelector() (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(r.m.ObjectSelector)
}

// matchPolicyResources decides whether m selects the request, as
// upstream's policy matcher: selectors, excluded rules, then resource
// rules (with resource names and matchPolicy Equivalent). It returns the
// resource and kind the matching rule names. No resource rules select
// every request (bindings may leave them out).
func (d *Dispatcher) matchPolicyResources(ctx context.Context, m *admissionregistrationv1.MatchResources, attr admission.Attributes) (bool, schema.GroupVersionResource, schema.GroupVersionKind, error) {
	none := func(err error) (bool, schema.GroupVersionResource, schema.GroupVersionKind, error) {
		return false, schema.GroupVersionResource{}, schema.GroupVersionKind{}, err
	}
	if m.NamespaceSelector == nil || m.ObjectSelector == nil {
		return none(errors.New("a nil selector")) // defaulting makes both
	}
	sel := matchResources{m}
	nsMatch, nsErr := matchNamespace(ctx, d.namespaces, sel, attr)
	if !nsMatch && nsErr == nil {
		return none(nil)
	}
	objMatch, objErr := matchObject(sel, attr)
	if !objMatch && objErr == nil {
		return none(nil)
	}
	if excluded, _, _, err := d.matchNamedRules(m.ExcludeResourceRules, m.MatchPolicy, attr); excluded || err != nil {
		return none(err)
	}
	matched, resource, kind := true, attr.GetResource(), attr.GetKind()
	if len(m.ResourceRules) > 0 {
		var err error
		if matched, resource, kind, err = d.matchNamedRules(m.ResourceRules, m.MatchPolicy, attr); err != nil {
			return none(err)
		}
	}
	if !matched {
		return none(nil)
	}
	if nsErr != nil {
		return none(nsErr)
	}
	if objErr != nil {
		return none(objErr)
	}
	return true, resource, kind, nil
}

func (d *Dispatcher) matchNamedRules(named []admissionregistrationv1.NamedRuleWithOperations, policy *admissionregistrationv1.MatchPolicyType,
	attr admission.Attributes) (bool, schema.GroupVersionResource, schema.GroupVersionKind, error) {
	named1 := func(r admissionregistrationv1.NamedRuleWithOperations, a admission.Attributes) bool {
		return (&rules.Matcher{Rule: r.RuleWithOperations, Attr: a}).Matches() &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, attr.GetName()))
	}
	for _, r := range named {
		if named1(r, attr) {
			return true, attr.GetResource(), attr.GetKind(), nil
		}
	}
	if policy == nil || *policy != admissionregistrationv1.Equivalent || d.interfaces == nil {
		return false, schema.GroupVersionResource{}, schema.GroupVersionKind{}, nil
	}
	mapper := d.interfaces.GetEquivalentResourceMapper()
	for _, r := range named {
		for _, eq := range mapper.EquivalentResourcesFor(attr.GetResource(), attr.GetSubresource()) {
			if eq == attr.GetResource() || !named1(r, resourceOverride{attr, eq}) {
				continue
			}
			kind := mapper.KindFor(eq, attr.GetSubresource())
			if kind.Empty() {
				return false, schema.GroupVersionResource{}, schema.GroupVersionKind{}, fmt.Errorf("unable to convert to %v: unknown kind", eq)
			}
			return true, eq, kind, nil
		}
	}
	return false, schema.GroupVersionResource{}, schema.GroupVersionKind{}, nil
}

// policyDenial is a decision to refuse the request, with what it came from.
type policyDenial struct {
	policy  string
	binding string // "" for a policy's own configuration error
	message string
	reason  metav1.StatusReason
}

// ValidatePolicies evaluates the ValidatingAdmissionPolicies that select
// the request, once per matching binding and parameter, as upstream's
// ValidatingAdmissionPolicy plugin: a failed validation is denied, warned
// or recorded for audit as the binding's validationActions say; an error
// follows the policy's failurePolicy.
func (d *Dispatcher) ValidatePolicies(ctx context.Context, attr *Attributes) error {
	if d.policies == nil || exempt(attr) {
		return nil
	}
	policies := d.policies.ValidatingAdmissionPolicies()
	if len(policies) == 0 {
		d.compiledPolicies.forget(nil)
		return nil
	}
	bindings := map[string][]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	for _, b := range d.policies.ValidatingAdmissionPolicyBindings() {
		bindings[b.Spec.PolicyName] = append(bindings[b.Spec.PolicyName], b)
	}
	policies = slices.Clone(policies)
	slices.SortFunc(policies, func(a, b *admissionregistrationv1.ValidatingAdmissionPolicy) int {
		return strings.Compare(a.Name, b.Name)
	})
	live := map[string]bool{}
	var denials []policyDenial
	var failures []validationFailure
	versions := map[schema.GroupVersionKind]*admission.VersionedAttributes{}
	for _, p := range policies {
		live[p.Name] = true
		if len(bindings[p.Name]) == 0 {
			continue // an unbound policy does nothing, and costs no compiling
		}
		configError := func(err error, binding string) {
			if ptrDeref(p.Spec.FailurePolicy) == admissionregistrationv1.Ignore {
				return
			}
			what := "policy"
			if binding != "" {
				what = "binding"
			}
			denials = append(denials, policyDenial{policy: p.Name, binding: binding, message: fmt.Sprintf("failed to configure %s: %v", what, err)})
		}
		if p.Spec.MatchConstraints == nil {
			continue
		}
		matches, resource, kind, err := d.matchPolicyResources(ctx, p.Spec.MatchConstraints, attr)
		if err != nil {
			configError(err, "")
			continue
		}
		if !matches {
			continue
		}
		validator := d.compiledPolicies.get(p.Name, p.ResourceVersion, func() validatingpolicy.Validator { return compilePolicy(p) })
		annotations := map[string][]string{}
		for _, b := range bindings[p.Name] {
			if b.Spec.MatchResources != nil {
				ok, _, _, err := d.matchPolicyResources(ctx, b.Spec.MatchResources, attr)
				if err != nil {
					configError(err, b.Name)
					continue
				}
				if !ok {
					continue
				}
			}
			params, err := d.collectParams(ctx, p.Spec.ParamKind, b.Spec.ParamRef, attr.GetNamespace())
			if err != nil {
				configError(err, b.Name)
				continue
			}
			va := versions[kind]
			if va == nil {
				if va, err = admission.NewVersionedAttributes(attr, kind, d.interfaces); err != nil {
					configError(fmt.Errorf("failed to convert object version: %w", err), b.Name)
					continue
				}
				versions[kind] = va
			}
			var namespace *corev1.Namespace
			if gvk := attr.GetKind(); !(gvk.Group == "" && gvk.Version == "v1" && gvk.Kind == "Namespace") && attr.GetNamespace() != "" {
				// The namespace exists: the request got this far.
				if namespace, err = d.namespaces.Namespace(ctx, attr.GetNamespace()); err != nil {
					return err
				}
			}
			for _, param := range params {
				result := validator.Validate(ctx, resource, va, param, namespace, celconfig.RuntimeCELCostBudget, d.authz)
				for i, decision := range result.Decisions {
					if decision.Action != validatingpolicy.ActionDeny {
						continue
					}
					for _, action := range b.Spec.ValidationActions {
						switch action {
						case admissionregistrationv1.Deny:
							denials = append(denials, policyDenial{policy: p.Name, binding: b.Name, message: decision.Message, reason: decision.Reason})
						case admissionregistrationv1.Warn:
							attr.AddWarning(fmt.Sprintf("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", p.Name, b.Name, decision.Message))
						case admissionregistrationv1.Audit:
							failures = append(failures, validationFailure{Message: decision.Message, Policy: p.Name, Binding: b.Name,
								ExpressionIndex: i, ValidationActions: b.Spec.ValidationActions})
						}
					}
				}
				for _, a := range result.AuditAnnotations {
					switch a.Action {
					case validatingpolicy.AuditAnnotationActionPublish:
						value := a.Value
						if len(value) > maxAuditAnnotationValueLength {
							value = value[:maxAuditAnnotationValueLength]
						}
						if !slices.Contains(annotations[a.Key], value) {
							annotations[a.Key] = append(annotations[a.Key], value)
						}
					case validatingpolicy.AuditAnnotationActionError:
						denials = append(denials, policyDenial{policy: p.Name, binding: b.Name, message: a.Error})
					}
				}
			}
		}
		for key, values := range annotations {
			_ = attr.AddAnnotation(p.Name+"/"+key, strings.Join(values, ", "))
		}
	}
	d.compiledPolicies.forget(live)
	if len(failures) > 0 {
		if len(failures) > maxValidationFailures {
			failures = failures[:maxValidationFailures]
		}
		if value, err := json.Marshal(failures); err == nil {
			_ = attr.AddAnnotation("validation.policy.admission.k8s.io/validation_failure", string(value))
		}
	}
	if len(denials) == 0 {
		return nil
	}
	return denialError(attr, denials[0])
}

const (
	maxAuditAnnotationValueLength = 10 * 1024
	maxValidationFailures         = 50
)

// validationFailure is one entry of the validation_failure audit
// annotation, as upstream writes it.
type validationFailure struct {
	Message           string                                     `json:"message"`
	Policy            string                                     `json:"policy"`
	Binding           string                                     `json:"binding"`
	ExpressionIndex   int                                        `json:"expressionIndex"`
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
}

// denialError is upstream's answer to a denied request: a Forbidden
// naming the object, with the validation's reason (Invalid, 422, by
// default) and its code.
func denialError(attr admission.Attributes, d policyDenial) error {
	message := fmt.Sprintf("ValidatingAdmissionPolicy '%s' denied request: %s", d.policy, d.message)
	if d.binding != "" {
		message = fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", d.policy, d.binding, d.message)
	}
	var status *apierrors.StatusError
	if !errors.As(admission.NewForbidden(attr, errors.New(message)), &status) {
		return apierrors.NewInvalid(attr.GetKind().GroupKind(), attr.GetName(), nil)
	}
	reason := d.reason
	if reason == "" {
		reason = metav1.StatusReasonInvalid
	}
	status.ErrStatus.Reason = reason
	status.ErrStatus.Code = reasonCode(reason)
	if status.ErrStatus.Details == nil {
		status.ErrStatus.Details = &metav1.StatusDetails{}
	}
	status.ErrStatus.Details.Causes = append(status.ErrStatus.Details.Causes, metav1.StatusCause{Message: message})
	return status
}

func reasonCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonForbidden:
		return 403
	case metav1.StatusReasonUnauthorized:
		return 401
	case metav1.StatusReasonRequestEntityTooLarge:
		return 413
	default:
		return 422
	}
}

// collectParams finds the parameter objects a binding names, as
// upstream's CollectParams: one nil parameter when the policy takes none
// or the binding gives no paramRef.
func (d *Dispatcher) collectParams(ctx context.Context, kind *admissionregistrationv1.ParamKind, ref *admissionregistrationv1.ParamRef, namespace string) ([]runtime.Object, error) {
	if kind == nil || ref == nil {
		return []runtime.Object{nil}, nil
	}
	gv, err := schema.ParseGroupVersion(kind.APIVersion)
	if err != nil {
		return nil, err
	}
	gvk := gv.WithKind(kind.Kind)
	if d.params == nil {
		return nil, fmt.Errorf("paramKind kind `%v` not known", kind.String())
	}
	served, namespaced := d.params.ParamScope(gvk)
	if !served {
		return nil, fmt.Errorf("paramKind kind `%v` not known", kind.String())
	}
	paramsNamespace := ""
	if namespaced {
		paramsNamespace = namespace
		if ref.Namespace != "" {
			paramsNamespace = ref.Namespace
		} else if paramsNamespace == "" {
			return nil, fmt.Errorf("cannot use namespaced paramRef in policy binding that matches cluster-scoped resources")
		}
	} else if ref.Namespace != "" {
		return nil, fmt.Errorf("paramRef.namespace must not be provided for a cluster-scoped `paramKind`")
	}
	var params []runtime.Object
	switch {
	case ref.Name != "":
		p, err := d.params.Param(ctx, gvk, paramsNamespace, ref.Name)
		switch {
		case err == nil:
			params = []runtime.Object{p}
		case !apierrors.IsNotFound(err):
			return nil, err
		}
	case ref.Selector != nil:
		selector, err := metav1.LabelSelectorAsSelector(ref.Selector)
		if err != nil {
			return nil, err
		}
		if params, err = d.params.ListParams(gvk, paramsNamespace, selector); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("one of name or selector must be provided")
	}
	if len(params) == 0 && ref.ParameterNotFoundAction != nil && *ref.ParameterNotFoundAction == admissionregistrationv1.DenyAction {
		return nil, errors.New("no params found for policy binding with `Deny` parameterNotFoundAction")
	}
	// CEL reads params.apiVersion and params.kind: make sure they are set.
	for i, p := range params {
		if p != nil && p.GetObjectKind().GroupVersionKind().Empty() {
			p = p.DeepCopyObject()
			p.GetObjectKind().SetGroupVersionKind(gvk)
			params[i] = p
		}
	}
	return params, nil
}

func ptrDeref(p *admissionregistrationv1.FailurePolicyType) admissionregistrationv1.FailurePolicyType {
	if p == nil {
		return admissionregistrationv1.Fail
	}
	return *p
}
