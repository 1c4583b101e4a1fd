package genericstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/etcdstore"
)

// Finalizers the garbage collector acts on for propagationPolicy.
const (
	FinalizerOrphan     = metav1.FinalizerOrphanDependents
	FinalizerForeground = metav1.FinalizerDeleteDependents
)

// Delete deletes one object, or begins its deletion: an object with
// finalizers, or a pod on a node with a grace period, gets a
// deletionTimestamp and stays until they clear.
func (s *Store) Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (Result, error) {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	key := s.desc.Key(ns, name)
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		current, err := s.read(ctx, key)
		if err != nil {
			return Result{}, s.storageError(err, name)
		}
		res, retry, err := s.tryDelete(ctx, key, name, current, opts, dryRun)
		if retry {
			continue
		}
		return res, err
	}
	return Result{}, s.conflict(name)
}

func (s *Store) tryDelete(ctx context.Context, key, name string, current runtime.Object, opts *metav1.DeleteOptions, dryRun bool) (Result, bool, error) {
	m, _ := meta.Accessor(current)
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != m.GetUID() {
			return Result{}, false, apierrors.NewConflict(s.desc.GroupResource(), name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
			return Result{}, false, apierrors.NewConflict(s.desc.GroupResource(), name,
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
		}
	}
	ctx = withRequest(ctx, dryRun)
	for _, a := range s.admit {
		if d, ok := a.(DeleteAdmitter); ok {
			if err := d.AdmitDelete(ctx, current); err != nil {
				return Result{}, false, err
			}
		}
	}
	rev, _ := etcdstore.ParseRevision(m.GetResourceVersion())
	next := current.DeepCopyObject()
	nm, _ := meta.Accessor(next)
	changed := addPropagationFinalizer(nm, opts)
	now := metav1.NewTime(s.now().Truncate(time.Second))

	grace, graceful := s.desc.Strategy.GracePeriod(current, opts.GracePeriodSeconds)
	if !graceful {
		grace = 0
	}
	if h, ok := s.desc.Strategy.(apiresource.DeletionHolder); ok && h.HoldsDeletion(next) {
		if nm.GetDeletionTimestamp() == nil {
			nm.SetDeletionTimestamp(&now)
			zero := int64(0)
			nm.SetDeletionGracePeriodSeconds(&zero)
			changed = true
		}
		h.MarkDeleting(next)
		return s.writeDeleting(ctx, key, name, next, current, rev, dryRun)
	}

	if dt := nm.GetDeletionTimestamp(); dt != nil {
		// Already being deleted: a shorter grace period moves the
		// deadline closer; zero finishes it.
		cur := nm.GetDeletionGracePeriodSeconds()
		if graceful && grace > 0 && (cur == nil || grace < *cur) {
			deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			nm.SetDeletionTimestamp(&deadline)
			nm.SetDeletionGracePeriodSeconds(&grace)
			return s.writeDeleting(ctx, key, name, next, current, rev, dryRun)
		}
		if grace == 0 && len(nm.GetFinalizers()) > 0 {
			if cur == nil || *cur != 0 {
				zero := int64(0)
				nm.SetDeletionGracePeriodSeconds(&zero)
				changed = true
			}
			if !changed {
				return Result{Object: current}, false, nil
			}
			return s.writeDeleting(ctx, key, name, next, current, rev, dryRun)
		}
		if grace > 0 {
			if changed {
				return s.writeDeleting(ctx, key, name, next, current, rev, dryRun)
			}
			return Result{Object: current}, false, nil
		}
		// grace 0 and no finalizers: delete now, below.
	} else if grace > 0 {
		deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
		nm.SetDeletionTimestamp(&deadline)
		nm.SetDeletionGracePeriodSeconds(&grace)
		// Its controllers now see it going: a new generation, as
		// upstream bumps any object that has one (a pod's too).
		if nm.GetGeneration() > 0 {
			nm.SetGeneration(nm.GetGeneration() + 1)
		}
		return s.writeDeleting(ctx, key, name, next, current, rev, dryRun)
	} else if len(nm.GetFinalizers()) > 0 {
		nm.SetDeletionTimestamp(&now)
		zero := int64(0)
		nm.SetDeletionGracePeriodSeconds(&zero)
		if nm.GetGeneration() > 0 {
			nm.SetGeneration(nm.GetGeneration() + 1)
		}
		return s.writeDeleting(ctx, key, name, next, current, rev, dryRun)
	}

	if dryRun {
		return Result{Object: current, Deleted: true}, false, nil
	}
	delRev, err := s.storage.Delete(ctx, key, rev, s.release(current))
	if errors.Is(err, etcdstore.ErrConflict) {
		return Result{}, true, nil
	}
	if err != nil {
		return Result{}, false, s.storageError(err, name)
	}
	_ = etcdstore.SetRevision(current, delRev)
	s.wrote(delRev)
	return Result{Object: current, Deleted: true}, false, nil
}

// writeDeleting stores an object whose deletion has begun.
func (s *Store) writeDeleting(ctx context.Context, key, name string, next, current runtime.Object, rev int64, dryRun bool) (Result, bool, error) {
	if dryRun {
		return Result{Object: next}, false, nil
	}
	if unchanged(next, current) {
		return Result{Object: current}, false, nil
	}
	written, err := s.update(ctx, key, next, rev, etcdstore.Side{})
	if errors.Is(err, etcdstore.ErrConflict) || errors.Is(err, etcdstore.ErrNotFound) {
		return Result{}, true, nil
	}
	if err != nil {
		return Result{}, false, s.storageError(err, name)
	}
	s.wroteObject(written)
	return Result{Object: written}, false, nil
}

// addPropagationFinalizer adds the garbage collector's finalizer the
// propagation policy asks for, and reports whether it added one.
func addPropagationFinalizer(m metav1.Object, opts *metav1.DeleteOptions) bool {
	var want string
	switch {
	case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationOrphan:
		want = FinalizerOrphan
	case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationForeground:
		want = FinalizerForeground
	case opts.PropagationPolicy == nil && opts.OrphanDependents != nil && *opts.OrphanDependents: //nolint:staticcheck // still sent by old clients
		want = FinalizerOrphan
	default:
		return false
	}
	for _, f := range m.GetFinalizers() {
		if f == want {
			return false
		}
	}
	m.SetFinalizers(append(m.GetFinalizers(), want))
	return true
}

// DeleteCollection deletes every object opts selects and returns them.
func (s *Store) DeleteCollection(ctx context.Context, opts ListOptions, del *metav1.DeleteOptions, dryRun bool) (runtime.Object, error) {
	opts.Limit, opts.Continue, opts.ResourceVersion = 0, "", ""
	list, err := s.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var deleted []runtime.Object
	for _, item := range items {
		m, _ := meta.Accessor(item)
		res, err := s.Delete(ctx, m.GetNamespace(), m.GetName(), del, dryRun)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		deleted = append(deleted, res.Object)
	}
	out := s.desc.NewList()
	if err := meta.SetList(out, deleted); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm, _ := meta.ListAccessor(list)
	om, _ := meta.ListAccessor(out)
	om.SetResourceVersion(lm.GetResourceVersion())
	out.GetObjectKind().SetGroupVersionKind(s.desc.GroupVersion().WithKind(s.desc.Kind + "List"))
	return out, nil
}
