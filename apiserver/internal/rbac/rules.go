// Package rbac is Kubernetes' role-based access control in the apiserver:
// matching a request against PolicyRules, the RBAC authorizer over Roles,
// ClusterRoles and their bindings, the escalation check that keeps users
// from granting permissions they do not hold, and the bootstrap policy
// (default roles and bindings) the apiserver writes at start.
package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"coracle.dev/apiserver/internal/authz"
)

// RulesAllow reports whether any of rules allows the request, as
// Kubernetes' rbac.RulesAllow.
func RulesAllow(a authz.Attributes, rules ...rbacv1.PolicyRule) bool {
	for i := range rules {
		if RuleAllows(a, &rules[i]) {
			return true
		}
	}
	return false
}

// RuleAllows reports whether rule allows the request, as Kubernetes'
// rbac.RuleAllows. A resource request matches on verb, API group,
// resource (a rule names "resource/subresource" for a subresource, or
// "*/subresource" for that subresource of every resource) and, when the
// rule lists resourceNames, on the request's name: a request without a
// name (list, watch, create, deletecollection) never matches such a rule.
// A non-resource request matches on verb and path, where a rule's URL
// ending in "*" matches every path with that prefix.
func RuleAllows(a authz.Attributes, rule *rbacv1.PolicyRule) bool {
	if !verbMatches(rule, a.Verb) {
		return false
	}
	if !a.ResourceRequest {
		return nonResourceURLMatches(rule, a.Path)
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined += "/" + a.Subresource
	}
	return apiGroupMatches(rule, a.APIGroup) &&
		resourceMatches(rule, combined, a.Subresource) &&
		resourceNameMatches(rule, a.Name)
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	for _, g := range rule.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

// resourceMatches matches combined ("pods" or "pods/status") against the
// rule's resources; "*/status" matches any resource's status subresource
// but not the resource itself.
func resourceMatches(rule *rbacv1.PolicyRule, combined, subresource string) bool {
	for _, r := range rule.Resources {
		if r == rbacv1.ResourceAll || r == combined {
			return true
		}
		if subresource != "" && r == "*/"+subresource {
			return true
		}
	}
	return false
}

// resourceNameMatches is true for a rule without resourceNames; with them,
// only a request for one of those names matches, so an empty name (a list
// or a create) does not.
func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	for _, n := range rule.ResourceNames {
		if n == name {
			return true
		}
	}
	return false
}

func nonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}

// NodeRules are the rules of Kubernetes' system:node ClusterRole
// (bootstrappolicy.NodeRules with v1.37's default feature gates): what
// the Node authorizer lets every node do, before its graph narrows reads
// of secrets, configmaps, volumes and service accounts to those of the
// node's own pods.
func NodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// Reviews a kubelet asks the apiserver for to check callers of
		// its own API; these creates change nothing.
		newRule("create").groups(authenticationGroup).resources("tokenreviews").rule(),
		newRule("create").groups(authorizationGroup).resources("subjectaccessreviews", "localsubjectaccessreviews").rule(),

		// Services populate the environment of containers.
		newRule(read...).groups(legacyGroup).resources("services").rule(),

		// A node registers its Node and reports its status; NodeRestriction
		// admission keeps it to its own object.
		newRule("create", "get", "list", "watch").groups(legacyGroup).resources("nodes").rule(),
		newRule("update", "patch").groups(legacyGroup).resources("nodes/status").rule(),
		newRule("update", "patch").groups(legacyGroup).resources("nodes").rule(),

		newRule("create", "update", "patch").groups(legacyGroup, eventsGroup).resources("events").rule(),

		// Reads of pods the Node authorizer limits to the node's own; mirror
		// pods, pod status and evictions NodeRestriction limits to pods
		// bound to the node.
		newRule(read...).groups(legacyGroup).resources("pods").rule(),
		newRule("create", "delete").groups(legacyGroup).resources("pods").rule(),
		newRule("update", "patch").groups(legacyGroup).resources("pods/status").rule(),
		newRule("create").groups(legacyGroup).resources("pods/eviction").rule(),

		// Secrets, configmaps and volumes of the node's pods: the Node
		// authorizer allows only those its pods reference.
		newRule("get", "list", "watch").groups(legacyGroup).resources("secrets", "configmaps").rule(),
		newRule("get").groups(legacyGroup).resources("persistentvolumeclaims", "persistentvolumes").rule(),
		newRule("get").groups(legacyGroup).resources("endpoints").rule(),

		// The kubelet rotates its client certificate through a CSR.
		newRule("create", "get", "list", "watch").groups(certificatesGroup).resources("certificatesigningrequests").rule(),

		// The node's heartbeat Lease.
		newRule("get", "create", "update", "patch", "delete").groups(coordinationGroup).resources("leases").rule(),

		newRule("get").groups(storageGroup).resources("volumeattachments").rule(),

		// Tokens for the service accounts of the node's pods (the Node
		// authorizer and NodeRestriction narrow it).
		newRule("create").groups(legacyGroup).resources("serviceaccounts/token").rule(),

		newRule("get", "update", "patch").groups(legacyGroup).resources("persistentvolumeclaims/status").rule(),

		newRule("get", "watch", "list").groups(storageGroup).resources("csidrivers").rule(),
		newRule("get", "create", "update", "patch", "delete").groups(storageGroup).resources("csinodes").rule(),

		newRule("get", "list", "watch").groups(nodeGroup).resources("runtimeclasses").rule(),

		newRule("get").groups(resourceGroup).resources("resourceclaims").rule(),
		newRule("deletecollection").groups(resourceGroup).resources("resourceslices").rule(),

		newRule("get", "list", "watch").groups(certificatesGroup).resources("clustertrustbundles").rule(),

		// Service accounts of the node's pods, for credential providers.
		newRule("get").groups(legacyGroup).resources("serviceaccounts").rule(),

		newRule("get", "list", "watch", "create").groups(certificatesGroup).resources("podcertificaterequests").rule(),
	}
}

// API groups the bootstrap policy names.
const (
	legacyGroup                  = ""
	admissionRegistrationGroup   = "admissionregistration.k8s.io"
	appsGroup                    = "apps"
	authenticationGroup          = "authentication.k8s.io"
	authorizationGroup           = "authorization.k8s.io"
	autoscalingGroup             = "autoscaling"
	batchGroup                   = "batch"
	certificatesGroup            = "certificates.k8s.io"
	coordinationGroup            = "coordination.k8s.io"
	customMetricsGroup           = "custom.metrics.k8s.io"
	discoveryGroup               = "discovery.k8s.io"
	eventsGroup                  = "events.k8s.io"
	extensionsGroup              = "extensions"
	externalMetricsGroup         = "external.metrics.k8s.io"
	internalAPIServerGroup       = "internal.apiserver.k8s.io"
	networkingGroup              = "networking.k8s.io"
	nodeGroup                    = "node.k8s.io"
	policyGroup                  = "policy"
	rbacGroup                    = rbacv1.GroupName
	resMetricsGroup              = "metrics.k8s.io"
	resourceGroup                = "resource.k8s.io"
	schedulingGroup              = "scheduling.k8s.io"
	storageGroup                 = "storage.k8s.io"
	storageVersionMigrationGroup = "storagemigration.k8s.io"
)

// Verb sets of the bootstrap policy.
var (
	read      = []string{"get", "list", "watch"}
	write     = []string{"create", "update", "patch", "delete", "deletecollection"}
	readWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)

// ruleBuilder builds a PolicyRule with each list sorted and without
// duplicates, as Kubernetes' rbac helpers do, so the stored policy reads
// the same as upstream's.
type ruleBuilder struct{ r rbacv1.PolicyRule }

func newRule(verbs ...string) *ruleBuilder {
	return &ruleBuilder{rbacv1.PolicyRule{Verbs: sortedSet(nil, verbs)}}
}

func (b *ruleBuilder) groups(g ...string) *ruleBuilder {
	b.r.APIGroups = sortedSet(b.r.APIGroups, g)
	return b
}

func (b *ruleBuilder) resources(r ...string) *ruleBuilder {
	b.r.Resources = sortedSet(b.r.Resources, r)
	return b
}

func (b *ruleBuilder) names(n ...string) *ruleBuilder {
	b.r.ResourceNames = sortedSet(b.r.ResourceNames, n)
	return b
}

func (b *ruleBuilder) urls(u ...string) *ruleBuilder {
	b.r.NonResourceURLs = sortedSet(b.r.NonResourceURLs, u)
	return b
}

func (b *ruleBuilder) rule() rbacv1.PolicyRule { return b.r }

func sortedSet(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}
