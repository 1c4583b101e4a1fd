package kubelet

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kubelet/internal/envvars"
	"coracle.dev/kubelet/internal/podworkers"
	"coracle.dev/kubelet/internal/prober"
	"coracle.dev/kubelet/internal/staticpods"
	"coracle.dev/kubelet/internal/sysctl"
)

// uidIndex indexes the pod cache by UID, the key of pod workers.
const uidIndex = "uid"

// startEvents starts the event broadcaster, with a recorder per node.
func (k *Kubelet) startEvents() {
	k.broadcaster = k.clients.Broadcaster()
	k.OnClose(func(context.Context) error { k.broadcaster.Shutdown(); return nil })
	k.recorders = map[string]record.EventRecorder{}
	for _, n := range k.nodes {
		k.recorders[n] = k.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: n})
	}
}

// newPodCache builds the informer of the pods bound to the kubelet's
// nodes, indexed by UID; Start starts it once every handler is added.
func (k *Kubelet) newPodCache() error {
	selector := fields.OneTermEqualSelector("spec.nodeName", k.opts.NodeName).String()
	if len(k.nodes) > 1 {
		// One watch for every simulated node, not one each.
		selector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	}
	k.factory = informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	k.OnClose(func(context.Context) error { k.factory.Shutdown(); return nil })
	k.podInformer = k.factory.Core().V1().Pods().Informer()
	return k.podInformer.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*v1.Pod); ok {
			return []string{string(p.UID)}, nil
		}
		return nil, nil
	}})
}

// newServiceCache builds the informer of the cluster's Services with a
// cluster IP (headless ones give no variables; as Kubernetes' kubelet, it
// does not watch them), for the containers' service variables; Start
// starts it.
func (k *Kubelet) newServiceCache() {
	k.serviceFactory = informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermNotEqualSelector("spec.clusterIP", v1.ClusterIPNone).String()
		}))
	k.OnClose(func(context.Context) error { k.serviceFactory.Shutdown(); return nil })
	services := k.serviceFactory.Core().V1().Services()
	k.env = envvars.APISource{Client: k.client, Services: services.Lister(), ServicesSynced: services.Informer().HasSynced}
}

// cachedPod returns the pod with this UID the kubelet runs: a static pod,
// or one from the cache bound to one of the kubelet's nodes. Mirror pods
// are not: their static pods run.
func (k *Kubelet) cachedPod(uid types.UID) *v1.Pod {
	if p := k.static.Pod(uid); p != nil {
		return p
	}
	objs, err := k.podInformer.GetIndexer().ByIndex(uidIndex, string(uid))
	if err != nil || len(objs) == 0 {
		return nil
	}
	p := objs[0].(*v1.Pod)
	if !k.nodeSet[p.Spec.NodeName] || staticpods.IsMirrorPod(p) {
		return nil
	}
	return p
}

// cachedPods lists the pods the kubelet runs: the API's pods of its
// nodes (not mirror pods) and the static pods.
func (k *Kubelet) cachedPods() []*v1.Pod {
	return append(k.apiPods(), k.static.Pods()...)
}

// apiPods lists the pods of this kubelet's nodes from the cache, mirror
// pods left out.
func (k *Kubelet) apiPods() []*v1.Pod {
	var out []*v1.Pod
	for _, obj := range k.podInformer.GetStore().List() {
		if p, ok := obj.(*v1.Pod); ok && k.nodeSet[p.Spec.NodeName] && !staticpods.IsMirrorPod(p) {
			out = append(out, p)
		}
	}
	return out
}

// newPodWorkers builds the pod workers and, with runc, the probes, and
// has the pod cache's events sync the pods they are about.
func (k *Kubelet) newPodWorkers() error {
	fake := k.opts.Runtime == RuntimeFake
	resync, housekeeping := k.opts.SyncFrequency, 2*time.Second
	if fake {
		// Simulated nodes are many: they sync and list their pods less.
		resync, housekeeping = 5*time.Minute, 30*time.Second
	}
	kernel, err := sysctl.KernelVersion()
	if err != nil {
		k.log.Warn("kernel version unknown: only the sysctls every kernel has are safe", zap.Error(err))
	}
	sysctls, err := sysctl.NewAllowlist(sysctl.SafeSysctls(kernel), k.opts.AllowedUnsafeSysctls)
	if err != nil {
		return fmt.Errorf("--allowed-unsafe-sysctls: %w", err)
	}
	k.workers = podworkers.New(podworkers.Options{
		Client: k.client, Runtime: k.runtime, Images: k.imageService(), Env: k.env,
		GetPod: k.cachedPod,
		PodUIDs: func() []types.UID {
			pods := k.cachedPods()
			out := make([]types.UID, len(pods))
			for i, p := range pods {
				out[i] = p.UID
			}
			return out
		},
		MirrorPod:            k.mirrorPod,
		Recorder:             func(node string) record.EventRecorder { return k.recorders[node] },
		HostIP:               func(string) string { return k.nodeIP },
		PodLogDir:            k.opts.PodLogDir,
		PodPidsLimit:         k.opts.PodPidsLimit,
		ResyncInterval:       resync,
		HousekeepingInterval: housekeeping,
		Volumes:              k.volumes,
		// The Node as its status manager last wrote or saw it: pods and
		// resizes are admitted against its allocatable.
		GetNode: func(name string) *v1.Node {
			if m := k.managers[name]; m != nil {
				return m.Node()
			}
			return nil
		},
		AllocationDir: filepath.Join(k.opts.RootDir, "allocation"),
		AdmitHandlers: []podworkers.AdmitHandler{
			// The eviction manager is made after the workers (it
			// evicts through them).
			func(pod *v1.Pod) (bool, string, string) {
				if k.eviction == nil {
					return true, "", ""
				}
				return k.eviction.Admit(pod)
			},
			sysctls.Admit,
		},
		Log: k.log.Named("podworkers"),
	})
	if !fake {
		k.probes = prober.New(k.runtime, k.workers.Update, func(pod *v1.Pod, container, reason, message string) {
			k.recorders[pod.Spec.NodeName].Event(&v1.ObjectReference{
				Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
				FieldPath: "spec.containers{" + container + "}",
			}, v1.EventTypeWarning, reason, message)
		})
		k.workers.SetProbes(k.probes)
		k.OnClose(func(context.Context) error { k.probes.Stop(); return nil })
	}
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		p, ok := obj.(*v1.Pod)
		switch {
		case !ok || !k.nodeSet[p.Spec.NodeName]:
		case staticpods.IsMirrorPod(p):
			// Never run: its static pod runs.
			k.mirrorChanged(p)
		default:
			k.workers.Update(p.UID)
		}
	}
	_, err = k.podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, obj any) {
			if changedForKubelet(old, obj) {
				enqueue(obj)
			}
		},
		DeleteFunc: enqueue,
	})
	return err
}

// changedForKubelet reports whether a pod update is one the kubelet acts
// on: not status writes (its own, mostly), which would only make it sync
// again for nothing.
func changedForKubelet(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*v1.Pod)
	n, ok2 := newObj.(*v1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) ||
		!apiequality.Semantic.DeepEqual(o.DeletionTimestamp, n.DeletionTimestamp) ||
		!apiequality.Semantic.DeepEqual(o.Labels, n.Labels) ||
		!apiequality.Semantic.DeepEqual(o.Annotations, n.Annotations) ||
		o.Generation != n.Generation || o.UID != n.UID
}

// runPodWorkers waits until the pods and Services are listed (a
// container started before would miss KUBERNETES_SERVICE_HOST) and every
// node is registered, marks the kubelet ready and runs the pod workers
// until Close.
func (k *Kubelet) runPodWorkers(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), k.podInformer.HasSynced, k.env.ServicesSynced) {
		return nil // closed first
	}
	for _, m := range k.managers {
		select {
		case <-m.Registered():
		case <-ctx.Done():
			return nil
		}
	}
	k.MarkReady()
	k.log.Info("kubelet ready", zap.Int("nodes", len(k.nodes)), zap.String("runtime", k.runtime.Type()))
	k.workers.Run(ctx)
	return nil
}
