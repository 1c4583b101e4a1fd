// Package genericstore gives every kind the Kubernetes object semantics on
// top of the etcd store and the watch cache (what Kubernetes calls the
// generic registry Store): uid, timestamps, generateName, generation,
// optimistic concurrency, defaults and validation through the kind's
// strategy, status owned by the status subresource, finalizers and graceful
// deletion, namespace lifecycle, and consistent paged lists.
//
// Every method returns Kubernetes status errors (k8s.io/apimachinery's
// api/errors), ready for the HTTP layer to send.
package genericstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/etcdstore"
	"coracle.dev/apiserver/internal/watchcache"
)

// Allocator claims and releases what a kind allocates in etcd (a Service's
// ClusterIPs and NodePorts) in the same transaction as the object's write.
type Allocator interface {
	// Allocate fills in obj's allocations and returns the claims and
	// releases for writing obj over old (nil on create). taken names the
	// key a previous attempt found taken, "" on the first attempt; the
	// Allocator returns an Invalid error when that key was the client's
	// own request, or picks again.
	Allocate(obj, old runtime.Object, taken string) (etcdstore.Side, error)
	// Release returns the releases for deleting obj.
	Release(obj runtime.Object) etcdstore.Side
}

// Admitter checks or completes a new object using other objects, as
// Kubernetes' admission plugins do (Priority resolves a pod's class).
type Admitter interface {
	AdmitCreate(ctx context.Context, obj runtime.Object) error
}

// UpdateAdmitter is implemented by Admitters that also judge updates, as
// Kubernetes' validating admission sees UPDATE: obj is the object about
// to be written and old the stored one; subresource is "" for the object
// itself. It runs once obj is prepared and valid, before it is written.
type UpdateAdmitter interface {
	AdmitUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error
}

// CreateValidator is implemented by Admitters with a validating phase,
// as kube-apiserver's validating admission (validating webhooks,
// ValidatingAdmissionPolicy): it runs on create once the object is valid,
// just before it is written. AdmitCreate is then their mutating phase.
type CreateValidator interface {
	ValidateCreate(ctx context.Context, obj runtime.Object) error
}

// UpdateMutator is implemented by Admitters with a mutating phase on
// updates, as kube-apiserver's mutating admission: it runs on the new
// object before the kind's defaults, preparation and validation.
// AdmitUpdate is then their validating phase.
type UpdateMutator interface {
	MutateUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error
}

// requestKey carries what admission may ask of the request being served.
type requestKey struct{}

// RequestInfo is what the store knows of the write an admitter judges.
type RequestInfo struct {
	DryRun bool
}

// RequestFrom returns the write's RequestInfo, as admitters read it.
func RequestFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestKey{}).(RequestInfo)
	return ri
}

func withRequest(ctx context.Context, dryRun bool) context.Context {
	return context.WithValue(ctx, requestKey{}, RequestInfo{DryRun: dryRun})
}

// DeleteAdmitter is implemented by Admitters that also judge deletes
// (Kubernetes' DELETE admission); obj is the stored object.
type DeleteAdmitter interface {
	AdmitDelete(ctx context.Context, obj runtime.Object) error
}

// NamespaceChecker refuses creates in namespaces that are missing or
// terminating.
type NamespaceChecker interface {
	CheckCreate(ctx context.Context, namespace string) error
}

// Options build a Store.
type Options struct {
	Descriptor *apiresource.Descriptor
	Storage    *etcdstore.Store
	Cache      *watchcache.Cache
	// Namespaces is nil for cluster-scoped kinds.
	Namespaces NamespaceChecker
	// Allocator is nil for kinds that allocate nothing.
	Allocator Allocator
	// Admitters run on create after defaulting, before validation; those
	// that are UpdateAdmitters or DeleteAdmitters also on updates (after
	// validation) and deletes.
	Admitters []Admitter
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *zap.Logger
}

// Store serves one kind.
type Store struct {
	desc      *apiresource.Descriptor
	storage   *etcdstore.Store
	cache     *watchcache.Cache
	ns        NamespaceChecker
	alloc     Allocator
	admit     []Admitter
	now       func() time.Time
	log       *zap.Logger
	hasStatus bool
	hasSpec   bool
	statusSub bool

	// lastWrite is the newest etcd revision this store wrote, so that a
	// reader of the cache can wait to see this apiserver's own writes.
	lastWrite atomic.Int64
}

// New returns the Store for opts.Descriptor.
func New(opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	sample := opts.Descriptor.New()
	return &Store{
		desc:      opts.Descriptor,
		storage:   opts.Storage,
		cache:     opts.Cache,
		ns:        opts.Namespaces,
		alloc:     opts.Allocator,
		admit:     opts.Admitters,
		now:       now,
		log:       log,
		hasStatus: apiresource.HasField(sample, "Status"),
		hasSpec:   apiresource.HasField(sample, "Spec"),
		statusSub: opts.Descriptor.HasSubresource(apiresource.Status),
	}
}

// Descriptor returns the kind the store serves.
func (s *Store) Descriptor() *apiresource.Descriptor { return s.desc }

// Cache returns the kind's watch cache.
func (s *Store) Cache() *watchcache.Cache { return s.cache }

// LastWrite is the newest etcd revision this store has written, 0 if
// none.
func (s *Store) LastWrite() int64 { return s.lastWrite.Load() }

func (s *Store) wrote(rev int64) {
	for {
		cur := s.lastWrite.Load()
		if rev <= cur || s.lastWrite.CompareAndSwap(cur, rev) {
			return
		}
	}
}

func (s *Store) wroteObject(obj runtime.Object) {
	if m, err := meta.Accessor(obj); err == nil {
		if rev, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64); err == nil {
			s.wrote(rev)
		}
	}
}

// Result is a write's outcome.
type Result struct {
	Object   runtime.Object
	Warnings []string
	// Created is set when an update created the object.
	Created bool
	// Deleted is set when a delete (or an update removing the last
	// finalizer) removed the object from storage.
	Deleted bool
}

// CreateOptions of a create.
type CreateOptions struct {
	DryRun bool
}

const maxGenerateNameAttempts = 8

// Create stores a new object in namespace ns.
func (s *Store) Create(ctx context.Context, ns string, obj runtime.Object, opts CreateOptions) (Result, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return Result{}, apierrors.NewBadRequest(err.Error())
	}
	if s.desc.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(ns)
		} else if ns != "" && m.GetNamespace() != ns {
			return Result{}, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	if generated {
		m.SetName(m.GetGenerateName() + utilrand.String(5))
	}
	s.fillSystemFields(m)
	s.desc.Strategy.Default(obj)
	s.desc.Strategy.PrepareForCreate(obj)
	if p, ok := s.desc.Strategy.(apiresource.RequestPreparer); ok {
		p.PrepareForCreateRequest(ctx, obj)
	}
	ctx = withRequest(ctx, opts.DryRun)
	for _, a := range s.admit {
		if err := a.AdmitCreate(ctx, obj); err != nil {
			return Result{}, err
		}
	}
	if errs := s.validateCreate(obj, m); len(errs) > 0 {
		return Result{}, apierrors.NewInvalid(s.desc.GVK().GroupKind(), m.GetName(), errs)
	}
	for _, a := range s.admit {
		if v, ok := a.(CreateValidator); ok {
			if err := v.ValidateCreate(ctx, obj); err != nil {
				return Result{}, err
			}
		}
	}
	if s.desc.Namespaced && s.ns != nil {
		if err := s.ns.CheckCreate(ctx, m.GetNamespace()); err != nil {
			return Result{}, err
		}
	}
	warnings := s.desc.Strategy.Warnings(obj)
	obj.GetObjectKind().SetGroupVersionKind(s.desc.GVK())
	if opts.DryRun {
		return Result{Object: obj, Warnings: warnings}, nil
	}
	original := obj.DeepCopyObject()
	taken := ""
	for attempt := 0; ; attempt++ {
		side, err := s.allocate(obj, nil, taken)
		if err != nil {
			return Result{}, err
		}
		written, err := s.create(ctx, s.desc.Key(m.GetNamespace(), m.GetName()), obj, side)
		var claim *etcdstore.ClaimError
		switch {
		case err == nil:
			s.wroteObject(written)
			return Result{Object: written, Warnings: warnings}, nil
		case errors.Is(err, etcdstore.ErrExists) && generated && attempt < maxGenerateNameAttempts:
			m.SetName(m.GetGenerateName() + utilrand.String(5))
		case errors.Is(err, etcdstore.ErrExists):
			return Result{}, apierrors.NewAlreadyExists(s.desc.GroupResource(), m.GetName())
		case errors.As(err, &claim) && attempt < 32:
			taken = claim.Key
			fresh := original.DeepCopyObject()
			freshMeta, _ := meta.Accessor(fresh)
			freshMeta.SetName(m.GetName())
			obj, m = fresh, freshMeta
		default:
			return Result{}, s.storageError(err, m.GetName())
		}
	}
}

func (s *Store) allocate(obj, old runtime.Object, taken string) (etcdstore.Side, error) {
	if s.alloc == nil {
		return etcdstore.Side{}, nil
	}
	return s.alloc.Allocate(obj, old, taken)
}

func (s *Store) fillSystemFields(m metav1.Object) {
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(time.Second)))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if s.desc.TracksGeneration {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
}

func (s *Store) validateCreate(obj runtime.Object, m metav1.Object) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaAccessor(m, s.desc.Namespaced, s.nameValidator(), field.NewPath("metadata"))
	return append(errs, s.desc.Strategy.Validate(obj)...)
}

func (s *Store) nameValidator() apivalidation.ValidateNameFunc {
	if s.desc.NameValidator != nil {
		return s.desc.NameValidator
	}
	return apivalidation.NameIsDNSSubdomain
}

// Get reads one object from storage.
func (s *Store) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	obj, err := s.read(ctx, s.desc.Key(ns, name))
	if err != nil {
		return nil, s.storageError(err, name)
	}
	return obj, nil
}

// read returns the object at key in etcd, in the version the store
// serves.
func (s *Store) read(ctx context.Context, key string) (runtime.Object, error) {
	obj := s.desc.NewStored()
	if err := s.storage.Get(ctx, key, obj); err != nil {
		return nil, err
	}
	return s.desc.FromStorage(obj)
}

// create writes obj at key in the form the kind is stored in and returns
// what was written, in the version the store serves, with its
// resourceVersion: obj itself unless the kind is stored in another
// version's form, whose conversion back the client sees as a read would
// show it.
func (s *Store) create(ctx context.Context, key string, obj runtime.Object, side etcdstore.Side) (runtime.Object, error) {
	stored, err := s.desc.ToStorage(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if err := s.storage.Create(ctx, key, stored, side); err != nil {
		return nil, err
	}
	return s.written(obj, stored)
}

// update writes obj over the object at key if that is still at revision
// rev, in the form the kind is stored in, and returns what was written
// as create does.
func (s *Store) update(ctx context.Context, key string, obj runtime.Object, rev int64, side etcdstore.Side) (runtime.Object, error) {
	stored, err := s.desc.ToStorage(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if err := s.storage.Update(ctx, key, stored, rev, side); err != nil {
		return nil, err
	}
	return s.written(obj, stored)
}

func (s *Store) written(obj, stored runtime.Object) (runtime.Object, error) {
	if stored == obj {
		return obj, nil
	}
	out, err := s.desc.FromStorage(stored)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}

func (s *Store) storageError(err error, name string) error {
	switch {
	case errors.Is(err, etcdstore.ErrNotFound):
		return apierrors.NewNotFound(s.desc.GroupResource(), name)
	case errors.Is(err, etcdstore.ErrExists):
		return apierrors.NewAlreadyExists(s.desc.GroupResource(), name)
	case errors.Is(err, etcdstore.ErrConflict):
		return s.conflict(name)
	case errors.Is(err, etcdstore.ErrCompacted):
		return apierrors.NewResourceExpired(err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(fmt.Sprintf("request to storage timed out for %s %q", s.desc.String(), name), 1)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	s.log.Error("storage failed", zap.String("resource", s.desc.String()), zap.String("name", name), zap.Error(err))
	return apierrors.NewInternalError(err)
}

func (s *Store) conflict(name string) error {
	return apierrors.NewConflict(s.desc.GroupResource(), name,
		errors.New(conflictMessage))
}

const conflictMessage = "the object has been modified; please apply your changes to the latest version and try again"
