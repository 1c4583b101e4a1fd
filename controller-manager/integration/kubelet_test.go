package integration

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
)

// Annotations a test puts on a pod template to script what the test
// kubelet does with the pods.
const (
	// annExit makes a running pod finish with this exit code
	// (0: Succeeded, else Failed).
	annExit = "test.coracle.dev/exit"
	// annRunFor delays annExit by a Go duration after the pod started.
	annRunFor = "test.coracle.dev/run-for"
	// annNotReady keeps a running pod not ready.
	annNotReady = "test.coracle.dev/not-ready"
)

// testKubelet plays the kubelet of a set of fake nodes, and the
// scheduler for every pod with no node. It is level-triggered like a
// controller: pod events queue keys; a worker acts on the current pod.
type testKubelet struct {
	t      testing.TB
	client kubernetes.Interface
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	queue  workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex // guards live, ips, pending
	live    map[string]bool
	ips     int
	pending map[string]int // node -> binds not yet in the cache
	cancel  context.CancelFunc
}

// startKubelet starts a test kubelet with the given Ready nodes; it stops
// when the test ends.
func startKubelet(e *env, nodes ...string) *testKubelet {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(e.client, 0)
	k := &testKubelet{
		t: e.t, client: e.client,
		pods:  factory.Core().V1().Pods().Lister(),
		nodes: factory.Core().V1().Nodes().Lister(),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Second)),
		live:  map[string]bool{}, pending: map[string]int{}, cancel: cancel,
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	_, _ = factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) },
	})
	// A node becoming schedulable may place waiting pods.
	_, _ = factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { k.requeueUnbound() }, UpdateFunc: func(any, any) { k.requeueUnbound() },
	})
	for _, n := range nodes {
		k.addNode(n, nil)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k.processNext(ctx) {
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.renewLeases(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		k.queue.ShutDown()
		wg.Wait()
		factory.Shutdown()
	})
	return k
}

// addNode registers a Ready node with labels, and renews its Lease.
func (k *testKubelet) addNode(name string, lbls map[string]string) {
	k.t.Helper()
	ctx := context.Background()
	l := map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux"}
	for key, v := range lbls {
		l[key] = v
	}
	node, err := k.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatalf("create node %s: %v", name, err)
	}
	now := metav1.Now()
	status := corev1.NodeStatus{
		Phase:       corev1.NodeRunning,
		Capacity:    corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1000"), corev1.ResourceCPU: resource.MustParse("64")},
		Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1000"), corev1.ResourceCPU: resource.MustParse("64")},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status",
			LastHeartbeatTime: now, LastTransitionTime: now,
		}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2." + strconv.Itoa(len(name))}},
	}
	// The node IPAM controller may write the node between our writes.
	eventually(k.t, 30*time.Second, "node "+name+" status", func() (bool, error) {
		node.Status = status
		_, err := k.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			node, _ = k.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		}
		return err == nil, err
	})
	_, err = k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime: &metav1.MicroTime{Time: time.Now()},
		},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		k.t.Fatalf("lease %s: %v", name, err)
	}
	k.mu.Lock()
	k.live[name] = true
	k.mu.Unlock()
}

// stopNode makes a node lost: its Lease is no longer renewed, and its pods
// are left as they are.
func (k *testKubelet) stopNode(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.live[name] = false
}

func (k *testKubelet) isLive(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.live[name]
}

func (k *testKubelet) renewLeases(ctx context.Context) {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		k.mu.Lock()
		var names []string
		for n, live := range k.live {
			if live {
				names = append(names, n)
			}
		}
		k.mu.Unlock()
		for _, n := range names {
			lease, err := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				continue
			}
			lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			_, _ = k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, lease, metav1.UpdateOptions{})
		}
	}
}

func (k *testKubelet) requeueUnbound() {
	pods, _ := k.pods.List(everything)
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			k.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

func (k *testKubelet) processNext(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	retry, err := k.sync(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		k.queue.AddRateLimited(key)
	case retry > 0:
		k.queue.Forget(key)
		k.queue.AddAfter(key, retry)
	default:
		k.queue.Forget(key)
	}
	return true
}

// sync acts on one pod and returns when to look again.
func (k *testKubelet) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := k.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pod.Spec.NodeName == "" {
		if pod.DeletionTimestamp != nil {
			return 0, nil
		}
		return k.bind(ctx, pod)
	}
	if !k.isLive(pod.Spec.NodeName) {
		return 0, nil
	}
	if pod.DeletionTimestamp != nil {
		err := k.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	}
	switch pod.Status.Phase {
	case corev1.PodPending, "":
		return 0, k.run(ctx, pod)
	case corev1.PodRunning:
		code, ok := pod.Annotations[annExit]
		if !ok {
			return 0, nil
		}
		if d, err := time.ParseDuration(pod.Annotations[annRunFor]); err == nil && pod.Status.StartTime != nil {
			if left := time.Until(pod.Status.StartTime.Add(d)); left > 0 {
				return left, nil
			}
		}
		exit, _ := strconv.Atoi(code)
		return 0, k.finish(ctx, pod, int32(exit))
	}
	return 0, nil
}

// bind places pod on the least-loaded live node it fits.
func (k *testKubelet) bind(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	nodes, err := k.nodes.List(everything)
	if err != nil {
		return 0, err
	}
	load := map[string]int{}
	pods, _ := k.pods.List(everything)
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			load[p.Spec.NodeName]++
		}
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	best := ""
	k.mu.Lock()
	for _, n := range nodes {
		if !k.live[n.Name] || n.Spec.Unschedulable {
			continue
		}
		if ok, _ := required.Match(n); !ok {
			continue
		}
		if _, untolerated := schedcorev1.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false); untolerated {
			continue
		}
		if best == "" || load[n.Name]+k.pending[n.Name] < load[best]+k.pending[best] {
			best = n.Name
		}
	}
	if best != "" {
		k.pending[best]++
	}
	k.mu.Unlock()
	if best == "" {
		return time.Second, nil
	}
	defer func() {
		// The bind shows in the cache soon; until then it counts as pending.
		time.AfterFunc(500*time.Millisecond, func() {
			k.mu.Lock()
			k.pending[best]--
			k.mu.Unlock()
		})
	}()
	err = k.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: best},
	}, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return 0, nil
	}
	return 0, err
}

// run makes a pod Running, and Ready unless annotated not to be.
func (k *testKubelet) run(ctx context.Context, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	now := metav1.Now()
	k.mu.Lock()
	k.ips++
	ip := fmt.Sprintf("10.%d.%d.%d", 200+k.ips/65536%50, k.ips/256%256, k.ips%256)
	k.mu.Unlock()
	ready := corev1.ConditionTrue
	if p.Annotations[annNotReady] == "true" {
		ready = corev1.ConditionFalse
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.HostIP = "192.0.2.1"
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: ready == corev1.ConditionTrue, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err := k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// finish ends a running pod with exit code.
func (k *testKubelet) finish(ctx context.Context, pod *corev1.Pod, exit int32) error {
	p := pod.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodSucceeded
	reason := "Completed"
	if exit != 0 {
		p.Status.Phase = corev1.PodFailed
		reason = "Error"
	}
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.LastTransitionTime = corev1.ConditionFalse, now
		}
	}
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		cs.Ready = false
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Reason: reason, FinishedAt: now}}
	}
	_, err := k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// setReady changes a running pod's readiness.
func (k *testKubelet) setReady(ns, name string, ready bool) {
	k.t.Helper()
	ctx := context.Background()
	eventually(k.t, 30*time.Second, "pod readiness update", func() (bool, error) {
		pod, err := k.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		for i := range pod.Status.Conditions {
			if c := &pod.Status.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
				c.Status, c.LastTransitionTime = status, metav1.Now()
			}
		}
		_, err = k.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err == nil, err
	})
}

// failPod makes a pod Failed, as a crashed container with restartPolicy
// Never would.
func (k *testKubelet) failPod(ns, name string) {
	k.t.Helper()
	eventually(k.t, 30*time.Second, "pod failure", func() (bool, error) {
		pod, err := k.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return k.finish(context.Background(), pod, 1) == nil, nil
	})
}

// uidOf is a pod's UID, for tests that follow one pod.
func uidOf(p corev1.Pod) types.UID { return p.UID }
