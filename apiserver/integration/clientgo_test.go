package integration

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func TestSharedInformerSeesCreatesUpdatesDeletes(t *testing.T) {
	c := start(t)
	factory := informers.NewSharedInformerFactory(c.client, 0)
	podInformer := factory.Core().V1().Pods().Informer()
	var mu sync.Mutex
	events := map[string][]string{}
	record := func(kind string, obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			if d, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
				p, _ = d.Obj.(*corev1.Pod)
			}
		}
		if p == nil {
			return
		}
		mu.Lock()
		events[p.Name] = append(events[p.Name], kind)
		mu.Unlock()
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { record("add", obj) },
		UpdateFunc: func(_, obj any) { record("update", obj) },
		DeleteFunc: func(obj any) { record("delete", obj) },
	}); err != nil {
		t.Fatal(err)
	}
	pods := c.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx(t), pod("before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, podInformer.HasSynced) {
		t.Fatal("informer never synced")
	}
	p, err := pods.Create(ctx(t), pod("live"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"changed": "yes"}
	if _, err := pods.Update(ctx(t), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx(t), "live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "informer events", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		got := events["live"]
		return len(events["before"]) == 1 && len(got) == 3 && got[0] == "add" && got[1] == "update" && got[2] == "delete", nil
	})
	lister := factory.Core().V1().Pods().Lister()
	eventually(t, 10*time.Second, "lister state", func() (bool, error) {
		list, err := lister.Pods("default").List(labelsEverything())
		return err == nil && len(list) == 1 && list[0].Name == "before", err
	})
}

func TestLeaderElectionBetweenTwoContenders(t *testing.T) {
	c := start(t)
	type contender struct {
		id      string
		cancel  context.CancelFunc
		leading chan struct{}
		stopped chan struct{}
	}
	run := func(id string) *contender {
		cfg := rest.CopyConfig(c.Config)
		client := kubernetes.NewForConfigOrDie(cfg)
		lock := &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: "coracle-test", Namespace: "kube-system"},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}
		cctx, cancel := context.WithCancel(context.Background())
		ct := &contender{id: id, cancel: cancel, leading: make(chan struct{}), stopped: make(chan struct{})}
		go func() {
			defer close(ct.stopped)
			leaderelection.RunOrDie(cctx, leaderelection.LeaderElectionConfig{
				Lock: lock, LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
				ReleaseOnCancel: false,
				Callbacks: leaderelection.LeaderCallbacks{
					OnStartedLeading: func(context.Context) { close(ct.leading) },
					OnStoppedLeading: func() {},
				},
			})
		}()
		t.Cleanup(func() { cancel(); <-ct.stopped })
		return ct
	}
	a := run("a")
	select {
	case <-a.leading:
	case <-time.After(20 * time.Second):
		t.Fatal("first contender never led")
	}
	b := run("b")
	select {
	case <-b.leading:
		t.Fatal("second contender led while the first held the lease")
	case <-time.After(3 * time.Second):
	}
	// The leader dies without releasing: the other takes over once the
	// lease expires.
	a.cancel()
	select {
	case <-b.leading:
	case <-time.After(30 * time.Second):
		t.Fatal("second contender never took over")
	}
	lease, err := c.client.CoordinationV1().Leases("kube-system").Get(ctx(t), "coracle-test", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "b" {
		t.Fatalf("lease %+v err %v", lease, err)
	}
}
