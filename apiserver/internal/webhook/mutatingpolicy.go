package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apiserver/pkg/admission"
	admissionauthorizer "k8s.io/apiserver/pkg/admission/plugin/authorizer"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
)

// MutatingPolicySource lists the MutatingAdmissionPolicies and their
// bindings currently stored; the objects are shared with the caches.
type MutatingPolicySource interface {
	MutatingAdmissionPolicies() []*admissionregistrationv1.MutatingAdmissionPolicy
	MutatingAdmissionPolicyBindings() []*admissionregistrationv1.MutatingAdmissionPolicyBinding
}

// TypeConverters give the structured-merge-diff schema of a served kind,
// which ApplyConfiguration mutations merge with (as server-side apply
// does); nil for a kind without one.
type TypeConverters interface {
	TypeConverter(kind schema.GroupVersionKind) managedfields.TypeConverter
}

// mutatingPolicyCache holds the MutatingAdmissionPolicies' evaluators.
type mutatingPolicyCache = compiledCache[mutatingpolicy.PolicyEvaluator]

func newMutatingPolicyCache() *mutatingPolicyCache {
	return newCompiledCache[mutatingpolicy.PolicyEvaluator]()
}

// compileMutatingPolicy compiles a policy's variables, match conditions
// and mutations as upstream's plugin does, into k8s.io/apiserver's
// evaluator: one patcher per mutation, in order. An expression that does
// not compile makes its patcher fail when called (the failurePolicy
// decides), not the compiling.
func compileMutatingPolicy(p *admissionregistrationv1.MutatingAdmissionPolicy) mutatingpolicy.PolicyEvaluator {
	vars := plugincel.OptionalVariableDeclarations{HasParams: p.Spec.ParamKind != nil, HasAuthorizer: true}
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		return mutatingpolicy.PolicyEvaluator{Error: fmt.Errorf("failed to initialize CEL compiler: %w", err)}
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
	patchVars := vars
	patchVars.HasPatchTypes = true
	patchers := make([]patch.Patcher, 0, len(p.Spec.Mutations))
	for _, m := range p.Spec.Mutations {
		switch {
		case m.PatchType == admissionregistrationv1.PatchTypeJSONPatch && m.JSONPatch != nil:
			patchers = append(patchers, patch.NewJSONPatcher(compiler.CompileMutatingEvaluator(
				&patch.JSONPatchCondition{Expression: m.JSONPatch.Expression}, patchVars, environment.StoredExpressions)))
		case m.PatchType == admissionregistrationv1.PatchTypeApplyConfiguration && m.ApplyConfiguration != nil:
			patchers = append(patchers, patch.NewApplyConfigurationPatcher(compiler.CompileMutatingEvaluator(
				&patch.ApplyConfigurationCondition{Expression: m.ApplyConfiguration.Expression}, patchVars, environment.StoredExpressions)))
		}
	}
	return mutatingpolicy.PolicyEvaluator{Matcher: matcher, Mutators: patchers, CompositedCompiler: compiler}
}

// mutatingInvocation is one policy applied through one binding with one
// parameter, to the request seen as kind.
type mutatingInvocation struct {
	policy    *admissionregistrationv1.MutatingAdmissionPolicy
	binding   *admissionregistrationv1.MutatingAdmissionPolicyBinding
	evaluator mutatingpolicy.PolicyEvaluator
	resource  schema.GroupVersionResource
	kind      schema.GroupVersionKind
	param     runtime.Object
}

// invocationKey names an invocation across the two passes, for
// reinvocation.
type invocationKey struct {
	policy, binding string
	param           types.NamespacedName
}

func (i mutatingInvocation) key() invocationKey {
	k := invocationKey{policy: i.policy.Name, binding: i.binding.Name}
	if m, err := meta.Accessor(i.param); i.param != nil && err == nil {
		k.param = types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}
	}
	return k
}

// mutatingPolicyError is a policy's failure to mutate, or to be
// configured, as upstream's PolicyError.
type mutatingPolicyError struct {
	policy  *admissionregistrationv1.MutatingAdmissionPolicy
	binding string // "" for a policy's own configuration error
	err     error
	reason  metav1.StatusReason
}

func (e mutatingPolicyError) Error() string {
	if e.binding != "" {
		return fmt.Sprintf("policy '%s' with binding '%s' denied request: %s", e.policy.Name, e.binding, e.err.Error())
	}
	return fmt.Sprintf("policy %q denied request: %s", e.policy.Name, e.err.Error())
}

// MutatePolicies is one pass of the MutatingAdmissionPolicies, as
// upstream's MutatingAdmissionPolicy plugin: every policy whose
// matchConstraints select the request is applied once per matching
// binding and parameter, by name order, its mutations one after another
// (ApplyConfiguration merged as server-side apply merges, JSONPatch
// applied as such), each seeing the object as the ones before left it,
// and the result changes the request's object in place. A failure to
// configure or to mutate follows the policy's failurePolicy. In the
// second pass of Mutate only the invocations to be reinvoked run.
// DELETE requests have no object to mutate and are not seen.
func (d *Dispatcher) MutatePolicies(ctx context.Context, attr *Attributes) error {
	if d.mutatingPolicies == nil || exempt(attr) || attr.GetOperation() == admission.Delete {
		return nil
	}
	policies := d.mutatingPolicies.MutatingAdmissionPolicies()
	if len(policies) == 0 {
		d.compiledMutations.forget(nil)
		return nil
	}
	bindings := map[string][]*admissionregistrationv1.MutatingAdmissionPolicyBinding{}
	for _, b := range d.mutatingPolicies.MutatingAdmissionPolicyBindings() {
		bindings[b.Spec.PolicyName] = append(bindings[b.Spec.PolicyName], b)
	}
	for _, list := range bindings {
		slices.SortFunc(list, func(a, b *admissionregistrationv1.MutatingAdmissionPolicyBinding) int {
			return strings.Compare(a.Name, b.Name)
		})
	}
	policies = slices.Clone(policies)
	slices.SortFunc(policies, func(a, b *admissionregistrationv1.MutatingAdmissionPolicy) int {
		return strings.Compare(a.Name, b.Name)
	})

	live := map[string]bool{}
	for _, p := range policies {
		live[p.Name] = true
	}
	defer d.compiledMutations.forget(live)
	versions := map[schema.GroupVersionKind]*admission.VersionedAttributes{}
	invocations, errs := d.mutatingInvocations(ctx, attr, policies, bindings, versions)
	if len(invocations) > 0 {
		more, err := d.applyMutatingPolicies(ctx, attr, invocations, versions)
		if err != nil {
			return err
		}
		errs = append(errs, more...)
	}
	return mutatingPolicyDenial(attr, errs)
}

// mutatingInvocations finds what applies to the request, as upstream's
// policy dispatcher: each policy whose matchConstraints select it, each
// of its bindings whose matchResources do, each parameter the binding
// names. The request is matched as it came, before any mutation.
func (d *Dispatcher) mutatingInvocations(ctx context.Context, attr *Attributes, policies []*admissionregistrationv1.MutatingAdmissionPolicy,
	bindings map[string][]*admissionregistrationv1.MutatingAdmissionPolicyBinding,
	versions map[schema.GroupVersionKind]*admission.VersionedAttributes) ([]mutatingInvocation, []mutatingPolicyError) {
	var out []mutatingInvocation
	var errs []mutatingPolicyError
	for _, p := range policies {
		if len(bindings[p.Name]) == 0 || p.Spec.MatchConstraints == nil {
			continue // an unbound policy does nothing, and costs no compiling
		}
		matches, resource, kind, err := d.matchPolicyResources(ctx, p.Spec.MatchConstraints, attr)
		if err != nil {
			errs = append(errs, mutatingPolicyError{policy: p, err: fmt.Errorf("failed to configure policy: %w", err)})
			continue
		}
		if !matches {
			continue
		}
		evaluator := d.compiledMutations.get(p.Name, p.ResourceVersion, func() mutatingpolicy.PolicyEvaluator { return compileMutatingPolicy(p) })
		if evaluator.Error != nil {
			errs = append(errs, mutatingPolicyError{policy: p, err: fmt.Errorf("failed to configure policy: %w", evaluator.Error)})
			continue
		}
		for _, b := range bindings[p.Name] {
			if b.Spec.MatchResources != nil {
				ok, _, _, err := d.matchPolicyResources(ctx, b.Spec.MatchResources, attr)
				if err != nil {
					errs = append(errs, mutatingPolicyError{policy: p, binding: b.Name, err: fmt.Errorf("failed to configure binding: %w", err)})
					continue
				}
				if !ok {
					continue
				}
			}
			if versions[kind] == nil {
				va, err := admission.NewVersionedAttributes(attr, kind, d.interfaces)
				if err != nil {
					errs = append(errs, mutatingPolicyError{policy: p, err: fmt.Errorf("failed to configure policy: %w", err)})
					continue
				}
				versions[kind] = va
			}
			params, err := d.collectParams(ctx, p.Spec.ParamKind, b.Spec.ParamRef, attr.GetNamespace())
			if err != nil {
				errs = append(errs, mutatingPolicyError{policy: p, binding: b.Name, err: fmt.Errorf("failed to configure binding: %w", err)})
				continue
			}
			for _, param := range params {
				out = append(out, mutatingInvocation{policy: p, binding: b, evaluator: evaluator, resource: resource, kind: kind, param: param})
			}
		}
	}
	return out, errs
}

// applyMutatingPolicies runs the invocations in order, as upstream's
// mutating dispatcher, and writes the result back into the request's
// object. A status error (a kind without a schema to merge with) ends
// the request at once; other failures are returned for the failure
// policies to judge.
func (d *Dispatcher) applyMutatingPolicies(ctx context.Context, attr *Attributes, invocations []mutatingInvocation,
	versions map[schema.GroupVersionKind]*admission.VersionedAttributes) ([]mutatingPolicyError, error) {
	rc := attr.GetReinvocationContext()
	state := reinvocationOf[invocationKey](rc, mutatingPolicyPlugin)
	state.begin(rc, attr.GetObject())
	defer func() { state.end(attr.GetObject()) }()

	var namespace *corev1.Namespace
	if name := attr.GetNamespace(); name != "" && !isNamespaceKind(attr.GetKind()) {
		ns, err := d.namespaces.Namespace(ctx, name)
		if err != nil {
			var status *apierrors.StatusError
			if errors.As(err, &status) {
				return nil, status
			}
			return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
		}
		namespace = ns
	}
	var authz authorizer.UnconditionalAuthorizer
	if d.authz != nil {
		authz = admissionauthorizer.NewCachingAuthorizer(d.authz)
	}

	var errs []mutatingPolicyError
	var last *admission.VersionedAttributes
	for _, inv := range invocations {
		va := versions[inv.kind]
		evalCtx := ctx
		if inv.evaluator.CompositedCompiler != nil {
			// Variables are evaluated lazily, once per invocation.
			evalCtx = inv.evaluator.CompositedCompiler.CreateContext(ctx)
		}
		if inv.evaluator.Matcher != nil {
			result := inv.evaluator.Matcher.Match(evalCtx, va, inv.param, authz)
			if result.Error != nil {
				errs = append(errs, mutatingPolicyError{policy: inv.policy, binding: inv.binding.Name, err: result.Error, reason: metav1.StatusReasonInvalid})
				continue
			}
			if !result.Matches {
				continue
			}
		}
		key := inv.key()
		if state.skip(rc, key) {
			continue
		}
		before := va.VersionedObject.Object()
		for _, patcher := range inv.evaluator.Mutators {
			last = va
			if va.VersionedObject.Object() == nil {
				continue // nothing to patch
			}
			err := d.applyMutation(evalCtx, attr, patcher, va, inv, namespace, authz)
			var status *apierrors.StatusError
			if errors.As(err, &status) {
				return nil, status
			}
			if err != nil {
				errs = append(errs, mutatingPolicyError{policy: inv.policy, binding: inv.binding.Name, err: err, reason: metav1.StatusReasonInvalid})
			}
		}
		if !apiequality.Semantic.DeepEqual(before, va.VersionedObject.Object()) {
			state.changed()
			rc.SetShouldReinvoke()
		}
		state.ran(key, inv.policy.Spec.ReinvocationPolicy == admissionregistrationv1.IfNeededReinvocationPolicy)
	}
	if last != nil && last.VersionedObject.Object() != nil && last.Dirty {
		state.changed()
		rc.SetShouldReinvoke()
		if err := d.writeBack(attr, last); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// applyMutation runs one mutation and makes its result the versioned
// object: typed again if the request's object is typed, and defaulted as
// the kind's objects are (what a patch added may need defaults).
func (d *Dispatcher) applyMutation(ctx context.Context, attr *Attributes, patcher patch.Patcher, va *admission.VersionedAttributes,
	inv mutatingInvocation, namespace *corev1.Namespace, authz authorizer.UnconditionalAuthorizer) error {
	var tc managedfields.TypeConverter
	if d.typeConverters != nil {
		tc = d.typeConverters.TypeConverter(va.VersionedKind)
	}
	if tc == nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("Resource kind %s not found. There can be a delay between when CustomResourceDefinitions are created and when they are available.", va.VersionedKind))
	}
	obj, err := patcher.Patch(ctx, patch.Request{
		MatchedResource: inv.resource, VersionedAttributes: va, ObjectInterfaces: d.interfaces,
		OptionalVariables: plugincel.OptionalVariableBindings{VersionedParams: inv.param, Authorizer: authz},
		Namespace:         namespace, TypeConverter: tc,
	}, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return err
	}
	if _, isUnstructured := va.VersionedObject.Object().(*unstructured.Unstructured); !isUnstructured {
		if obj, err = d.interfaces.GetObjectConvertor().ConvertToVersion(obj, va.VersionedKind.GroupVersion()); err != nil {
			return err
		}
	}
	if va.VersionedKind == attr.GetKind() {
		attr.defaultObject(obj)
	}
	va.UpdateObject(obj)
	return nil
}

// mutatingPolicyDenial turns the errors the failure policies do not
// ignore into upstream's answer: a Forbidden whose message and reason are
// the first error's, every error a cause.
func mutatingPolicyDenial(attr admission.Attributes, errs []mutatingPolicyError) error {
	var status *apierrors.StatusError
	for _, e := range errs {
		if ptrDeref(e.policy.Spec.FailurePolicy) == admissionregistrationv1.Ignore {
			continue
		}
		if status == nil {
			if !errors.As(admission.NewForbidden(attr, errors.New("admission request denied by policy")), &status) {
				return apierrors.NewInternalError(errors.New("failed to create status error"))
			}
			status.ErrStatus.Message = e.Error()
			if e.reason != "" {
				status.ErrStatus.Reason = e.reason
			}
			if status.ErrStatus.Details == nil {
				status.ErrStatus.Details = &metav1.StatusDetails{}
			}
		}
		status.ErrStatus.Details.Causes = append(status.ErrStatus.Details.Causes, metav1.StatusCause{Message: e.Error()})
	}
	if status == nil {
		return nil
	}
	return status
}

// isNamespaceKind reports whether gvk is a Namespace, which upstream
// gives no namespace object of its own in policies' CEL.
func isNamespaceKind(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "" && gvk.Version == "v1" && gvk.Kind == "Namespace"
}
