package auth

import (
	"bytes"
	"errors"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"

	"coracle.dev/ctl/internal/resource/resourcetest"
)

var (
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func TestCanIParse(t *testing.T) {
	cases := []struct {
		name     string
		flags    canIFlags
		args     []string
		want     question
		wantWarn string
		wantErr  string
	}{
		{"a plural", canIFlags{}, []string{"list", "pods"}, question{verb: "list", resource: podsGVR}, "", ""},
		{"a short name", canIFlags{}, []string{"get", "po"}, question{verb: "get", resource: podsGVR}, "", ""},
		{"a singular in capitals", canIFlags{}, []string{"get", "Pod"}, question{verb: "get", resource: podsGVR}, "", ""},
		{"group-qualified", canIFlags{}, []string{"list", "deployments.apps"}, question{verb: "list", resource: deploymentsGVR}, "", ""},
		{"short name with group", canIFlags{}, []string{"list", "deploy.apps"}, question{verb: "list", resource: deploymentsGVR}, "", ""},
		{"fully qualified", canIFlags{}, []string{"list", "deployments.v1.apps"}, question{verb: "list", resource: deploymentsGVR}, "", ""},
		{"a type and a name", canIFlags{}, []string{"delete", "deploy/web"}, question{verb: "delete", resource: deploymentsGVR, name: "web"}, "", ""},
		{"every resource", canIFlags{}, []string{"*", "*"}, question{verb: "*", resource: schema.GroupVersionResource{Resource: "*"}}, "", ""},
		{"a non-resource URL", canIFlags{}, []string{"get", "/logs/"}, question{verb: "get", nonResourceURL: "/logs/"}, "", ""},
		{"an unknown type is asked as typed, with a warning", canIFlags{}, []string{"get", "Foos"},
			question{verb: "get", resource: schema.GroupVersionResource{Resource: "Foos"}}, "Warning: the server doesn't have a resource type 'foos'\n\n", ""},
		{"an unknown type in a group", canIFlags{}, []string{"get", "foos.example.com"},
			question{verb: "get", resource: schema.GroupVersionResource{Resource: "foos.example.com"}}, "Warning: the server doesn't have a resource type 'foos' in group 'example.com'\n\n", ""},
		{"users are known to the authorizer only", canIFlags{}, []string{"impersonate", "users"},
			question{verb: "impersonate", resource: schema.GroupVersionResource{Resource: "users"}}, "", ""},
		{"one argument", canIFlags{}, []string{"get"}, question{}, "", errCanIArgs.Error()},
		{"three arguments", canIFlags{}, []string{"get", "pods", "x"}, question{}, "", errCanIArgs.Error()},
		{"list takes no arguments", canIFlags{list: true}, []string{"get", "pods"}, question{}, "", "list option must be specified with no arguments"},
		{"list", canIFlags{list: true}, nil, question{}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var warnings bytes.Buffer
			warn := cliprinters.NewWarningPrinter(&warnings, cliprinters.WarningPrinterOptions{})
			mapper := func() (meta.RESTMapper, error) { return resourcetest.Mapper(t), nil }
			got, err := tc.flags.parse(tc.args, mapper, warn)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("question %+v, want %+v", got, tc.want)
			}
			if warnings.String() != tc.wantWarn {
				t.Errorf("warnings %q, want %q", warnings.String(), tc.wantWarn)
			}
		})
	}
}

// A URL needs no discovery: the mapper is not asked for.
func TestCanIParseURLWithoutDiscovery(t *testing.T) {
	var f canIFlags
	mapper := func() (meta.RESTMapper, error) { return nil, errors.New("no discovery") }
	if _, err := f.parse([]string{"get", "/healthz"}, mapper, cliprinters.NewWarningPrinter(&bytes.Buffer{}, cliprinters.WarningPrinterOptions{})); err != nil {
		t.Fatal(err)
	}
	if _, err := f.parse([]string{"get", "pods"}, mapper, cliprinters.NewWarningPrinter(&bytes.Buffer{}, cliprinters.WarningPrinterOptions{})); err == nil {
		t.Fatal("a TYPE resolved without discovery")
	}
}

func TestCanIValidate(t *testing.T) {
	nodesGVR := schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	clusterRolesGVR := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	cases := []struct {
		name     string
		flags    canIFlags
		q        question
		wantWarn string
		wantErr  string
	}{
		{"a namespaced resource", canIFlags{}, question{verb: "list", resource: podsGVR}, "", ""},
		{"a cluster resource in a namespace warns", canIFlags{}, question{verb: "list", resource: nodesGVR},
			"Warning: resource 'nodes' is not namespace scoped\n\n", ""},
		{"a cluster resource of a group warns with the group", canIFlags{}, question{verb: "get", resource: clusterRolesGVR},
			"Warning: resource 'clusterroles' is not namespace scoped in group 'rbac.authorization.k8s.io'\n\n", ""},
		{"a cluster resource in all namespaces does not warn", canIFlags{allNamespaces: true}, question{verb: "list", resource: nodesGVR}, "", ""},
		{"an unknown verb warns", canIFlags{}, question{verb: "frobnicate", resource: podsGVR}, "Warning: verb 'frobnicate' is not a known verb\n\n", ""},
		{"an unknown verb on a URL warns", canIFlags{}, question{verb: "list", nonResourceURL: "/api"}, "Warning: verb 'list' is not a known verb\n\n", ""},
		{"a URL with a subresource", canIFlags{subresource: "log"}, question{verb: "get", nonResourceURL: "/api"}, "", "--subresource can not be used with NonResourceURL"},
		{"no headers without list", canIFlags{noHeaders: true}, question{verb: "get", resource: podsGVR}, "", "--no-headers cannot be set without --list specified"},
		{"list with quiet", canIFlags{list: true, quiet: true}, question{}, "", "list option can't be specified with neither quiet, all-namespaces nor subresource options"},
		{"list in all namespaces", canIFlags{list: true, allNamespaces: true}, question{}, "", "list option can't be specified with neither quiet, all-namespaces nor subresource options"},
		{"list with a subresource", canIFlags{list: true, subresource: "log"}, question{}, "", "list option can't be specified with neither quiet, all-namespaces nor subresource options"},
		{"list with no headers", canIFlags{list: true, noHeaders: true}, question{}, "", ""},
	}
	d := resourcetest.Discovery()
	namespaced := func(gvr schema.GroupVersionResource) (bool, error) { return isNamespaced(d, gvr) }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var warnings bytes.Buffer
			err := tc.flags.validate(tc.q, namespaced, cliprinters.NewWarningPrinter(&warnings, cliprinters.WarningPrinterOptions{}))
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

func TestAccessReview(t *testing.T) {
	cases := []struct {
		name string
		q    question
		ns   string
		sub  string
		want authorizationv1.SelfSubjectAccessReviewSpec
	}{
		{"a resource in a namespace", question{verb: "list", resource: podsGVR}, "dev", "",
			authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "dev", Verb: "list", Resource: "pods"}}},
		{"a named object of a group with a subresource", question{verb: "update", resource: deploymentsGVR, name: "web"}, "dev", "scale",
			authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "dev", Verb: "update", Group: "apps", Resource: "deployments", Subresource: "scale", Name: "web"}}},
		{"every namespace", question{verb: "create", resource: podsGVR}, "", "",
			authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods"}}},
		{"a URL has no namespace", question{verb: "get", nonResourceURL: "/logs/"}, "dev", "",
			authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/logs/"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := accessReview(tc.q, tc.ns, tc.sub)
			if !equality.Semantic.DeepEqual(got.Spec, tc.want) {
				t.Errorf("spec %+v, want %+v", got.Spec, tc.want)
			}
		})
	}
}

func TestPrintDecision(t *testing.T) {
	cases := []struct {
		name string
		st   authorizationv1.SubjectAccessReviewStatus
		want string
	}{
		{"allowed", authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: `RBAC: allowed by RoleBinding "x"`}, "yes\n"},
		{"denied without reason", authorizationv1.SubjectAccessReviewStatus{}, "no\n"},
		{"denied with a reason", authorizationv1.SubjectAccessReviewStatus{Reason: "no RBAC policy matched"}, "no - no RBAC policy matched\n"},
		{"denied with an evaluation error", authorizationv1.SubjectAccessReviewStatus{Reason: "r", EvaluationError: `role "x" not found`}, "no - r - role \"x\" not found\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printDecision(&b, tc.st)
			if b.String() != tc.want {
				t.Errorf("printed %q, want %q", b.String(), tc.want)
			}
		})
	}
}
