package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"coracle.dev/apiserver/internal/authz"
)

func res(verb, group, resource, sub, ns, name string) authz.Attributes {
	return authz.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, APIVersion: "v1",
		Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func nonRes(verb, path string) authz.Attributes {
	return authz.Attributes{Verb: verb, Path: path}
}

func TestRuleAllows(t *testing.T) {
	tests := []struct {
		name  string
		rule  rbacv1.PolicyRule
		attrs authz.Attributes
		allow bool
	}{
		{"exact match", newRule("get").groups("").resources("pods").rule(), res("get", "", "pods", "", "ns", "p"), true},
		{"other verb", newRule("get").groups("").resources("pods").rule(), res("list", "", "pods", "", "ns", ""), false},
		{"verb wildcard", newRule("*").groups("").resources("pods").rule(), res("deletecollection", "", "pods", "", "ns", ""), true},
		{"other group", newRule("get").groups("").resources("deployments").rule(), res("get", "apps", "deployments", "", "ns", "d"), false},
		{"group wildcard", newRule("get").groups("*").resources("deployments").rule(), res("get", "apps", "deployments", "", "ns", "d"), true},
		{"resource wildcard", newRule("get").groups("apps").resources("*").rule(), res("get", "apps", "deployments", "", "ns", "d"), true},
		{"resource wildcard covers subresources", newRule("get").groups("").resources("*").rule(), res("get", "", "pods", "log", "ns", "p"), true},
		{"resource does not cover its subresource", newRule("get").groups("").resources("pods").rule(), res("get", "", "pods", "log", "ns", "p"), false},
		{"resource/subresource", newRule("get").groups("").resources("pods/log").rule(), res("get", "", "pods", "log", "ns", "p"), true},
		{"resource/subresource does not cover the resource", newRule("get").groups("").resources("pods/log").rule(), res("get", "", "pods", "", "ns", "p"), false},
		{"*/subresource", newRule("update").groups("*").resources("*/scale").rule(), res("update", "apps", "deployments", "scale", "ns", "d"), true},
		{"*/subresource does not cover the resource", newRule("update").groups("*").resources("*/scale").rule(), res("update", "apps", "deployments", "", "ns", "d"), false},
		{"*/subresource does not cover another subresource", newRule("update").groups("*").resources("*/scale").rule(), res("update", "apps", "deployments", "status", "ns", "d"), false},
		{"resourceNames match the name", newRule("get").groups("").resources("configmaps").names("a", "b").rule(), res("get", "", "configmaps", "", "ns", "b"), true},
		{"resourceNames refuse another name", newRule("get").groups("").resources("configmaps").names("a").rule(), res("get", "", "configmaps", "", "ns", "c"), false},
		{"resourceNames refuse a list", newRule("list").groups("").resources("configmaps").names("a").rule(), res("list", "", "configmaps", "", "ns", ""), false},
		{"resourceNames refuse a create", newRule("create").groups("").resources("configmaps").names("a").rule(), res("create", "", "configmaps", "", "ns", ""), false},
		{"empty rule matches nothing", rbacv1.PolicyRule{}, res("get", "", "pods", "", "ns", "p"), false},
		{"resource rule does not match a path", newRule("get").groups("*").resources("*").rule(), nonRes("get", "/healthz"), false},
		{"URL exact", newRule("get").urls("/healthz").rule(), nonRes("get", "/healthz"), true},
		{"URL exact refuses a longer path", newRule("get").urls("/healthz").rule(), nonRes("get", "/healthz/etcd"), false},
		{"URL prefix", newRule("get").urls("/healthz/*").rule(), nonRes("get", "/healthz/etcd"), true},
		{"URL prefix refuses the bare path", newRule("get").urls("/healthz/*").rule(), nonRes("get", "/healthz"), false},
		{"URL prefix without slash", newRule("get").urls("/api*").rule(), nonRes("get", "/apis/apps"), true},
		{"URL wildcard", newRule("*").urls("*").rule(), nonRes("post", "/anything"), true},
		{"URL other verb", newRule("get").urls("/version").rule(), nonRes("post", "/version"), false},
		{"URL rule does not match a resource", newRule("get").urls("*").rule(), res("get", "", "pods", "", "ns", "p"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleAllows(tt.attrs, &tt.rule); got != tt.allow {
				t.Errorf("RuleAllows(%+v, %s) = %v, want %v", tt.attrs, tt.rule.String(), got, tt.allow)
			}
		})
	}
}

func TestRulesAllow(t *testing.T) {
	rules := []rbacv1.PolicyRule{
		newRule("get").groups("").resources("pods").rule(),
		newRule("list").groups("apps").resources("deployments").rule(),
	}
	if !RulesAllow(res("list", "apps", "deployments", "", "ns", ""), rules...) {
		t.Error("second rule should allow listing deployments")
	}
	if RulesAllow(res("list", "", "pods", "", "ns", ""), rules...) {
		t.Error("no rule allows listing pods")
	}
	if RulesAllow(res("get", "", "pods", "", "ns", "p")) {
		t.Error("no rules allow nothing")
	}
}

func TestNodeRules(t *testing.T) {
	rules := NodeRules()
	allowed := []authz.Attributes{
		res("create", "", "nodes", "", "", ""),
		res("patch", "", "nodes", "status", "", "n1"),
		res("watch", "", "pods", "", "", ""),
		res("update", "", "pods", "status", "ns", "p"),
		res("create", "", "pods", "eviction", "ns", "p"),
		res("create", "", "events", "", "ns", ""),
		res("create", "events.k8s.io", "events", "", "ns", ""),
		res("list", "", "services", "", "", ""),
		res("get", "", "endpoints", "", "ns", "e"),
		res("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"),
		res("create", "certificates.k8s.io", "certificatesigningrequests", "", "", ""),
		res("create", "", "serviceaccounts", "token", "ns", "sa"),
		res("get", "", "secrets", "", "ns", "s"),
		res("patch", "", "persistentvolumeclaims", "status", "ns", "c"),
		res("create", "storage.k8s.io", "csinodes", "", "", ""),
	}
	for _, a := range allowed {
		if !RulesAllow(a, rules...) {
			t.Errorf("node rules should allow %+v", a)
		}
	}
	refused := []authz.Attributes{
		res("delete", "", "nodes", "", "", "n1"),
		res("update", "", "pods", "", "ns", "p"),
		res("create", "", "secrets", "", "ns", ""),
		res("list", "coordination.k8s.io", "leases", "", "kube-node-lease", ""),
		res("update", "certificates.k8s.io", "certificatesigningrequests", "approval", "", "c"),
		res("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", ""),
	}
	for _, a := range refused {
		if RulesAllow(a, rules...) {
			t.Errorf("node rules should not allow %+v", a)
		}
	}
}
