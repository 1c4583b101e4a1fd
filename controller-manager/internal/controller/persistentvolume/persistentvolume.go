// Package persistentvolume is the PersistentVolume controller, Kubernetes'
// persistentvolume-binder-controller: it binds claims to volumes, asks
// external provisioners for volumes where none fits, and releases and
// reclaims a volume once its claim is gone.
//
// Binding is a two-sided pointer, the volume's spec.claimRef and the
// claim's spec.volumeName, written in a fixed order with no transaction
// over both: the volume's claimRef first (an update at the version the
// controller last saw, so of two binders racing for one volume only one
// wins), then the volume's phase, then the claim's volumeName and
// annotations, then the claim's phase. Every step is idempotent and every
// state between two steps is recognised and finished by the next sync of
// either object, whoever (this controller, the scheduler, a user) left
// it there.
//
//	claim:  Pending ──bind──► Bound ──volume gone/taken──► Lost
//	volume: Pending ─► Available ──bind──► Bound ──claim deleted──► Released
//	                                           (Retain: stays; Delete: the
//	                                           provisioner's; else Failed)
//
// As in Kubernetes each of the two queues (claims, volumes) has exactly
// one worker: syncClaim is not re-entrant, and two of them could pick the
// same volume for two claims, costing a conflict and a retry.
package persistentvolume

import (
	"context"
	"fmt"
	"strconv"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/pvcprotection"
)

// Name is the controller's name.
const Name = "persistentvolume-binder-controller"

// Controller binds claims and volumes.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	recorder record.EventRecorder
	log      *zap.Logger

	volumeLister corelisters.PersistentVolumeLister
	claimLister  corelisters.PersistentVolumeClaimLister
	classLister  storagelisters.StorageClassLister
	pods         pvcprotection.PodIndex

	// volumes and claims are the last version of each object the
	// controller knows of: from the informers, or newer, from its own
	// writes. Binding writes four objects in turn, and their events come
	// back in any order; reading its own writes here, the controller does
	// not mistake the informer's older copy for a binding to repair (and
	// lose a round to a conflict). An older version than the one held is
	// ignored. Only the two workers touch them; the stores are safe for
	// that, and their objects are never modified, only replaced.
	volumes volumeIndex
	claims  cache.Store

	volumeQueue *controller.Queue[string]
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	volumes := c.Informers.Core().V1().PersistentVolumes()
	claims := c.Informers.Core().V1().PersistentVolumeClaims()
	classes := c.Informers.Storage().V1().StorageClasses()
	pods := c.Informers.Core().V1().Pods()
	podIndex, err := pvcprotection.NewPodIndex(pods.Informer())
	if err != nil {
		return nil, err
	}
	ctl := &Controller{
		client:       c.Client,
		recorder:     c.Recorder,
		log:          c.Log,
		volumeLister: volumes.Lister(),
		claimLister:  claims.Lister(),
		classLister:  classes.Lister(),
		pods:         podIndex,
		volumes:      newVolumeIndex(),
		claims:       cache.NewStore(cache.DeletionHandlingMetaNamespaceKeyFunc),
	}
	// One worker per queue (see the package comment).
	c.Workers = 1
	ctl.Base = controller.NewBase(c, ctl.syncClaimByKey)
	ctl.volumeQueue = ctl.AddQueue(c, Name+"-volumes", ctl.syncVolumeByKey)
	if err := ctl.Watch(claims.Informer(), ctl.Objects()); err != nil {
		return nil, err
	}
	enqueueVolume := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			ctl.volumeQueue.Add(key)
		}
	}
	if err := ctl.Watch(volumes.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueVolume,
		UpdateFunc: func(_, obj any) { enqueueVolume(obj) },
		DeleteFunc: enqueueVolume,
	}); err != nil {
		return nil, err
	}
	ctl.WaitFor(classes.Informer(), pods.Informer())
	ctl.OnSynced(ctl.initializeCaches)
	// Every claim and volume again each --pvclaimbinder-sync-period: the
	// resync is what binds a Pending claim to a volume created after it
	// (a new volume only becomes Available, it looks for no claims).
	ctl.Every(c.Settings.PVClaimBinderSyncPeriod, ctl.resync)
	return ctl, nil
}

// initializeCaches fills the controller's caches from the informers, so
// that the first syncs already see every volume and claim.
func (c *Controller) initializeCaches(context.Context) {
	pvs, err := c.volumeLister.List(labels.Everything())
	if err != nil {
		c.log.Error("list volumes", zap.Error(err))
		return
	}
	for _, pv := range pvs {
		if _, err := storeUpdate(c.volumes.store, pv); err != nil {
			c.log.Error("cache volume", zap.String("volume", pv.Name), zap.Error(err))
		}
	}
	pvcs, err := c.claimLister.List(labels.Everything())
	if err != nil {
		c.log.Error("list claims", zap.Error(err))
		return
	}
	for _, pvc := range pvcs {
		if _, err := storeUpdate(c.claims, pvc); err != nil {
			c.log.Error("cache claim", zap.String("claim", controller.Key(pvc)), zap.Error(err))
		}
	}
}

// resync queues every claim and volume: Kubernetes' periodic sync, which
// the shared informers' own resync (off) does not give.
func (c *Controller) resync(context.Context) {
	pvcs, err := c.claimLister.List(labels.Everything())
	if err != nil {
		c.log.Info("resync: list claims", zap.Error(err))
		return
	}
	for _, pvc := range pvcs {
		c.Enqueue(controller.Key(pvc))
	}
	pvs, err := c.volumeLister.List(labels.Everything())
	if err != nil {
		c.log.Info("resync: list volumes", zap.Error(err))
		return
	}
	for _, pv := range pvs {
		c.volumeQueue.Add(pv.Name)
	}
}

// syncClaimByKey syncs the claim of key from the informer's cache, or,
// if it is gone from there, handles its deletion once.
func (c *Controller) syncClaimByKey(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := c.claimLister.PersistentVolumeClaims(ns).Get(name)
	if err == nil {
		isNew, err := storeUpdate(c.claims, claim)
		if err != nil || !isNew {
			return err
		}
		return retryable(fmt.Sprintf("sync claim %s", key), c.syncClaim(ctx, claim))
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	obj, found, err := c.claims.GetByKey(key)
	if err != nil || !found {
		return err
	}
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	// The claim was deleted: forget it, and sync its volume now rather
	// than at the next resync, so it is Released at once.
	if err := c.claims.Delete(claim); err != nil {
		return err
	}
	if claim.Spec.VolumeName != "" {
		c.volumeQueue.Add(claim.Spec.VolumeName)
	}
	return nil
}

// syncVolumeByKey is syncClaimByKey for volumes.
func (c *Controller) syncVolumeByKey(ctx context.Context, key string) error {
	volume, err := c.volumeLister.Get(key)
	if err == nil {
		isNew, err := storeUpdate(c.volumes.store, volume)
		if err != nil || !isNew {
			return err
		}
		return retryable(fmt.Sprintf("sync volume %s", key), c.syncVolume(ctx, volume))
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	volume, found, err := c.volumes.get(key)
	if err != nil || !found {
		return err
	}
	// The volume was deleted: forget it, and sync its claim now, which
	// is then Lost.
	if err := c.volumes.store.Delete(volume); err != nil {
		return err
	}
	if ref := volume.Spec.ClaimRef; ref != nil {
		c.Enqueue(ref.Namespace + "/" + ref.Name)
	}
	return nil
}

// retryable wraps a sync's error with what was synced. A conflict (the
// object changed since the controller read it: another writer, or a
// binding race lost) is part of normal operation, retried with the
// queue's back-off from the fresh state: it is marked as waiting, so it
// is not logged and counted as a failure.
func retryable(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s: %w: %w", what, controller.ErrWaiting, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// storeVolume and storeClaim put an object the controller just wrote
// into its cache.
func (c *Controller) storeVolume(pv *corev1.PersistentVolume) {
	if _, err := storeUpdate(c.volumes.store, pv); err != nil {
		c.log.Debug("cache volume", zap.String("volume", pv.Name), zap.Error(err))
	}
}

func (c *Controller) storeClaim(pvc *corev1.PersistentVolumeClaim) {
	if _, err := storeUpdate(c.claims, pvc); err != nil {
		c.log.Debug("cache claim", zap.String("claim", controller.Key(pvc)), zap.Error(err))
	}
}

// storeUpdate puts obj into store unless the store holds a newer version
// of it; false means obj is older and should be ignored. The same
// version passes, so periodic resyncs are synced.
func storeUpdate(store cache.Store, obj any) (bool, error) {
	old, found, err := store.Get(obj)
	if err != nil {
		return false, err
	}
	if !found {
		return true, store.Add(obj)
	}
	newer, err := resourceVersion(obj)
	if err != nil {
		return false, err
	}
	held, err := resourceVersion(old)
	if err != nil {
		return false, err
	}
	if held > newer {
		return false, nil
	}
	return true, store.Update(obj)
}

func resourceVersion(obj any) (int64, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0, err
	}
	rv, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resourceVersion %q of %s: %w", m.GetResourceVersion(), m.GetName(), err)
	}
	return rv, nil
}
