package admissionregistration

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// mutatingPolicyStrategy defaults and validates MutatingAdmissionPolicies.
// Unlike a ValidatingAdmissionPolicy, the kind has no status: nothing
// type-checks it after the write.
type mutatingPolicyStrategy struct{ apiresource.DefaultStrategy }

func (mutatingPolicyStrategy) Default(obj runtime.Object) {
	p := obj.(*admissionregistrationv1.MutatingAdmissionPolicy)
	if p.Spec.FailurePolicy == nil {
		p.Spec.FailurePolicy = ptr.To(admissionregistrationv1.Fail)
	}
	defaultMatchResources(p.Spec.MatchConstraints)
}

func (mutatingPolicyStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateMutatingPolicySpec(&obj.(*admissionregistrationv1.MutatingAdmissionPolicy).Spec, false)
}

// ValidateUpdate does not compile match conditions again when neither
// they nor the paramKind changed, as upstream.
func (mutatingPolicyStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	p, was := obj.(*admissionregistrationv1.MutatingAdmissionPolicy), old.(*admissionregistrationv1.MutatingAdmissionPolicy)
	same := apiequality.Semantic.DeepEqual(p.Spec.ParamKind, was.Spec.ParamKind) &&
		apiequality.Semantic.DeepEqual(p.Spec.MatchConditions, was.Spec.MatchConditions)
	return validateMutatingPolicySpec(&p.Spec, same)
}

// mutatingBindingStrategy defaults and validates
// MutatingAdmissionPolicyBindings.
type mutatingBindingStrategy struct{ apiresource.DefaultStrategy }

func (mutatingBindingStrategy) Default(obj runtime.Object) {
	defaultMatchResources(obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec.MatchResources)
}

func (mutatingBindingStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateMutatingBindingSpec(&obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec)
}

func (mutatingBindingStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateMutatingBindingSpec(&obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec)
}

var (
	// Only writes can be mutated: a policy may not select DELETE.
	supportedMutatingOperations = sets.New(string(admissionregistrationv1.OperationAll), string(admissionregistrationv1.Create),
		string(admissionregistrationv1.Update), string(admissionregistrationv1.Connect))
	supportedPatchTypes = sets.New(string(admissionregistrationv1.PatchTypeApplyConfiguration), string(admissionregistrationv1.PatchTypeJSONPatch))
)

// validateMutatingPolicySpec validates a MutatingAdmissionPolicy's spec as
// upstream's pkg/apis/admissionregistration/validation: the variables and
// mutations are compiled (with the Object and JSONPatch types declared),
// so a policy that cannot run is refused. sameMatchConditions skips
// compiling match conditions an update kept.
func validateMutatingPolicySpec(spec *admissionregistrationv1.MutatingAdmissionPolicySpec, sameMatchConditions bool) field.ErrorList {
	path := field.NewPath("spec")
	var errs field.ErrorList
	// Always the compiler that keeps variables, as upstream: mutations
	// are checked in the environment they run in.
	compiler := policyCompiler(true)
	if spec.FailurePolicy == nil {
		errs = append(errs, field.Required(path.Child("failurePolicy"), ""))
	} else if !supportedFailurePolicies.Has(string(*spec.FailurePolicy)) {
		errs = append(errs, field.NotSupported(path.Child("failurePolicy"), *spec.FailurePolicy, sets.List(supportedFailurePolicies)))
	}
	hasParams := spec.ParamKind != nil
	if hasParams {
		errs = append(errs, validateParamKind(*spec.ParamKind, path.Child("paramKind"))...)
	}
	if spec.MatchConstraints == nil {
		errs = append(errs, field.Required(path.Child("matchConstraints"), ""))
	} else {
		errs = append(errs, validateMatchResources(spec.MatchConstraints, path.Child("matchConstraints"))...)
		// The resource rules give the expressions their types.
		if len(spec.MatchConstraints.ResourceRules) == 0 {
			errs = append(errs, field.Required(path.Child("matchConstraints", "resourceRules"), ""))
		}
		errs = append(errs, validateMutatingOperations(spec.MatchConstraints.ResourceRules, path.Child("matchConstraints", "resourceRules", "operations"))...)
	}
	if !sameMatchConditions {
		errs = append(errs, validateMatchConditions(spec.MatchConditions, hasParams, path.Child("matchConditions"))...)
	}
	for i, v := range spec.Variables {
		p := path.Child("variables").Index(i)
		if strings.TrimSpace(v.Name) == "" {
			errs = append(errs, field.Required(p.Child("name"), "name is not specified"))
		} else if !isCELIdentifier(v.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), v.Name, "must be a valid CEL identifier"))
		}
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(p.Child("expression"), "expression is not specified"))
		} else {
			errs = append(errs, compileVariable(compiler, v, hasParams, p)...)
		}
	}
	if len(spec.Mutations) == 0 {
		errs = append(errs, field.Required(path.Child("mutations"), "mutations must contain at least one item"))
	}
	for i := range spec.Mutations {
		errs = append(errs, validateMutation(compiler, &spec.Mutations[i], hasParams, path.Child("mutations").Index(i))...)
	}
	if spec.ReinvocationPolicy == "" {
		errs = append(errs, field.Required(path.Child("reinvocationPolicy"), ""))
	} else if !supportedReinvocationPolicies.Has(string(spec.ReinvocationPolicy)) {
		errs = append(errs, field.NotSupported(path.Child("reinvocationPolicy"), spec.ReinvocationPolicy, sets.List(supportedReinvocationPolicies)))
	}
	return errs
}

// validateMutatingOperations refuses DELETE (and anything unknown) in
// the rules of a mutating policy or binding.
func validateMutatingOperations(rules []admissionregistrationv1.NamedRuleWithOperations, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, r := range rules {
		for _, op := range r.Operations {
			if !supportedMutatingOperations.Has(string(op)) {
				errs = append(errs, field.NotSupported(path, op, sets.List(supportedMutatingOperations)))
			}
		}
	}
	return errs
}

// validateMutation checks that a mutation has the one patch its
// patchType names, and compiles its expression.
func validateMutation(c plugincel.Compiler, m *admissionregistrationv1.Mutation, hasParams bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch m.PatchType {
	case "":
		errs = append(errs, field.Required(path.Child("patchType"), ""))
	case admissionregistrationv1.PatchTypeJSONPatch:
		if m.JSONPatch == nil {
			errs = append(errs, field.Required(path.Child("jsonPatch"), "must be specified when patchType is JSONPatch"))
		} else {
			errs = append(errs, compileMutation(c, &patch.JSONPatchCondition{Expression: strings.TrimSpace(m.JSONPatch.Expression)}, hasParams, path.Child("jsonPatch", "expression"))...)
		}
		if m.ApplyConfiguration != nil {
			errs = append(errs, field.Invalid(path.Child("applyConfiguration"), "{applyConfiguration}", "must not be specified when patchType is JSONPatch"))
		}
	case admissionregistrationv1.PatchTypeApplyConfiguration:
		if m.ApplyConfiguration == nil {
			errs = append(errs, field.Required(path.Child("applyConfiguration"), "must be specified when patchType is ApplyConfiguration"))
		} else {
			errs = append(errs, compileMutation(c, &patch.ApplyConfigurationCondition{Expression: strings.TrimSpace(m.ApplyConfiguration.Expression)}, hasParams, path.Child("applyConfiguration", "expression"))...)
		}
		if m.JSONPatch != nil {
			errs = append(errs, field.Invalid(path.Child("jsonPatch"), "{jsonPatch}", "must not be specified when patchType is ApplyConfiguration"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("patchType"), m.PatchType, sets.List(supportedPatchTypes)))
	}
	return errs
}

// compileMutation compiles a mutation's expression, which must return
// the patch type its accessor names (an Object, or a list of JSONPatch).
func compileMutation(c plugincel.Compiler, expr plugincel.ExpressionAccessor, hasParams bool, path *field.Path) field.ErrorList {
	if expr.GetExpression() == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	return compileErrors(c, expr, plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true, HasPatchTypes: true}, path)
}

// validateMutatingBindingSpec validates a MutatingAdmissionPolicyBinding
// as upstream: the policy's name, the paramRef, the match resources
// (without DELETE). Unlike a ValidatingAdmissionPolicyBinding it has no
// validation actions.
func validateMutatingBindingSpec(spec *admissionregistrationv1.MutatingAdmissionPolicyBindingSpec) field.ErrorList {
	path := field.NewPath("spec")
	var errs field.ErrorList
	if spec.PolicyName == "" {
		errs = append(errs, field.Required(path.Child("policyName"), ""))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.PolicyName, false) {
			errs = append(errs, field.Invalid(path.Child("policyName"), spec.PolicyName, msg))
		}
	}
	errs = append(errs, validateParamRef(spec.ParamRef, path.Child("paramRef"))...)
	errs = append(errs, validateMatchResources(spec.MatchResources, path.Child("matchResources"))...)
	if spec.MatchResources != nil {
		errs = append(errs, validateMutatingOperations(spec.MatchResources.ResourceRules, path.Child("matchResources", "resourceRules", "operations"))...)
	}
	return errs
}
