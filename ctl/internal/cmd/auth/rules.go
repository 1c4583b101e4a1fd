package auth

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
)

// printRules prints a rules review as kubectl's `auth can-i --list`
// table: Resources, Non-Resource URLs, Resource Names, Verbs.
func printRules(out io.Writer, st authorizationv1.SubjectRulesReviewStatus, noHeaders bool, warn *cliprinters.WarningPrinter) error {
	if st.Incomplete {
		warn.Print(fmt.Sprintf("the list may be incomplete: %v", st.EvaluationError))
	}
	w := cliprinters.GetNewTabWriter(out)
	if !noHeaders {
		fmt.Fprintln(w, "Resources\tNon-Resource URLs\tResource Names\tVerbs")
	}
	for _, r := range tableRules(st) {
		fmt.Fprintf(w, "%s\t%v\t%v\t%v\n", resourceGroup(r.Resources, r.APIGroups), r.NonResourceURLs, r.ResourceNames, r.Verbs)
	}
	return w.Flush()
}

// tableRules are the rows of the --list table. As kubectl, every rule is
// broken down into one verb on one resource (and one name) or one URL,
// the pieces on the same resource and name are gathered again with all
// their verbs, and the rows are sorted by their printed form — so two
// rules that grant the same access print as one row however the roles
// were written.
func tableRules(st authorizationv1.SubjectRulesReviewStatus) []rbacv1.PolicyRule {
	var pieces []rbacv1.PolicyRule
	for _, r := range st.ResourceRules {
		pieces = append(pieces, breakdown(rbacv1.PolicyRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})...)
	}
	for _, r := range st.NonResourceRules {
		pieces = append(pieces, breakdown(rbacv1.PolicyRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})...)
	}
	rules := compact(pieces)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].String() < rules[j].String() })
	return rules
}

// breakdown splits a rule into rules of one verb each on one group,
// resource and resource name, or on one non-resource URL.
func breakdown(rule rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, g := range rule.APIGroups {
		for _, res := range rule.Resources {
			for _, verb := range rule.Verbs {
				if len(rule.ResourceNames) == 0 {
					out = append(out, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: []string{res}, Verbs: []string{verb}})
					continue
				}
				for _, name := range rule.ResourceNames {
					out = append(out, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: []string{res}, Verbs: []string{verb}, ResourceNames: []string{name}})
				}
			}
		}
	}
	for _, url := range rule.NonResourceURLs {
		for _, verb := range rule.Verbs {
			out = append(out, rbacv1.PolicyRule{NonResourceURLs: []string{url}, Verbs: []string{verb}})
		}
	}
	return out
}

// simpleKey identifies a rule on one group and resource, with at most
// one resource name and nothing else: the rules compact merges.
type simpleKey struct {
	group, resource string
	hasName         bool
	name            string
}

// compact merges the simple rules that differ only in their verbs, each
// verb once in the order first seen; other rules (non-resource URLs
// among them) are kept as they are, first.
func compact(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	var order []simpleKey
	merged := map[simpleKey]*rbacv1.PolicyRule{}
	for _, r := range rules {
		k, ok := simple(r)
		if !ok {
			out = append(out, r)
			continue
		}
		if m, seen := merged[k]; seen {
			for _, v := range r.Verbs {
				if !slices.Contains(m.Verbs, v) {
					m.Verbs = append(m.Verbs, v)
				}
			}
			continue
		}
		merged[k] = r.DeepCopy()
		order = append(order, k)
	}
	for _, k := range order {
		out = append(out, *merged[k])
	}
	return out
}

func simple(r rbacv1.PolicyRule) (simpleKey, bool) {
	if len(r.ResourceNames) > 1 || len(r.NonResourceURLs) > 0 || len(r.APIGroups) != 1 || len(r.Resources) != 1 {
		return simpleKey{}, false
	}
	k := simpleKey{group: r.APIGroups[0], resource: r.Resources[0]}
	if len(r.ResourceNames) == 1 {
		k.hasName, k.name = true, r.ResourceNames[0]
	}
	return k, true
}

// resourceGroup is kubectl's Resources cell: "pods", "deployments.apps",
// "pods/log" or "deployments.apps/scale" — the first resource with the
// first group, as the rules are broken down by then.
func resourceGroup(resources, groups []string) string {
	if len(resources) == 0 {
		return ""
	}
	res, sub, hasSub := strings.Cut(resources[0], "/")
	if len(groups) > 0 && groups[0] != "" {
		res += "." + groups[0]
	}
	if hasSub {
		res += "/" + sub
	}
	return res
}
