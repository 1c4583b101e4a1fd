package create

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"

	"coracle.dev/ctl/internal/resource/resourcetest"
)

func TestRuleParse(t *testing.T) {
	cases := []struct {
		name  string
		flags ruleFlags
		want  rule
	}{
		{"verbs lose their duplicates", ruleFlags{verbs: []string{"get", "list", "get"}},
			rule{verbs: []string{"get", "list"}}},
		{"a * verb stands alone", ruleFlags{verbs: []string{"get", "*", "list"}},
			rule{verbs: []string{"*"}}},
		{"resources split into group and subresource", ruleFlags{resources: []string{"pods", "rs.apps", "pods/log", "deployments.apps/scale"}},
			rule{resources: []resourceArg{{resource: "pods"}, {resource: "rs", group: "apps"}, {resource: "pods", subresource: "log"}, {resource: "deployments", group: "apps", subresource: "scale"}}}},
		{"a bare * resource stands alone", ruleFlags{resources: []string{"pods", "*", "secrets"}},
			rule{resources: []resourceArg{{resource: "*"}}}},
		{"a * resource of a group does not", ruleFlags{resources: []string{"pods", "*.apps"}},
			rule{resources: []resourceArg{{resource: "pods"}, {resource: "*", group: "apps"}}}},
		{"names and URLs lose their duplicates", ruleFlags{resourceNames: []string{"a", "b", "a"}, nonResourceURLs: []string{"/x", "/x"}},
			rule{resourceNames: []string{"a", "b"}, nonResourceURLs: []string{"/x"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.flags.parse()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parse = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestValidateRole(t *testing.T) {
	cases := []struct {
		name     string
		flags    ruleFlags
		wantErr  string
		wantWarn string
	}{
		{"a plain rule", ruleFlags{verbs: []string{"get"}, resources: []string{"pods"}}, "", ""},
		{"short names and groups resolve", ruleFlags{verbs: []string{"get"}, resources: []string{"rs.apps", "po", "deploy.apps/scale"}}, "", ""},
		{"no verb", ruleFlags{resources: []string{"pods"}}, "at least one verb must be specified", ""},
		{"no resource", ruleFlags{verbs: []string{"get"}}, "at least one resource must be specified", ""},
		{"a non-standard verb warns", ruleFlags{verbs: []string{"get", "frob"}, resources: []string{"pods"}}, "", "Warning: 'frob' is not a standard resource verb\n"},
		{"a group without a resource", ruleFlags{verbs: []string{"get"}, resources: []string{".apps"}}, "resource must be specified if apiGroup/subresource specified", ""},
		{"an unknown resource", ruleFlags{verbs: []string{"get"}, resources: []string{"foos"}}, "no matches for /, Resource=foos", ""},
		{"impersonate on users, which discovery does not list", ruleFlags{verbs: []string{"impersonate"}, resources: []string{"users", "sa"}}, "", ""},
		{"impersonate on pods", ruleFlags{verbs: []string{"impersonate"}, resources: []string{"po"}}, "can not perform 'impersonate' on 'pods' in group ''", ""},
		{"bind on roles", ruleFlags{verbs: []string{"bind", "get"}, resources: []string{"roles.rbac.authorization.k8s.io"}}, "", ""},
		{"roles resolve to their group for escalate", ruleFlags{verbs: []string{"escalate"}, resources: []string{"roles"}}, "", ""},
		{"bind on deployments", ruleFlags{verbs: []string{"bind"}, resources: []string{"deploy"}}, "can not perform 'bind' on 'deployments' in group 'apps'", ""},
		{"a * resource ends the check", ruleFlags{verbs: []string{"bind"}, resources: []string{"*.apps", "pods", ".apps"}}, "", ""},
		{"resources are checked in order", ruleFlags{verbs: []string{"get"}, resources: []string{"foos", ".apps"}}, "no matches for /, Resource=foos", ""},
	}
	mapper := func() (meta.RESTMapper, error) { return resourcetest.Mapper(t), nil }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var warnings bytes.Buffer
			err := tc.flags.parse().validateRole(&warnings, mapper)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if warnings.String() != tc.wantWarn {
				t.Errorf("warnings %q, want %q", warnings.String(), tc.wantWarn)
			}
		})
	}
}

func TestValidateClusterRole(t *testing.T) {
	agg := map[string]string{"rbac.example.com/aggregate-to-monitoring": "true"}
	cases := []struct {
		name        string
		flags       ruleFlags
		aggregation map[string]string
		wantErr     string
	}{
		{"an aggregation rule alone", ruleFlags{}, agg, ""},
		{"an aggregation rule with verbs", ruleFlags{verbs: []string{"get"}}, agg, "aggregation rule must be specified without nonResourceURLs, verbs, resources or resourceNames"},
		{"no verb", ruleFlags{resources: []string{"pods"}}, nil, "at least one verb must be specified"},
		{"neither resources nor URLs", ruleFlags{verbs: []string{"get"}}, nil, "one of resource or nonResourceURL must be specified"},
		{"URLs", ruleFlags{verbs: []string{"get", "post"}, nonResourceURLs: []string{"/logs/*", "*", "/healthz"}}, nil, ""},
		{"a resource verb on a URL", ruleFlags{verbs: []string{"list"}, nonResourceURLs: []string{"/logs"}}, nil, "invalid verb: 'list' for nonResourceURL"},
		{"a URL without its slash", ruleFlags{verbs: []string{"get"}, nonResourceURLs: []string{"logs"}}, nil, "nonResourceURL should start with /"},
		{"a wildcard inside a URL", ruleFlags{verbs: []string{"get"}, nonResourceURLs: []string{"/logs/*/x"}}, nil, "nonResourceURL only supports wildcard matches when '*' is at the end"},
		{"resources and URLs", ruleFlags{verbs: []string{"get"}, resources: []string{"nodes"}, nonResourceURLs: []string{"/metrics"}}, nil, ""},
		{"resources are checked before URLs", ruleFlags{verbs: []string{"get"}, resources: []string{"foos"}, nonResourceURLs: []string{"metrics"}}, nil, "no matches for /, Resource=foos"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			mapper := func() (meta.RESTMapper, error) { asked = true; return resourcetest.Mapper(t), nil }
			err := tc.flags.parse().validateClusterRole(&bytes.Buffer{}, tc.aggregation, mapper)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if asked != (len(tc.flags.resources) > 0 && len(tc.aggregation) == 0) {
				t.Errorf("discovery asked: %v", asked)
			}
		})
	}
}

// The flags are checked before the server is: a bad rule fails without
// a kubeconfig.
func TestValidateRoleBeforeDiscovery(t *testing.T) {
	noServer := func() (meta.RESTMapper, error) { return nil, errors.New("no configuration has been provided") }
	err := (&ruleFlags{resources: []string{"pods"}}).parse().validateRole(&bytes.Buffer{}, noServer)
	if err == nil || err.Error() != "at least one verb must be specified" {
		t.Fatalf("error %v", err)
	}
}

func TestPolicyRules(t *testing.T) {
	cases := []struct {
		name  string
		flags ruleFlags
		want  []rbacv1.PolicyRule
	}{
		{"one rule per group, in group order, names on each",
			ruleFlags{verbs: []string{"get", "list"}, resources: []string{"rs.apps", "po", "pods/status", "deployments.apps", "pods"}, resourceNames: []string{"a"}},
			[]rbacv1.PolicyRule{
				{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/status"}, ResourceNames: []string{"a"}},
				{Verbs: []string{"get", "list"}, APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments"}, ResourceNames: []string{"a"}},
			}},
		{"every resource", ruleFlags{verbs: []string{"*"}, resources: []string{"*"}},
			[]rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"*"}}}},
		{"users stay as typed", ruleFlags{verbs: []string{"impersonate"}, resources: []string{"users"}},
			[]rbacv1.PolicyRule{{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}}}},
		{"URLs make a rule of their own, last",
			ruleFlags{verbs: []string{"get"}, resources: []string{"nodes"}, nonResourceURLs: []string{"/metrics", "/logs/*"}},
			[]rbacv1.PolicyRule{
				{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}},
				{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics", "/logs/*"}},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.flags.parse().policyRules(resourcetest.Mapper(t))
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("rules:\n%+v\nwant:\n%+v", got, tc.want)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	f := subjectFlags{users: []string{"alice", "bob"}, groups: []string{"devs"}, serviceAccounts: []string{"monitoring:sa-dev"}}
	got, err := f.subjects()
	if err != nil {
		t.Fatal(err)
	}
	want := []rbacv1.Subject{
		{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"},
		{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "bob"},
		{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "devs"},
		{Kind: "ServiceAccount", Namespace: "monitoring", Name: "sa-dev"},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("subjects %+v, want %+v", got, want)
	}
	for _, bad := range []string{"sa-dev", "monitoring:", ":sa-dev", "a:b:c"} {
		f := subjectFlags{serviceAccounts: []string{bad}}
		if _, err := f.subjects(); err == nil || err.Error() != "serviceaccount must be <namespace>:<name>" {
			t.Errorf("--serviceaccount=%s: error %v", bad, err)
		}
	}
}

func TestRoleRef(t *testing.T) {
	if got := roleRef("r", ""); got != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"}) {
		t.Errorf("role: %+v", got)
	}
	if got := roleRef("", "c"); got != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "c"}) {
		t.Errorf("clusterrole: %+v", got)
	}
}

func TestLabelMap(t *testing.T) {
	var l labelMap
	for _, v := range []string{"a=1,b=2", " c = 3 ", "a=4"} {
		if err := l.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.String(); got != "a=4,b=2,c=3" {
		t.Errorf("String() = %q", got)
	}
	if err := l.Set("novalue"); err == nil || !strings.Contains(err.Error(), "malformed pair, expect string=string") {
		t.Errorf("error %v", err)
	}
}
