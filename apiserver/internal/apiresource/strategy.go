package apiresource

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Strategy holds a kind's own rules. The generic registry has already set
// uid, timestamps, generation and resourceVersion, and copied what status
// owns; the strategy adds what is particular to the kind.
type Strategy interface {
	// Default fills unset fields as Kubernetes does, on create and update.
	Default(obj runtime.Object)
	// PrepareForCreate resets what a client may not set on create.
	PrepareForCreate(obj runtime.Object)
	// PrepareForUpdate carries over from old what a client may not change.
	PrepareForUpdate(obj, old runtime.Object)
	// Validate checks a new object; field paths name each bad field.
	Validate(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks a change, immutable fields included.
	ValidateUpdate(obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks a change made through the status subresource.
	ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList
	// Warnings names fields the object sets that Coracle accepts but does
	// not act on; they go back to the client as Warning headers.
	Warnings(obj runtime.Object) []string
	// AllowCreateOnUpdate lets PUT create a missing object.
	AllowCreateOnUpdate() bool
	// GracePeriod says how long deleting obj waits, given the client's
	// request (nil when unset). graceful false deletes at once.
	GracePeriod(obj runtime.Object, requested *int64) (seconds int64, graceful bool)
}

// DefaultStrategy is embedded by kinds with no rules of their own for some
// of the methods.
type DefaultStrategy struct{}

func (DefaultStrategy) Default(runtime.Object)                                   {}
func (DefaultStrategy) PrepareForCreate(runtime.Object)                          {}
func (DefaultStrategy) PrepareForUpdate(_, _ runtime.Object)                     {}
func (DefaultStrategy) Validate(runtime.Object) field.ErrorList                  { return nil }
func (DefaultStrategy) ValidateUpdate(_, _ runtime.Object) field.ErrorList       { return nil }
func (DefaultStrategy) ValidateStatusUpdate(_, _ runtime.Object) field.ErrorList { return nil }
func (DefaultStrategy) Warnings(runtime.Object) []string                         { return nil }
func (DefaultStrategy) AllowCreateOnUpdate() bool                                { return false }
func (DefaultStrategy) GracePeriod(runtime.Object, *int64) (int64, bool)         { return 0, false }

// DeletionHolder is implemented by strategies of kinds (namespaces) whose
// deletion waits on a field of their own besides metadata.finalizers.
type DeletionHolder interface {
	// HoldsDeletion reports whether obj must stay until that field clears.
	HoldsDeletion(obj runtime.Object) bool
	// MarkDeleting records on obj that deletion has begun.
	MarkDeleting(obj runtime.Object)
}

// RequestPreparer is implemented by strategies of kinds that record who
// created an object (CertificateSigningRequests' spec.username, uid, groups
// and extra), as Kubernetes' strategies read the user from the request
// context. The store calls PrepareForCreateRequest on create, after
// PrepareForCreate, with the request's context; authn.UserFrom reads the
// authenticated user from it.
type RequestPreparer interface {
	PrepareForCreateRequest(ctx context.Context, obj runtime.Object)
}

// SubresourceStrategy is implemented by strategies of kinds whose
// subresources take whole objects (PUT and PATCH, as on the object itself)
// with rules of their own, as Kubernetes gives each such subresource a
// strategy: CertificateSigningRequests' status and approval. For a write
// through sub the store keeps the spec, owner references and finalizers,
// as for any status write, then calls PrepareForSubresourceUpdate and
// validates with ValidateSubresourceUpdate, in place of
// ValidateStatusUpdate.
type SubresourceStrategy interface {
	// PrepareForSubresourceUpdate carries over from old what a write
	// through sub may not change.
	PrepareForSubresourceUpdate(sub string, obj, old runtime.Object)
	// ValidateSubresourceUpdate checks a change made through sub.
	ValidateSubresourceUpdate(sub string, obj, old runtime.Object) field.ErrorList
}
