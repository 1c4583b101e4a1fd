package admissionregistration

import (
	"fmt"
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// statelessCompiler compiles expressions that cannot refer to variables
// (match conditions, and policies without variables). Building its CEL
// environments takes a while, so it is built once, on first use, and
// shared: it holds no state between compilations.
var statelessCompiler = sync.OnceValue(func() plugincel.Compiler {
	return plugincel.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
})

// policyCompiler returns the compiler for a policy's expressions: one
// that keeps the policy's variables when it has some (such a compiler is
// stateful, so one per policy), else the shared stateless one.
func policyCompiler(withVariables bool) plugincel.Compiler {
	if !withVariables {
		return statelessCompiler()
	}
	c, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		return statelessCompiler()
	}
	return c
}

// validateMatchConditions checks match conditions as upstream: at most
// 64, unique qualified names, expressions that compile to a bool.
func validateMatchConditions(conds []admissionregistrationv1.MatchCondition, withParams bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(conds) > 64 {
		errs = append(errs, field.TooMany(path, len(conds), 64))
	}
	names := sets.New[string]()
	for i, c := range conds {
		p := path.Index(i)
		if expr := strings.TrimSpace(c.Expression); expr == "" {
			errs = append(errs, field.Required(p.Child("expression"), ""))
		} else {
			errs = append(errs, compileErrors(statelessCompiler(), &matchconditions.MatchCondition{Expression: expr},
				plugincel.OptionalVariableDeclarations{HasParams: withParams, HasAuthorizer: true}, p.Child("expression"))...)
		}
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, qualifiedName(c.Name, p.Child("name"))...)
		}
		if c.Name != "" {
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
	}
	return errs
}

// compileErrors compiles expr and turns a failure into the field error
// upstream gives: "compilation failed: …" as Invalid.
func compileErrors(c plugincel.Compiler, expr plugincel.ExpressionAccessor, vars plugincel.OptionalVariableDeclarations, path *field.Path) field.ErrorList {
	res := c.CompileCELExpression(expr, vars, environment.NewExpressions)
	if res.Error == nil {
		return nil
	}
	return field.ErrorList{celFieldError(path, expr.GetExpression(), res.Error)}
}

func celFieldError(path *field.Path, expr string, err *apiservercel.Error) *field.Error {
	switch err.Type {
	case apiservercel.ErrorTypeRequired:
		return field.Required(path, err.Detail)
	case apiservercel.ErrorTypeInvalid:
		return field.Invalid(path, expr, err.Detail)
	default:
		return field.InternalError(path, err)
	}
}

func qualifiedName(name string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsQualifiedName(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// variable compiles and keeps a policy variable so that later
// expressions can refer to it as variables.NAME.
func compileVariable(c plugincel.Compiler, v admissionregistrationv1.Variable, hasParams bool, path *field.Path) field.ErrorList {
	composited, ok := c.(*plugincel.CompositedCompiler)
	if !ok {
		return field.ErrorList{field.InternalError(path, fmt.Errorf("variable composition is not allowed"))}
	}
	res := composited.CompileAndStoreVariable(&validatingpolicy.Variable{Name: v.Name, Expression: v.Expression},
		plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true}, environment.NewExpressions)
	if res.Error != nil {
		return field.ErrorList{celFieldError(path.Child("expression"), v.Expression, res.Error)}
	}
	return nil
}
