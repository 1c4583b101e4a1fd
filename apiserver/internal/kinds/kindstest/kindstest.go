// Package kindstest runs the kinds' table-driven validation tests: a table
// of cases, each changing a valid object and naming the first error that
// must follow, put through a kind's strategy as a create or an update.
package kindstest

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// Case is one row of a validation table. Mutate changes a valid object of
// type T; Path and Type name the first error the change must cause, and an
// empty Path says it must cause none.
type Case[T runtime.Object] struct {
	Name   string
	Mutate func(obj T)
	Path   string
	Type   field.ErrorType
}

// Create puts each case through s as the generic store does on create,
// less what it does itself: a fresh object from newObj, mutated, defaulted
// and validated.
func Create[T runtime.Object](t *testing.T, s apiresource.Strategy, newObj func() T, cases []Case[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			obj := newObj()
			c.Mutate(obj)
			s.Default(obj)
			WantErr(t, s.Validate(obj), c.Path, c.Type)
		})
	}
}

// Update puts each case through s as the generic store does on update: a
// defaulted object from newObj is the old one; a copy, mutated, defaulted
// and prepared, is validated against it. A non-empty detail is the message
// that every expected error must carry.
func Update[T runtime.Object](t *testing.T, s apiresource.Strategy, newObj func() T, detail string, cases []Case[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			old := newObj()
			s.Default(old)
			obj := old.DeepCopyObject().(T)
			c.Mutate(obj)
			s.Default(obj)
			s.PrepareForUpdate(obj, old)
			errs := s.ValidateUpdate(obj, old)
			WantErr(t, errs, c.Path, c.Type)
			if detail != "" && c.Path != "" && errs[0].Detail != detail {
				t.Errorf("detail = %q, want %q", errs[0].Detail, detail)
			}
		})
	}
}

// WantErr fails t unless the first of errs is a typ error at path, or,
// when path is "", unless errs is empty. Only the first error is checked:
// a case makes one mistake, and what else the validation reports about it
// is the validation's business.
func WantErr(t testing.TB, errs field.ErrorList, path string, typ field.ErrorType) {
	t.Helper()
	if path == "" {
		if len(errs) != 0 {
			t.Fatalf("want no errors, got %v", errs)
		}
		return
	}
	if len(errs) == 0 {
		t.Fatalf("want %s at %s, got no errors", typ, path)
	}
	if errs[0].Field != path || errs[0].Type != typ {
		t.Fatalf("want %s at %s first, got %v", typ, path, errs)
	}
}
