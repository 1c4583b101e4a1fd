// Package controller is the provisioner's loop, on client-go informers:
// the claims it provisions, the volumes it deletes and the claims it
// expands (package volume decides, package helperpod does the disk
// work), the helper pods nobody waits for any more, and the ConfigMap of
// storage roots.
//
// Three queues, each level-triggered: a claim key (namespace/name) is
// provisioned if it wants a volume and has none, or expanded if it is
// bound and asks for more; a volume key (name) is deleted if it is ours,
// Released and reclaimed by Delete; a helper pod key (name) is cleaned
// up if no Run waits for it and its work is moot (the claim it was for is
// gone). Each work item runs in one worker at a time; a failure is
// retried with back-off. Events follow the external provisioner library
// and external-resizer to the word.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
	"k8s.io/client-go/util/workqueue"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"coracle.dev/addons/local-path/internal/config"
	"coracle.dev/addons/local-path/internal/helper"
	"coracle.dev/addons/local-path/internal/helperpod"
	"coracle.dev/addons/local-path/internal/volume"
)

// Event reasons: the external provisioner library's and external-resizer's.
const (
	ReasonProvisioning              = "Provisioning"
	ReasonProvisioningSucceeded     = "ProvisioningSucceeded"
	ReasonProvisioningFailed        = "ProvisioningFailed"
	ReasonProvisioningCleanupFailed = "ProvisioningCleanupFailed"
	ReasonVolumeFailedDelete        = "VolumeFailedDelete"
	ReasonResizing                  = "Resizing"
	ReasonVolumeResizeFailed        = "VolumeResizeFailed"
	ReasonVolumeResizeSuccess       = "VolumeResizeSuccessful"
	// ReasonInvalidConfiguration is this provisioner's, on its ConfigMap.
	ReasonInvalidConfiguration = "InvalidConfiguration"
)

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Factory informs about claims, volumes, classes and nodes.
	Factory informers.SharedInformerFactory
	// Helpers informs about the helper pods (the namespace's pods with
	// helperpod's label).
	Helpers informers.SharedInformerFactory
	// ConfigMaps informs about the configuration's ConfigMap (the
	// namespace's ConfigMaps, selected by name).
	ConfigMaps informers.SharedInformerFactory
	Recorder   record.EventRecorder
	// Provisioner is the provisioner's name.
	Provisioner string
	// Namespace holds the ConfigMap and the helper pods.
	Namespace string
	// ConfigMap is the ConfigMap's name.
	ConfigMap string
	// Helper describes the helper pods.
	Helper helperpod.Template
	// Workers is how many claims (and volumes) are worked on at once.
	Workers int
	// RetryBase and RetryMax bound the back-off of a failed work item.
	RetryBase, RetryMax time.Duration
	Log                 *zap.Logger
}

// Controller provisions, deletes and expands local-path volumes.
type Controller struct {
	cfg     Config
	log     *zap.Logger
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	nodes   corelisters.NodeLister
	helpers corelisters.PodNamespaceLister
	runner  *helperpod.Runner
	synced  []toolscache.InformerSynced

	claimQueue  workqueue.TypedRateLimitingInterface[string]
	volumeQueue workqueue.TypedRateLimitingInterface[string]
	helperQueue workqueue.TypedRateLimitingInterface[string]

	mu sync.RWMutex // guards nodeConfig and configErr
	// nodeConfig is the last good configuration; nil before the first.
	nodeConfig *config.Config
	// configErr is why there is none, while nodeConfig is nil.
	configErr error
}

// New builds the controller and registers its event handlers; Run
// starts it once the factories are started.
func New(cfg Config) (*Controller, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = 5 * time.Minute
	}
	f := cfg.Factory
	helperPods := cfg.Helpers.Core().V1().Pods()
	queue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](cfg.RetryBase, cfg.RetryMax),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
	}
	c := &Controller{
		cfg:         cfg,
		log:         cfg.Log,
		claims:      f.Core().V1().PersistentVolumeClaims().Lister(),
		volumes:     f.Core().V1().PersistentVolumes().Lister(),
		classes:     f.Storage().V1().StorageClasses().Lister(),
		nodes:       f.Core().V1().Nodes().Lister(),
		helpers:     helperPods.Lister().Pods(cfg.Namespace),
		claimQueue:  queue("local-path-claims"),
		volumeQueue: queue("local-path-volumes"),
		helperQueue: queue("local-path-helpers"),
		configErr:   fmt.Errorf("configmap %s/%s not found", cfg.Namespace, cfg.ConfigMap),
	}
	c.runner = helperpod.NewRunner(cfg.Client, c.helpers, cfg.Helper, cfg.Log.Named("helper"))

	add := func(inf toolscache.SharedIndexInformer, h toolscache.ResourceEventHandler) error {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
		return nil
	}
	errs := []error{
		add(f.Core().V1().PersistentVolumeClaims().Informer(), toolscache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueClaim,
			UpdateFunc: func(_, obj any) { c.enqueueClaim(obj) },
		}),
		add(f.Core().V1().PersistentVolumes().Informer(), toolscache.ResourceEventHandlerFuncs{
			AddFunc:    c.volumeChanged,
			UpdateFunc: func(_, obj any) { c.volumeChanged(obj) },
			DeleteFunc: c.volumeChanged,
		}),
		add(f.Storage().V1().StorageClasses().Informer(), toolscache.ResourceEventHandlerFuncs{
			AddFunc:    c.classChanged,
			UpdateFunc: func(_, obj any) { c.classChanged(obj) },
		}),
		add(f.Core().V1().Nodes().Informer(), toolscache.ResourceEventHandlerFuncs{}),
		add(helperPods.Informer(), toolscache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueHelper,
			UpdateFunc: func(_, obj any) { c.enqueueHelper(obj) },
		}),
		add(cfg.ConfigMaps.Core().V1().ConfigMaps().Informer(), toolscache.ResourceEventHandlerFuncs{
			AddFunc:    c.configChanged,
			UpdateFunc: func(_, obj any) { c.configChanged(obj) },
			DeleteFunc: func(any) {
				c.log.Warn("configmap deleted; keeping the last configuration",
					zap.String("configmap", cfg.Namespace+"/"+cfg.ConfigMap))
			},
		}),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) enqueueClaim(obj any) {
	if key, err := toolscache.MetaNamespaceKeyFunc(obj); err == nil {
		c.claimQueue.Add(key)
	}
}

// volumeChanged queues the volume (for deletion) and its claim (for an
// expansion, which waits for the volume's capacity).
func (c *Controller) volumeChanged(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pv, ok := obj.(*v1.PersistentVolume)
	if !ok {
		return
	}
	c.volumeQueue.Add(pv.Name)
	if ref := pv.Spec.ClaimRef; ref != nil {
		c.claimQueue.Add(ref.Namespace + "/" + ref.Name)
	}
}

// classChanged queues the claims of the class: a class that appears late
// or now allows expansion lets them go on.
func (c *Controller) classChanged(obj any) {
	class, ok := obj.(*storagev1.StorageClass)
	if !ok || class.Provisioner != c.cfg.Provisioner {
		return
	}
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, claim := range claims {
		if storagehelpers.GetPersistentVolumeClaimClass(claim) == class.Name {
			c.enqueueClaim(claim)
		}
	}
}

func (c *Controller) enqueueHelper(obj any) {
	if pod, ok := obj.(*v1.Pod); ok {
		c.helperQueue.Add(pod.Name)
	}
}

// configChanged loads the configuration; a bad one is refused with an
// event on the ConfigMap, and the last good one stays. Claims that wait
// are retried at once with a new one.
func (c *Controller) configChanged(obj any) {
	cm, ok := obj.(*v1.ConfigMap)
	if !ok || cm.Name != c.cfg.ConfigMap {
		return
	}
	nc, err := config.Parse([]byte(cm.Data[config.Key]))
	if err != nil {
		c.log.Error("failed to load the new config file; keeping the last one", zap.Error(err))
		c.cfg.Recorder.Event(cm, v1.EventTypeWarning, ReasonInvalidConfiguration, err.Error())
		c.mu.Lock()
		if c.nodeConfig == nil {
			c.configErr = err
		}
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.nodeConfig, c.configErr = nc, nil
	c.mu.Unlock()
	c.log.Info("configuration loaded", zap.Stringer("nodePathMap", nc), zap.Duration("cmdTimeout", nc.CmdTimeout))
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, claim := range claims {
		if claim.Spec.VolumeName == "" {
			c.enqueueClaim(claim)
		}
	}
}

// nodeConfiguration is the configuration in force, or why there is none.
func (c *Controller) nodeConfiguration() (*config.Config, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.nodeConfig == nil {
		return nil, fmt.Errorf("no valid config available: %w", c.configErr)
	}
	return c.nodeConfig, nil
}

// cmdTimeout bounds a helper pod.
func (c *Controller) cmdTimeout() time.Duration {
	if nc, err := c.nodeConfiguration(); err == nil {
		return nc.CmdTimeout
	}
	return config.DefaultCmdTimeout
}

// Run works until ctx ends; the factories must be started. It returns
// once the caches have synced and the workers run — synced closes then —
// or ctx ended first.
func (c *Controller) Run(ctx context.Context, synced chan<- struct{}) {
	var wg sync.WaitGroup
	defer func() {
		c.claimQueue.ShutDown()
		c.volumeQueue.ShutDown()
		c.helperQueue.ShutDown()
		wg.Wait()
	}()
	if !toolscache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	work := func(q workqueue.TypedRateLimitingInterface[string], kind string, sync func(context.Context, string) error) {
		defer wg.Done()
		for c.processNext(ctx, q, kind, sync) {
		}
	}
	for range c.cfg.Workers {
		wg.Add(2)
		go work(c.claimQueue, "claim", c.syncClaim)
		go work(c.volumeQueue, "volume", c.syncVolume)
	}
	wg.Add(1)
	go work(c.helperQueue, "helper pod", c.syncHelper)
	close(synced)
	c.log.Info("provisioner started", zap.String("provisioner", c.cfg.Provisioner), zap.Int("workers", c.cfg.Workers))
	<-ctx.Done()
}

func (c *Controller) processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], kind string, sync func(context.Context, string) error) bool {
	key, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(key)
	if err := sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			c.log.Info("sync failed; retrying", zap.String(kind, key), zap.Error(err), zap.Int("retries", q.NumRequeues(key)))
			q.AddRateLimited(key)
		}
		return true
	}
	q.Forget(key)
	return true
}

// class is the claim's StorageClass, nil if it does not exist.
func (c *Controller) class(name string) (*storagev1.StorageClass, error) {
	class, err := c.classes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return class, err
}

// syncClaim provisions a claim that wants a volume, or expands a bound
// one.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, err := toolscache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	class, err := c.class(storagehelpers.GetPersistentVolumeClaimClass(claim))
	if err != nil {
		return err
	}
	if claim.Spec.VolumeName != "" {
		return c.expand(ctx, claim, class)
	}
	if !volume.Wanted(claim, class, c.cfg.Provisioner) {
		return nil
	}
	if _, err := c.volumes.Get(volume.Name(claim)); err == nil {
		// Provisioned already; the PV controller binds it.
		return nil
	}
	return c.provision(ctx, claim, class)
}

// provisionError is the event message of a failed provisioning, as the
// library of k3s's provisioner words it.
func provisionError(class string, err error) string {
	return fmt.Sprintf("failed to provision volume with StorageClass %q: %v", class, err)
}

// provision makes the claim's directory and its PersistentVolume. It
// returns an error to be retried; a claim that can never be served gets
// its event and no retry.
func (c *Controller) provision(ctx context.Context, claim *v1.PersistentVolumeClaim, class *storagev1.StorageClass) error {
	log := c.log.With(zap.String("claim", claim.Namespace+"/"+claim.Name), zap.String("class", class.Name))
	if err := volume.CheckMode(claim, c.cfg.Provisioner); err != nil {
		// The library refuses this itself, before any other step, and
		// does not retry.
		c.cfg.Recorder.Event(claim, v1.EventTypeWarning, ReasonProvisioningFailed, err.Error())
		return nil
	}
	claimRef, err := reference.GetReference(scheme.Scheme, claim)
	if err != nil {
		return err
	}
	nodeName := claim.Annotations[storagehelpers.AnnSelectedNode]
	var node *v1.Node
	if nodeName != "" {
		node, err = c.nodes.Get(nodeName)
		if apierrors.IsNotFound(err) {
			// The scheduler chose a node that is gone: give the choice
			// back, as the library does.
			c.cfg.Recorder.Event(claim, v1.EventTypeWarning, ReasonProvisioningFailed, err.Error())
			return c.reschedule(ctx, claim)
		}
		if err != nil {
			return err
		}
	}

	c.cfg.Recorder.Event(claim, v1.EventTypeNormal, ReasonProvisioning,
		fmt.Sprintf("External provisioner is provisioning volume for claim %q", claim.Namespace+"/"+claim.Name))
	fail := func(err error) error {
		c.cfg.Recorder.Event(claim, v1.EventTypeWarning, ReasonProvisioningFailed, provisionError(class.Name, err))
		log.Info("provisioning failed", zap.Error(err))
		return err
	}
	if err := volume.Check(claim); err != nil {
		_ = fail(err)
		return nil
	}
	if node == nil {
		pick, err := c.pickNode(claim, class)
		if err != nil {
			return fail(err)
		}
		if node, err = c.nodes.Get(pick); err != nil {
			return err
		}
	}
	nc, err := c.nodeConfiguration()
	if err != nil {
		return fail(err)
	}
	root, err := nc.PathOnNode(class.Name, node.Name, class.Parameters["nodePath"], string(claim.UID))
	if err != nil {
		return fail(err)
	}
	pvName := volume.Name(claim)
	req := helperpod.Request{
		Action: helper.ActionCreate, Volume: pvName, Node: node.Name, Path: volume.Path(root, claim),
		Claim: types.NamespacedName{Namespace: claim.Namespace, Name: claim.Name}, ClaimUID: claim.UID,
	}
	log.Info("creating volume", zap.String("volume", pvName), zap.String("node", node.Name), zap.String("path", req.Path))
	if err := c.runner.Run(ctx, req, nc.CmdTimeout); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fail(fmt.Errorf("failed to create volume %s: %w", pvName, err))
	}

	// The claim may have gone (or be going: unbound, no pod can use it)
	// while the helper ran: then the directory is nobody's.
	latest, err := c.cfg.Client.CoreV1().PersistentVolumeClaims(claim.Namespace).Get(ctx, claim.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && (latest.UID != claim.UID || latest.Spec.VolumeName != "" || latest.DeletionTimestamp != nil)) {
		log.Info("claim gone or bound while its volume was made; removing the directory", zap.String("volume", pvName))
		return c.cleanup(ctx, req)
	}
	if err != nil {
		return err
	}

	pv := volume.Build(claim, claimRef, class, node, req.Path, c.cfg.Provisioner)
	if _, err := c.cfg.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		if ctx.Err() != nil {
			return err
		}
		// Now the directory has no PersistentVolume: remove it, as the
		// library deletes the storage asset.
		c.cfg.Recorder.Event(claim, v1.EventTypeWarning, ReasonProvisioningFailed,
			fmt.Sprintf("Error creating provisioned PV object for claim %s: %v. Deleting the volume.", claim.Namespace+"/"+claim.Name, err))
		if cerr := c.cleanup(ctx, req); cerr != nil {
			c.cfg.Recorder.Event(claim, v1.EventTypeWarning, ReasonProvisioningCleanupFailed,
				fmt.Sprintf("Error cleaning provisioned volume for claim %s: %v. Please delete manually.", claim.Namespace+"/"+claim.Name, cerr))
		}
		return fmt.Errorf("create persistentvolume %s: %w", pvName, err)
	}
	c.cfg.Recorder.Event(claim, v1.EventTypeNormal, ReasonProvisioningSucceeded, fmt.Sprintf("Successfully provisioned volume %s", pvName))
	log.Info("volume provisioned", zap.String("volume", pvName), zap.String("node", node.Name), zap.String("path", req.Path))
	return nil
}

// cleanup removes the directory of a create that has no volume.
func (c *Controller) cleanup(ctx context.Context, create helperpod.Request) error {
	del := helperpod.Request{Action: helper.ActionDelete, Volume: create.Volume, Node: create.Node, Path: create.Path}
	return c.runner.Run(ctx, del, c.cmdTimeout())
}

// reschedule removes the selected-node annotation, so that the scheduler
// picks again.
func (c *Controller) reschedule(ctx context.Context, claim *v1.PersistentVolumeClaim) error {
	updated := claim.DeepCopy()
	delete(updated.Annotations, storagehelpers.AnnSelectedNode)
	if _, err := c.cfg.Client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("delete annotation 'annSelectedNode' for PersistentVolumeClaim %q: %w", claim.Namespace+"/"+claim.Name, err)
	}
	return nil
}

// pickNode places an Immediate claim (see volume.PickNode).
func (c *Controller) pickNode(claim *v1.PersistentVolumeClaim, class *storagev1.StorageClass) (string, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return "", err
	}
	pvs, err := c.volumes.List(labels.Everything())
	if err != nil {
		return "", err
	}
	used := map[string]int{}
	for _, pv := range pvs {
		if volume.Ours(pv, c.cfg.Provisioner) {
			if n, _, err := volume.Location(pv); err == nil {
				used[n]++
			}
		}
	}
	return volume.PickNode(nodes, class, used, string(claim.UID))
}

// syncVolume removes the directory of a Released volume reclaimed by
// Delete, then the volume.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !volume.ShouldDelete(pv, c.cfg.Provisioner) {
		return nil
	}
	log := c.log.With(zap.String("volume", pv.Name))
	failDelete := func(err error) error {
		err = fmt.Errorf("failed to delete volume %s: %w", pv.Name, err)
		c.cfg.Recorder.Event(pv, v1.EventTypeWarning, ReasonVolumeFailedDelete, err.Error())
		log.Info("volume deletion failed", zap.Error(err))
		return err
	}
	nodeName, path, err := volume.Location(pv)
	if err != nil {
		_ = failDelete(err)
		return nil
	}
	if !volume.OwnsPath(pv, path) {
		_ = failDelete(fmt.Errorf("path %s is not a directory this provisioner makes for %s", path, pv.Name))
		return nil
	}
	if _, err := c.nodes.Get(nodeName); apierrors.IsNotFound(err) {
		log.Info("node does not exist, skipping cleanup of volume", zap.String("node", nodeName))
	} else {
		req := helperpod.Request{Action: helper.ActionDelete, Volume: pv.Name, Node: nodeName, Path: path}
		log.Info("deleting volume", zap.String("node", nodeName), zap.String("path", path))
		if err := c.runner.Run(ctx, req, c.cmdTimeout()); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return failDelete(err)
		}
	}
	err = c.cfg.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete persistentvolume %s: %w", pv.Name, err)
	}
	log.Info("volume deleted")
	return nil
}

// expand grows the volume of a bound claim that asks for more, in
// external-resizer's steps: mark the claim resizing, grow the volume
// (a directory has no size: only the PV's capacity changes), then mark
// the claim done at the new capacity.
func (c *Controller) expand(ctx context.Context, claim *v1.PersistentVolumeClaim, class *storagev1.StorageClass) error {
	pv, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	size, ok := volume.ResizeTarget(claim, pv, class, c.cfg.Provisioner)
	if !ok {
		return nil
	}
	claims := c.cfg.Client.CoreV1().PersistentVolumeClaims(claim.Namespace)
	cur := claim
	allocated, has := claim.Status.AllocatedResources[v1.ResourceStorage]
	if claim.Status.AllocatedResourceStatuses[v1.ResourceStorage] != v1.PersistentVolumeClaimControllerResizeInProgress ||
		!has || allocated.Cmp(size) != 0 {
		if cur, err = claims.UpdateStatus(ctx, volume.ResizeStarted(claim, size, metav1.Now()), metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("marking pvc %q as resizing failed: %w", claim.Namespace+"/"+claim.Name, err)
		}
	}
	c.cfg.Recorder.Event(cur, v1.EventTypeNormal, ReasonResizing, fmt.Sprintf("External resizer is resizing volume %s", pv.Name))
	if have := pv.Spec.Capacity[v1.ResourceStorage]; have.Cmp(size) < 0 {
		grown := pv.DeepCopy()
		grown.Spec.Capacity[v1.ResourceStorage] = size
		if _, err := c.cfg.Client.CoreV1().PersistentVolumes().Update(ctx, grown, metav1.UpdateOptions{}); err != nil {
			err = fmt.Errorf("update capacity of PV %s failed: %w", pv.Name, err)
			c.cfg.Recorder.Event(cur, v1.EventTypeWarning, ReasonVolumeResizeFailed, err.Error())
			return err
		}
	}
	if _, err := claims.UpdateStatus(ctx, volume.ResizeFinished(cur, size), metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark PVC %q as resize finished failed: %w", claim.Namespace+"/"+claim.Name, err)
	}
	c.cfg.Recorder.Event(cur, v1.EventTypeNormal, ReasonVolumeResizeSuccess, "Resize volume succeeded")
	c.log.Info("volume expanded", zap.String("claim", claim.Namespace+"/"+claim.Name), zap.String("volume", pv.Name),
		zap.String("size", size.String()))
	return nil
}

// syncHelper cleans up a helper pod no Run waits for: one of a provisioner
// that stopped half-way, or whose claim went away.
func (c *Controller) syncHelper(ctx context.Context, name string) error {
	pod, err := c.helpers.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.runner.InFlight(name) || pod.DeletionTimestamp != nil {
		return nil
	}
	req, ok := helperpod.RequestOf(pod)
	if !ok {
		return nil
	}
	_, pvErr := c.volumes.Get(req.Volume)
	pvExists := pvErr == nil
	switch req.Action {
	case helper.ActionCreate:
		if !pvExists {
			claim, err := c.claims.PersistentVolumeClaims(req.Claim.Namespace).Get(req.Claim.Name)
			if err == nil && claim.UID == req.ClaimUID && claim.Spec.VolumeName == "" && claim.DeletionTimestamp == nil {
				// The claim's own sync takes the pod over.
				c.claimQueue.Add(req.Claim.String())
				return nil
			}
			// The claim went away (or is going) while its directory was
			// being made: let the helper end, then undo its work.
			c.log.Info("helper pod of a claim that is gone; removing its directory", zap.String("pod", name))
			c.runner.WaitEnded(ctx, name, c.cmdTimeout())
			c.runner.Remove(ctx, name)
			return c.cleanup(ctx, req)
		}
		c.runner.Remove(ctx, name)
	case helper.ActionDelete:
		if pvExists {
			c.volumeQueue.Add(req.Volume)
			return nil
		}
		c.runner.Remove(ctx, name)
	}
	return nil
}
