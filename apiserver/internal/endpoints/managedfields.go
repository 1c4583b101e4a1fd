package endpoints

import (
	"strings"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/fieldmanager"
)

// FieldManager records who owns which fields of a kind written through
// one endpoint (metadata.managedFields) and merges server-side apply
// patches: a *fieldmanager.Manager.
type FieldManager interface {
	// Update records manager's changes from live (nil on create) to obj.
	Update(live, obj runtime.Object, manager string) (runtime.Object, error)
	// Apply merges an apply patch into live (nil when absent).
	Apply(live runtime.Object, patch []byte, manager string, force bool) (runtime.Object, error)
}

// fieldManager is the manager of the request's kind through sub, nil
// when the kind keeps no managed fields.
func (r *request) fieldManager(sub string) FieldManager {
	if r.api.opts.FieldManager == nil {
		return nil
	}
	return r.api.opts.FieldManager(r.desc, sub)
}

// managerName is the fieldManager query parameter, else the name
// Kubernetes derives from the User-Agent; 422 when it is not a valid
// manager name, with the options kind the verb takes (CreateOptions,
// UpdateOptions, PatchOptions).
func (r *request) managerName(optionsKind string) (string, error) {
	name := r.c.Query("fieldManager")
	if errs := metav1validation.ValidateFieldManager(name, field.NewPath("fieldManager")); len(errs) > 0 {
		return "", apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: optionsKind}, "", errs)
	}
	if name == "" {
		name = fieldmanager.DefaultManagerName(r.c.Request.UserAgent())
	}
	return name, nil
}

// patchOptions checks what PATCH takes: a fieldManager for apply, force
// only with apply, as kube-apiserver.
func (r *request) patchOptions(pt types.PatchType) (manager string, force bool, err error) {
	opts := &metav1.PatchOptions{FieldManager: r.c.Query("fieldManager")}
	if v := r.c.Query("force"); v != "" {
		f := strings.EqualFold(v, "true")
		opts.Force = &f
	}
	if errs := metav1validation.ValidatePatchOptions(opts, pt); len(errs) > 0 {
		return "", false, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", errs)
	}
	manager, err = r.managerName("PatchOptions")
	return manager, opts.Force != nil && *opts.Force, err
}

// recordManaged updates obj's managedFields for a write by manager over
// live (nil on create). A failure leaves live's, as kube-apiserver logs
// it and goes on: managed fields never fail a write.
func (r *request) recordManaged(fm FieldManager, live, obj runtime.Object, manager string) runtime.Object {
	if fm == nil {
		return obj
	}
	out, err := fm.Update(live, obj, manager)
	if err != nil {
		r.api.log.Debug("managed fields not updated", zap.String("resource", r.desc.String()), zap.String("name", r.info.Name), zap.Error(err))
		return obj
	}
	return out
}
