package audit

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/apis/audit/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"coracle.dev/apiserver/internal/authz"
)

// RequestConfig is what the policy decides for one request.
type RequestConfig struct {
	// Level is how much of the request is logged; None logs nothing.
	Level auditv1.Level
	// OmitStages are the stages not logged.
	OmitStages []auditv1.Stage
	// OmitManagedFields drops metadata.managedFields from the logged
	// request and response objects.
	OmitManagedFields bool
}

// omits reports whether stage is not logged.
func (c RequestConfig) omits(stage auditv1.Stage) bool {
	return slices.Contains(c.OmitStages, stage)
}

// Policy is a loaded audit policy: its rules, checked in order, the first
// that matches a request deciding its level, as upstream's policy
// checker. A request no rule matches is not logged.
type Policy struct {
	rules             []auditv1.PolicyRule
	omitStages        []auditv1.Stage
	omitManagedFields bool
}

// LoadPolicy reads and checks the policy file at path
// (--audit-policy-file).
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read file path %q: %w", path, err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("audit policy file %q: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes an audit.k8s.io/v1 Policy in YAML or JSON,
// strictly (an unknown or misspelled field is an error naming its path),
// and validates it as kube-apiserver does.
func ParsePolicy(data []byte) (*Policy, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("failed decoding: %w", err)
	}
	var p auditv1.Policy
	strictErrs, err := sigsjson.UnmarshalStrict(j, &p)
	if err != nil {
		return nil, fmt.Errorf("failed decoding: %w", err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("failed decoding: %w", errors.Join(strictErrs...))
	}
	if gv := auditv1.SchemeGroupVersion.String(); p.APIVersion != gv || p.Kind != "Policy" {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want apiVersion %q, kind \"Policy\"", p.APIVersion, p.Kind, gv)
	}
	return NewPolicy(&p)
}

// NewPolicy checks p with upstream's validation and returns it ready to
// evaluate. A policy needs at least one rule.
func NewPolicy(p *auditv1.Policy) (*Policy, error) {
	var internal auditinternal.Policy
	if err := auditv1.Convert_v1_Policy_To_audit_Policy(p, &internal, nil); err != nil {
		return nil, err
	}
	if errs := validation.ValidatePolicy(&internal); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if len(p.Rules) == 0 {
		return nil, errors.New("loaded illegal policy with 0 rules")
	}
	policy := &Policy{omitStages: p.OmitStages, omitManagedFields: p.OmitManagedFields}
	for _, r := range p.Rules {
		r = *r.DeepCopy()
		// A policy's omitStages apply to every rule, as upstream.
		r.OmitStages = unionStages(p.OmitStages, r.OmitStages)
		policy.rules = append(policy.rules, r)
	}
	return policy, nil
}

func unionStages(a, b []auditv1.Stage) []auditv1.Stage {
	out := append([]auditv1.Stage{}, a...)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Evaluate returns what the first rule matching the request decides, or
// level None with the policy's omissions when none matches.
func (p *Policy) Evaluate(a authz.Attributes) RequestConfig {
	for i := range p.rules {
		r := &p.rules[i]
		if ruleMatches(r, a) {
			omf := p.omitManagedFields
			if r.OmitManagedFields != nil {
				omf = *r.OmitManagedFields
			}
			return RequestConfig{Level: r.Level, OmitStages: r.OmitStages, OmitManagedFields: omf}
		}
	}
	return RequestConfig{Level: auditv1.LevelNone, OmitStages: p.omitStages, OmitManagedFields: p.omitManagedFields}
}

// ruleMatches is upstream's: every field a rule sets must match; a rule
// with resources or namespaces matches only resource requests, one with
// nonResourceURLs only the others.
func ruleMatches(r *auditv1.PolicyRule, a authz.Attributes) bool {
	if len(r.Users) > 0 && (a.User == nil || !slices.Contains(r.Users, a.User.Name)) {
		return false
	}
	if len(r.UserGroups) > 0 {
		if a.User == nil || !slices.ContainsFunc(a.User.Groups, func(g string) bool { return slices.Contains(r.UserGroups, g) }) {
			return false
		}
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, a.Verb) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Resources) > 0 {
		return ruleMatchesResource(r, a)
	}
	if len(r.NonResourceURLs) > 0 {
		return ruleMatchesNonResource(r, a)
	}
	return true
}

func ruleMatchesNonResource(r *auditv1.PolicyRule, a authz.Attributes) bool {
	if a.ResourceRequest {
		return false
	}
	for _, spec := range r.NonResourceURLs {
		if pathMatches(a.Path, spec) {
			return true
		}
	}
	return false
}

// pathMatches matches "*", the exact path, or a prefix ending in "*".
func pathMatches(path, spec string) bool {
	if spec == "*" || spec == path {
		return true
	}
	return strings.HasSuffix(spec, "*") && strings.HasPrefix(path, strings.TrimRight(spec, "*"))
}

// ruleMatchesResource matches the namespace (cluster-scoped resources
// have ""), then the group and "resource", "resource/subresource",
// "*", "*/subresource" or "resource/*", and resourceNames.
func ruleMatchesResource(r *auditv1.PolicyRule, a authz.Attributes) bool {
	if !a.ResourceRequest {
		return false
	}
	if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, a.Namespace) {
		return false
	}
	if len(r.Resources) == 0 {
		return true
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined = a.Resource + "/" + a.Subresource
	}
	for _, gr := range r.Resources {
		if gr.Group != a.APIGroup && gr.Group != "*" {
			continue
		}
		if len(gr.Resources) == 0 {
			return true
		}
		if len(gr.ResourceNames) > 0 && !slices.Contains(gr.ResourceNames, a.Name) {
			continue
		}
		for _, res := range gr.Resources {
			switch {
			case res == combined || res == "*":
				return true
			case a.Subresource != "" && strings.HasPrefix(res, "*/") && a.Subresource == strings.TrimPrefix(res, "*/"):
				return true
			case strings.HasSuffix(res, "/*") && a.Resource == strings.TrimSuffix(res, "/*"):
				return true
			}
		}
	}
	return false
}
