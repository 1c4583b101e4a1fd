package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestGet(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := indexer.Add(pod("there", nil)); err != nil {
		t.Fatal(err)
	}
	pods := corelisters.NewPodLister(indexer).Pods
	failing := func(string) failingGetter { return failingGetter{} }
	tests := []struct {
		name    string
		key     string
		wantOK  bool
		wantErr bool
	}{
		{"in the cache", "ns/there", true, false},
		{"gone", "ns/gone", false, false},
		{"malformed key", "a/b/c", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok, err := Get[*corev1.Pod](tt.key, pods)
			if ok != tt.wantOK || (err != nil) != tt.wantErr || ok && p.Name != "there" {
				t.Errorf("Get = %v, %v, %v", p, ok, err)
			}
		})
	}
	if _, ok, err := Get[*corev1.Pod]("ns/x", failing); ok || err == nil {
		t.Errorf("a failing read: ok %v, err %v; want an error", ok, err)
	}
}

type failingGetter struct{}

func (failingGetter) Get(string) (*corev1.Pod, error) { return nil, errors.New("broken") }

// A Base waits for its informers, then syncs the keys its handlers
// queue: here the Job that controls a pod.
func TestBaseSyncsQueuedKeys(t *testing.T) {
	client := fake.NewClientset(pod("p", controllerRef(jobKind, "j")))
	factory := informers.NewSharedInformerFactory(client, 0)
	synced := make(chan string, 10)
	b := NewBase(Context{Name: "test", Workers: 2}, func(_ context.Context, key string) error {
		synced <- key
		return nil
	})
	if err := b.Watch(factory.Core().V1().Pods().Informer(), b.Owners(jobKind)); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 1)
	b.OnSynced(func(context.Context) { ran <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	factory.Start(ctx.Done())
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	select {
	case key := <-synced:
		if key != "ns/j" {
			t.Errorf("synced %q, want ns/j", key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing synced")
	}
	select {
	case <-ran:
	default:
		t.Error("OnSynced not called before the workers")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once its context ended")
	}
	factory.Shutdown()
}

// A further queue is drained beside the controller's own, with its own
// sync, once the caches have synced; Run returns only after its worker.
func TestBaseFurtherQueue(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	own := make(chan string, 10)
	b := NewBase(Context{Name: "test", Workers: 1}, func(_ context.Context, key string) error {
		own <- key
		return nil
	})
	b.WaitFor(factory.Core().V1().Pods().Informer())
	further := make(chan string, 10)
	q := b.AddQueue(Context{}, "test_further", func(_ context.Context, key string) error {
		further <- key
		return nil
	})
	q.Add("ns/orphan")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	factory.Start(ctx.Done())
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	select {
	case key := <-further:
		if key != "ns/orphan" {
			t.Errorf("further queue synced %q, want ns/orphan", key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the further queue was not drained")
	}
	select {
	case key := <-own:
		t.Errorf("the controller's own sync got %q from the further queue", key)
	default:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once its context ended")
	}
	factory.Shutdown()
}
