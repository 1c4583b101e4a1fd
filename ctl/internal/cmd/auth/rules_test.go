package auth

import (
	"bytes"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
)

func TestPrintRules(t *testing.T) {
	cases := []struct {
		name      string
		st        authorizationv1.SubjectRulesReviewStatus
		noHeaders bool
		want      string
		wantWarn  string
	}{
		{
			// What kubectl v1.37's auth can-i --list prints for the same
			// review.
			name: "rules are broken down, merged by resource and sorted as kubectl's",
			st: authorizationv1.SubjectRulesReviewStatus{
				ResourceRules: []authorizationv1.ResourceRule{
					{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}},
					{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
					{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}},
					{Verbs: []string{"delete"}, APIGroups: []string{"apps", ""}, Resources: []string{"deployments"}, ResourceNames: []string{"web", "db"}},
					{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
				},
				NonResourceRules: []authorizationv1.NonResourceRule{
					{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/version", "/api/*"}},
					{Verbs: []string{"get", "post"}, NonResourceURLs: []string{"/x"}},
				},
			},
			want: `Resources                                       Non-Resource URLs   Resource Names   Verbs
*.*                                             []                  []               [*]
selfsubjectaccessreviews.authorization.k8s.io   []                  []               [create]
selfsubjectrulesreviews.authorization.k8s.io    []                  []               [create]
deployments                                     []                  [db]             [delete]
deployments                                     []                  [web]            [delete]
deployments.apps                                []                  [db]             [delete]
deployments.apps                                []                  [web]            [delete]
pods/log                                        []                  []               [get list watch]
pods                                            []                  []               [get list watch]
                                                [/api/*]            []               [get]
                                                [/healthz]          []               [get]
                                                [/version]          []               [get]
                                                [/x]                []               [get]
                                                [/x]                []               [post]
`,
		},
		{
			name: "without headers",
			st: authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{
				{Verbs: []string{"get"}, APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}},
			}},
			noHeaders: true,
			want:      "deployments.apps/scale   []    []    [get]\n",
		},
		{
			name:     "an incomplete list warns",
			st:       authorizationv1.SubjectRulesReviewStatus{Incomplete: true, EvaluationError: `role.rbac.authorization.k8s.io "gone" not found`},
			want:     "Resources   Non-Resource URLs   Resource Names   Verbs\n",
			wantWarn: "Warning: the list may be incomplete: role.rbac.authorization.k8s.io \"gone\" not found\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, warnings bytes.Buffer
			if err := printRules(&out, tc.st, tc.noHeaders, cliprinters.NewWarningPrinter(&warnings, cliprinters.WarningPrinterOptions{})); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("printed:\n%s\nwant:\n%s", out.String(), tc.want)
			}
			if warnings.String() != tc.wantWarn {
				t.Errorf("warnings %q, want %q", warnings.String(), tc.wantWarn)
			}
		})
	}
}

func TestResourceGroup(t *testing.T) {
	cases := []struct {
		resources, groups []string
		want              string
	}{
		{nil, []string{"apps"}, ""},
		{[]string{"pods"}, []string{""}, "pods"},
		{[]string{"pods/log"}, []string{""}, "pods/log"},
		{[]string{"deployments"}, []string{"apps"}, "deployments.apps"},
		{[]string{"deployments/scale"}, []string{"apps"}, "deployments.apps/scale"},
		{[]string{"*"}, []string{"*"}, "*.*"},
		{[]string{"pods"}, nil, "pods"},
	}
	for _, tc := range cases {
		if got := resourceGroup(tc.resources, tc.groups); got != tc.want {
			t.Errorf("resourceGroup(%q, %q) = %q, want %q", tc.resources, tc.groups, got, tc.want)
		}
	}
}
