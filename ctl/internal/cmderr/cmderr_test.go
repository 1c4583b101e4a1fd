package cmderr

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFormat(t *testing.T) {
	gk := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	cases := []struct {
		name     string
		err      error
		want     string
		wantCode int
	}{
		{"nil is success", nil, "", 0},
		{"not found names the resource", apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "x"), "Error from server (NotFound): pods \"x\" not found\n", 1},
		{"already exists", apierrors.NewAlreadyExists(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web"), "Error from server (AlreadyExists): deployments.apps \"web\" already exists\n", 1},
		{"unknown type", &meta.NoResourceMatchError{PartialResource: schema.GroupVersionResource{Resource: "foo"}}, "error: the server doesn't have a resource type \"foo\"\n", 1},
		{"unknown type in a group", &meta.NoResourceMatchError{PartialResource: schema.GroupVersionResource{Group: "x.io", Resource: "foo"}}, "error: the server doesn't have a resource type \"foo\" in group \"x.io\"\n", 1},
		{"invalid lists each field", apierrors.NewInvalid(gk, "web", field.ErrorList{
			field.Invalid(field.NewPath("spec", "replicas"), -1, "must be greater than or equal to 0"),
			field.Required(field.NewPath("spec", "selector"), ""),
		}), "The Deployment \"web\" is invalid: \n* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n* spec.selector: Required value\n", 1},
		{"invalid with one field stays on one line", apierrors.NewInvalid(gk, "web", field.ErrorList{field.Required(field.NewPath("spec", "selector"), "")}),
			"The Deployment \"web\" is invalid: spec.selector: Required value\n", 1},
		{"plain errors get the error prefix", errors.New("boom"), "error: boom\n", 1},
		{"an aggregate prints each error", utilerrors.NewAggregate([]error{
			apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "a"), errors.New("b"),
		}), "Error from server (NotFound): pods \"a\" not found\nerror: b\n", 1},
		{"exit codes pass through", &ExitError{Code: 7, Err: fmt.Errorf("command terminated with exit code 7")}, "error: command terminated with exit code 7\n", 7},
		{"ErrExit prints nothing", ErrExit, "", 1},
		{"wrapped status errors keep their shape", fmt.Errorf("get: %w", apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "x")), "Error from server (NotFound): pods \"x\" not found\n", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, code := Format(tc.err)
			if got != tc.want || code != tc.wantCode {
				t.Errorf("Format = %q, %d; want %q, %d", got, code, tc.want, tc.wantCode)
			}
		})
	}
}

func TestWithSourceKeepsTheStatus(t *testing.T) {
	err := WithSource("creating", "web.yaml", apierrors.NewAlreadyExists(schema.GroupResource{Resource: "pods"}, "p"))
	want := "Error from server (AlreadyExists): error when creating \"web.yaml\": pods \"p\" already exists\n"
	if got, _ := Format(err); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
