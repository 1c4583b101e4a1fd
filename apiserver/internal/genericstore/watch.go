package genericstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/etcdstore"
	"coracle.dev/apiserver/internal/watchcache"
)

// WatchOptions select what a watch sees and where it starts.
type WatchOptions struct {
	ListOptions
	AllowBookmarks    bool
	SendInitialEvents *bool
}

// Watch opens a watcher on the kind's cache, with Kubernetes'
// resourceVersion semantics:
//
//	""  or "0"                 the current state as ADDED events, then changes
//	N                          every change after N (410 Gone when N is too old)
//	sendInitialEvents=true     the state at a version not older than N ("" means
//	                           the latest), then a bookmark marking its end
//	sendInitialEvents=false    with "" or "0": changes from now on only
func (s *Store) Watch(ctx context.Context, opts WatchOptions) (*watchcache.Watcher, error) {
	rev, err := etcdstore.ParseRevision(opts.ResourceVersion)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	wopts := watchcache.WatchOptions{
		Revision:       rev,
		AllowBookmarks: opts.AllowBookmarks,
		Predicate:      opts.predicate(),
	}
	if opts.SendInitialEvents != nil {
		if *opts.SendInitialEvents {
			if opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
				return nil, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "",
					fieldErr("resourceVersionMatch", string(opts.ResourceVersionMatch), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
			}
			if !opts.AllowBookmarks {
				return nil, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "",
					fieldErr("allowWatchBookmarks", "false", "sendInitialEvents requires setting allowWatchBookmarks to true"))
			}
			wopts.SendInitialEvents = true
			if opts.ResourceVersion == "" {
				// Consistent: the state at least as new as etcd is now.
				cur, err := s.storage.CurrentRevision(ctx)
				if err != nil {
					return nil, s.storageError(err, "")
				}
				wopts.Revision = cur
			}
		} else if rev == 0 {
			wopts.Revision = s.cache.Revision()
		}
	}
	w, err := s.cache.Watch(ctx, wopts)
	var expired *watchcache.ExpiredError
	switch {
	case err == nil:
		return w, nil
	case errors.As(err, &expired):
		return nil, apierrors.NewResourceExpired(expired.Error())
	case errors.Is(err, watchcache.ErrTooLarge):
		return nil, tooLarge(err)
	case errors.Is(err, watchcache.ErrNotReady):
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: %v", s.desc.String(), err))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, apierrors.NewTimeoutError(err.Error(), 1)
	}
	return nil, apierrors.NewInternalError(err)
}

func tooLarge(err error) error {
	e := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %v", err), 1)
	e.ErrStatus.Details.Causes = append(e.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    metav1.CauseTypeResourceVersionTooLarge,
		Message: "Too large resource version",
	})
	return e
}

// WaitFresh waits until the cache reflects etcd's current revision, for
// reads that must see every acknowledged write.
func (s *Store) WaitFresh(ctx context.Context, wait time.Duration) error {
	cur, err := s.storage.CurrentRevision(ctx)
	if err != nil {
		return s.storageError(err, "")
	}
	if err := s.cache.WaitForRevision(ctx, cur, wait); err != nil {
		return tooLarge(err)
	}
	return nil
}
