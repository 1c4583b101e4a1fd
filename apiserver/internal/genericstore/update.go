package genericstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/etcdstore"
)

// UpdateFunc returns the desired object given the current one (nil when
// there is none and the kind allows create on update). It must not keep
// current: the store hands it a private copy.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// UpdateOptions of an update.
type UpdateOptions struct {
	DryRun bool
	// Subresource is "" for the object itself, "status", or a subresource
	// (binding, finalize) whose caller changes only what it owns.
	Subresource string
	// CreateIfMissing creates the object when there is none, as a
	// server-side apply does, whatever the kind's AllowCreateOnUpdate.
	CreateIfMissing bool
}

const maxUpdateAttempts = 16

// Update changes one object: PUT, PATCH, and every subresource write. It
// reads the current object, asks tryUpdate for the desired one and writes it
// if the object is still at the revision read. A client that named a
// resourceVersion gets 409 Conflict when it is stale; otherwise the store
// reads again and retries.
func (s *Store) Update(ctx context.Context, ns, name string, tryUpdate UpdateFunc, opts UpdateOptions) (Result, error) {
	key := s.desc.Key(ns, name)
	// The first attempt starts from the watch cache's copy, saving an etcd
	// read, as Kubernetes does; the write is still guarded by the copy's
	// revision. Whatever looks wrong on a cached copy (a conflict, an
	// error, nothing to write) is decided again on a fresh read.
	fromCache := s.cache != nil
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		var current runtime.Object
		if fromCache {
			current = s.cache.Get(key)
			fromCache = current != nil
		}
		if !fromCache {
			var err error
			current, err = s.read(ctx, key)
			if errors.Is(err, etcdstore.ErrNotFound) {
				return s.createOnUpdate(ctx, ns, name, tryUpdate, opts)
			}
			if err != nil {
				return Result{}, s.storageError(err, name)
			}
		}
		res, retry, err := s.tryUpdate(ctx, key, name, current, tryUpdate, opts, fromCache)
		if fromCache && (retry || err != nil) {
			fromCache = false
			continue
		}
		if retry {
			continue
		}
		return res, err
	}
	return Result{}, s.conflict(name)
}

func (s *Store) createOnUpdate(ctx context.Context, ns, name string, tryUpdate UpdateFunc, opts UpdateOptions) (Result, error) {
	if opts.Subresource != "" || !(s.desc.Strategy.AllowCreateOnUpdate() || opts.CreateIfMissing) {
		return Result{}, apierrors.NewNotFound(s.desc.GroupResource(), name)
	}
	obj, err := tryUpdate(nil)
	if err != nil {
		return Result{}, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return Result{}, apierrors.NewBadRequest(err.Error())
	}
	if m.GetResourceVersion() != "" {
		return Result{}, apierrors.NewNotFound(s.desc.GroupResource(), name)
	}
	if m.GetName() != name {
		return Result{}, nameMismatch(m.GetName(), name)
	}
	res, err := s.Create(ctx, ns, obj, CreateOptions{DryRun: opts.DryRun})
	res.Created = err == nil
	return res, err
}

// tryUpdate makes one attempt; retry reports a lost race worth retrying.
// stale says current came from the watch cache and may be behind etcd.
func (s *Store) tryUpdate(ctx context.Context, key, name string, current runtime.Object, tryUpdate UpdateFunc, opts UpdateOptions, stale bool) (Result, bool, error) {
	curMeta, _ := meta.Accessor(current)
	curRV := curMeta.GetResourceVersion()
	curRev, _ := etcdstore.ParseRevision(curRV)

	obj, err := tryUpdate(current.DeepCopyObject())
	if err != nil {
		return Result{}, false, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return Result{}, false, apierrors.NewBadRequest(err.Error())
	}
	if m.GetName() != name {
		return Result{}, false, nameMismatch(m.GetName(), name)
	}
	if s.desc.Namespaced && m.GetNamespace() != curMeta.GetNamespace() {
		if m.GetNamespace() != "" {
			return Result{}, false, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		m.SetNamespace(curMeta.GetNamespace())
	}
	pinned := m.GetResourceVersion() != ""
	if pinned && m.GetResourceVersion() != curRV {
		return Result{}, false, s.conflict(name)
	}
	if uid := m.GetUID(); uid != "" && uid != curMeta.GetUID() {
		return Result{}, false, apierrors.NewConflict(s.desc.GroupResource(), name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, curMeta.GetUID()))
	}
	s.carrySystemFields(m, curMeta)
	ctx = withRequest(ctx, opts.DryRun)
	for _, a := range s.admit {
		if mu, ok := a.(UpdateMutator); ok {
			if err := mu.MutateUpdate(ctx, opts.Subresource, obj, current); err != nil {
				return Result{}, false, err
			}
		}
	}

	errs := apivalidation.ValidateObjectMetaAccessorUpdate(m, curMeta, field.NewPath("metadata"))
	switch opts.Subresource {
	case "":
		if s.hasStatus && s.statusSub {
			apiresource.CopyField(obj, current, "Status")
		}
		s.desc.Strategy.Default(obj)
		s.desc.Strategy.PrepareForUpdate(obj, current)
		errs = append(errs, apivalidation.ValidateObjectMetaAccessor(m, s.desc.Namespaced, s.nameValidator(), field.NewPath("metadata"))...)
		errs = append(errs, s.desc.Strategy.ValidateUpdate(obj, current)...)
	case apiresource.Status:
		errs = append(errs, s.prepareSubresource(opts.Subresource, obj, current)...)
	default:
		if _, ok := s.desc.Strategy.(apiresource.SubresourceStrategy); ok {
			// approval: a whole object, with the kind's own rules.
			errs = append(errs, s.prepareSubresource(opts.Subresource, obj, current)...)
		}
		// Otherwise binding, finalize: the caller changed only what the
		// subresource owns, on a copy of the current object.
	}
	if len(errs) > 0 {
		return Result{}, false, apierrors.NewInvalid(s.desc.GVK().GroupKind(), name, errs)
	}
	for _, a := range s.admit {
		if u, ok := a.(UpdateAdmitter); ok {
			if err := u.AdmitUpdate(ctx, opts.Subresource, obj, current); err != nil {
				return Result{}, false, err
			}
		}
	}
	if s.desc.TracksGeneration && s.hasSpec && !apiresource.FieldEqual(obj, current, "Spec") {
		m.SetGeneration(curMeta.GetGeneration() + 1)
	}
	warnings := s.desc.Strategy.Warnings(obj)
	obj.GetObjectKind().SetGroupVersionKind(s.desc.GVK())

	// The last finalizer gone from an object being deleted: delete it.
	if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && !s.holdsDeletion(obj) &&
		(m.GetDeletionGracePeriodSeconds() == nil || *m.GetDeletionGracePeriodSeconds() == 0) {
		if opts.DryRun {
			return Result{Object: obj, Warnings: warnings, Deleted: true}, false, nil
		}
		rev, err := s.storage.Delete(ctx, key, curRev, s.release(current))
		if errors.Is(err, etcdstore.ErrConflict) && (!pinned || stale) {
			return Result{}, true, nil
		}
		if err != nil {
			return Result{}, false, s.storageError(err, name)
		}
		_ = etcdstore.SetRevision(obj, rev)
		s.wrote(rev)
		return Result{Object: obj, Warnings: warnings, Deleted: true}, false, nil
	}

	if unchanged(obj, current) {
		if stale {
			// Unchanged from a copy that may be old is not unchanged.
			return Result{}, true, nil
		}
		return Result{Object: current, Warnings: warnings}, false, nil
	}
	if opts.DryRun {
		return Result{Object: obj, Warnings: warnings}, false, nil
	}
	taken := ""
	original := obj.DeepCopyObject()
	for attempt := 0; attempt < 32; attempt++ {
		side, err := s.allocate(obj, current, taken)
		if err != nil {
			return Result{}, false, err
		}
		written, err := s.update(ctx, key, obj, curRev, side)
		var claim *etcdstore.ClaimError
		switch {
		case err == nil:
			s.wroteObject(written)
			return Result{Object: written, Warnings: warnings}, false, nil
		case errors.Is(err, etcdstore.ErrConflict) && (!pinned || stale):
			return Result{}, true, nil
		case errors.Is(err, etcdstore.ErrNotFound) && (!pinned || stale):
			return Result{}, true, nil
		case errors.As(err, &claim):
			taken = claim.Key
			obj = original.DeepCopyObject()
		default:
			return Result{}, false, s.storageError(err, name)
		}
	}
	return Result{}, false, apierrors.NewInternalError(errors.New("allocation kept colliding"))
}

// carrySystemFields keeps what only the server sets.
func (s *Store) carrySystemFields(m, cur metav1.Object) {
	m.SetResourceVersion(cur.GetResourceVersion())
	if m.GetUID() == "" {
		m.SetUID(cur.GetUID())
	}
	m.SetCreationTimestamp(cur.GetCreationTimestamp())
	m.SetDeletionTimestamp(cur.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(cur.GetDeletionGracePeriodSeconds())
	m.SetGeneration(cur.GetGeneration())
	if m.GetManagedFields() == nil {
		// Writers that keep no managed fields (the server's own) leave
		// them as they were.
		m.SetManagedFields(cur.GetManagedFields())
	}
	m.SetSelfLink("")
	if m.GetGenerateName() == "" {
		m.SetGenerateName(cur.GetGenerateName())
	}
}

// prepareSubresource keeps what a write of a whole object through sub may
// not change and validates the change: with the kind's SubresourceStrategy
// if it has one, else as a status write.
func (s *Store) prepareSubresource(sub string, obj, current runtime.Object) field.ErrorList {
	// Pods' binding, ephemeralcontainers and resize write part of the
	// spec: the caller, or the kind's strategy, keeps the rest.
	if sub != apiresource.Binding && sub != apiresource.EphemeralContainers && sub != apiresource.Resize {
		s.keepAllButStatus(obj, current)
	}
	ss, ok := s.desc.Strategy.(apiresource.SubresourceStrategy)
	if !ok {
		return s.desc.Strategy.ValidateStatusUpdate(obj, current)
	}
	ss.PrepareForSubresourceUpdate(sub, obj, current)
	return ss.ValidateSubresourceUpdate(sub, obj, current)
}

// keepAllButStatus makes a status write change only the status, labels and
// annotations, as Kubernetes' status strategies do.
func (s *Store) keepAllButStatus(obj, current runtime.Object) {
	if s.hasSpec {
		apiresource.CopyField(obj, current, "Spec")
	}
	m, _ := meta.Accessor(obj)
	cm, _ := meta.Accessor(current)
	m.SetOwnerReferences(cm.GetOwnerReferences())
	m.SetFinalizers(cm.GetFinalizers())
}

func (s *Store) holdsDeletion(obj runtime.Object) bool {
	h, ok := s.desc.Strategy.(apiresource.DeletionHolder)
	return ok && h.HoldsDeletion(obj)
}

func (s *Store) release(obj runtime.Object) etcdstore.Side {
	if s.alloc == nil {
		return etcdstore.Side{}
	}
	return s.alloc.Release(obj)
}

// unchanged reports whether writing obj would store what is already there.
func unchanged(obj, current runtime.Object) bool {
	a, err := etcdstore.Encode(obj)
	if err != nil {
		return false
	}
	b, err := etcdstore.Encode(current)
	if err != nil {
		return false
	}
	return bytes.Equal(a, b)
}

func nameMismatch(inBody, inURL string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", inBody, inURL))
}
