package watchcache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/etcd/etcdtest"
	"coracle.dev/apiserver/internal/etcdstore"
)

const prefix = "/registry/configmaps/"

type fixture struct {
	client *clientv3.Client
	store  *etcdstore.Store
	cache  *Cache
}

func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	client := etcdtest.Start(t)
	cfg := Config{
		Client: client, Prefix: prefix,
		NewObject:       func() runtime.Object { return &corev1.ConfigMap{} },
		RequestProgress: client.RequestProgress,
	}
	if mod != nil {
		mod(&cfg)
	}
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for !c.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("cache never ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &fixture{client: client, store: etcdstore.New(client, nil), cache: c}
}

func (f *fixture) put(t testing.TB, name string, lbls map[string]string, data string) *corev1.ConfigMap {
	t.Helper()
	key := prefix + "ns/" + name
	obj := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: lbls},
		Data:       map[string]string{"d": data},
	}
	cur := &corev1.ConfigMap{}
	err := f.store.Get(context.Background(), key, cur)
	switch {
	case errors.Is(err, etcdstore.ErrNotFound):
		err = f.store.Create(context.Background(), key, obj, etcdstore.Side{})
	case err == nil:
		rev, _ := etcdstore.ParseRevision(cur.ResourceVersion)
		err = f.store.Update(context.Background(), key, obj, rev, etcdstore.Side{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func (f *fixture) del(t testing.TB, name string) {
	t.Helper()
	cur := &corev1.ConfigMap{}
	key := prefix + "ns/" + name
	if err := f.store.Get(context.Background(), key, cur); err != nil {
		t.Fatal(err)
	}
	rev, _ := etcdstore.ParseRevision(cur.ResourceVersion)
	if _, err := f.store.Delete(context.Background(), key, rev, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
}

func receive(t testing.TB, w *Watcher) Delivery {
	t.Helper()
	select {
	case d, ok := <-w.Events():
		if !ok {
			t.Fatalf("watcher closed: %s", w.Reason())
		}
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return Delivery{}
}

func nameOf(d Delivery) string { return d.Object.(*corev1.ConfigMap).Name }

func TestWatchFromZeroStartsWithState(t *testing.T) {
	f := newFixture(t, nil)
	f.put(t, "a", nil, "1")
	f.put(t, "b", nil, "1")
	if err := f.cache.WaitForRevision(context.Background(), mustRev(t, f), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	w, err := f.cache.Watch(context.Background(), WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	init := w.Initial()
	if len(init) != 2 || nameOf(init[0]) != "a" || nameOf(init[1]) != "b" || init[0].Type != watch.Added {
		t.Fatalf("initial %+v", init)
	}
	f.put(t, "c", nil, "1")
	if d := receive(t, w); d.Type != watch.Added || nameOf(d) != "c" {
		t.Fatalf("live %v %s", d.Type, nameOf(d))
	}
}

func mustRev(t testing.TB, f *fixture) int64 {
	rev, err := f.store.CurrentRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func TestResumeDeliversOnlyLaterEvents(t *testing.T) {
	f := newFixture(t, nil)
	first := f.put(t, "a", nil, "1")
	f.put(t, "a", nil, "2")
	f.put(t, "b", nil, "1")
	f.del(t, "a")
	rev, _ := etcdstore.ParseRevision(first.ResourceVersion)
	w, err := f.cache.Watch(context.Background(), WatchOptions{Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for _, d := range w.Initial() {
		got = append(got, fmt.Sprintf("%s %s", d.Type, nameOf(d)))
	}
	for len(got) < 3 {
		d := receive(t, w)
		got = append(got, fmt.Sprintf("%s %s", d.Type, nameOf(d)))
	}
	want := []string{"MODIFIED a", "ADDED b", "DELETED a"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestTooOldRevisionExpires(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Capacity = 4 })
	first := f.put(t, "a", nil, "0")
	for i := 1; i <= 10; i++ {
		f.put(t, "a", nil, fmt.Sprint(i))
	}
	if err := f.cache.WaitForRevision(context.Background(), mustRev(t, f), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rev, _ := etcdstore.ParseRevision(first.ResourceVersion)
	_, err := f.cache.Watch(context.Background(), WatchOptions{Revision: rev})
	var expired *ExpiredError
	if !errors.As(err, &expired) || !errors.Is(err, ErrExpired) || expired.Requested != rev {
		t.Fatalf("want ExpiredError, got %v", err)
	}
}

func TestWaitForRevisionUsesProgress(t *testing.T) {
	f := newFixture(t, nil)
	// A write under another prefix moves etcd's revision but sends this
	// cache no event: only a progress notification brings it forward.
	if _, err := f.client.Put(context.Background(), "/registry/secrets/ns/x", "{}"); err != nil {
		t.Fatal(err)
	}
	target := mustRev(t, f)
	if err := f.cache.WaitForRevision(context.Background(), target, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if f.cache.Revision() < target {
		t.Fatalf("cache at %d, want >= %d", f.cache.Revision(), target)
	}
	err := f.cache.WaitForRevision(context.Background(), target+1000, 300*time.Millisecond)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
}

func TestSlowWatcherIsClosedOthersContinue(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.WatcherBuffer = 2
		c.SlowWatcherBudget = 20 * time.Millisecond
	})
	slow, err := f.cache.Watch(context.Background(), WatchOptions{Revision: mustRev(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := f.cache.Watch(context.Background(), WatchOptions{Revision: mustRev(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	for i := 0; i < 10; i++ {
		f.put(t, "s", nil, fmt.Sprint(i))
		receive(t, fast)
	}
	// The slow watcher read nothing: after its buffer filled it was closed.
	n := 0
	for range slow.Events() {
		n++
	}
	if n > 2 || slow.Reason() != "watcher too slow" {
		t.Fatalf("slow watcher got %d events, reason %q", n, slow.Reason())
	}
}

func TestConvert(t *testing.T) {
	blue := attrs{namespace: "ns", labels: labels.Set{"color": "blue"}}
	red := attrs{namespace: "ns", labels: labels.Set{"color": "red"}}
	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns", ResourceVersion: "5"}}
	prev := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns", ResourceVersion: "4"}}
	sel := Predicate{Label: labels.SelectorFromSet(labels.Set{"color": "blue"})}
	tests := []struct {
		name     string
		event    *Event
		pred     Predicate
		want     watch.EventType
		variant  string
		delivers bool
	}{
		{"added and matching", &Event{Type: watch.Added, Object: obj, attrs: blue, Revision: 5}, sel, watch.Added, "ADDED", true},
		{"added, not matching", &Event{Type: watch.Added, Object: obj, attrs: red, Revision: 5}, sel, "", "", false},
		{"modified into the selection", &Event{Type: watch.Modified, Object: obj, PrevObject: prev, attrs: blue, prevAttrs: red, Revision: 5}, sel, watch.Added, "ADDED", true},
		{"modified within the selection", &Event{Type: watch.Modified, Object: obj, PrevObject: prev, attrs: blue, prevAttrs: blue, Revision: 5}, sel, watch.Modified, "MODIFIED", true},
		{"modified out of the selection", &Event{Type: watch.Modified, Object: obj, PrevObject: prev, attrs: red, prevAttrs: blue, Revision: 5}, sel, watch.Deleted, "DELETED-prev", true},
		{"deleted while matching", &Event{Type: watch.Deleted, Object: obj, PrevObject: prev, attrs: blue, prevAttrs: blue, Revision: 5}, sel, watch.Deleted, "DELETED", true},
		{"other namespace", &Event{Type: watch.Added, Object: obj, attrs: blue, Revision: 5}, Predicate{Namespace: "other"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := convert(tt.event, tt.pred)
			if ok != tt.delivers || (ok && (d.Type != tt.want || d.Variant != tt.variant || d.Revision != 5)) {
				t.Fatalf("got %+v ok=%v", d, ok)
			}
			if ok && d.Variant == "DELETED-prev" {
				m := d.Object.(*corev1.ConfigMap)
				if m.ResourceVersion != "5" || prev.ResourceVersion != "4" {
					t.Fatalf("left-the-selection object at rv %s (prev now %s)", m.ResourceVersion, prev.ResourceVersion)
				}
			}
		})
	}
}

// TestConvertedObjects: a cache whose Convert turns what etcd holds into
// another Go type (a kind stored in another version's form) keeps, lists
// and delivers the converted objects, with their revisions.
func TestConvertedObjects(t *testing.T) {
	asSecret := func(obj runtime.Object) (runtime.Object, error) {
		cm := obj.(*corev1.ConfigMap)
		return &corev1.Secret{ObjectMeta: cm.ObjectMeta, StringData: cm.Data}, nil
	}
	f := newFixture(t, func(c *Config) { c.Convert = asSecret })
	f.put(t, "a", map[string]string{"color": "blue"}, "1")
	if err := f.cache.WaitForRevision(context.Background(), mustRev(t, f), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	items, _ := f.cache.List(Predicate{Label: labels.SelectorFromSet(labels.Set{"color": "blue"})})
	if len(items) != 1 {
		t.Fatalf("list: %d items", len(items))
	}
	if s, ok := items[0].(*corev1.Secret); !ok || s.StringData["d"] != "1" || s.ResourceVersion == "" {
		t.Fatalf("listed %#v, want the converted object with its resourceVersion", items[0])
	}
	w, err := f.cache.Watch(context.Background(), WatchOptions{Revision: mustRev(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	written := f.put(t, "a", map[string]string{"color": "blue"}, "2")
	d := receive(t, w)
	s, ok := d.Object.(*corev1.Secret)
	if !ok || d.Type != watch.Modified || s.StringData["d"] != "2" || s.ResourceVersion != written.ResourceVersion {
		t.Fatalf("delivered %v %#v, want the converted object at %s", d.Type, d.Object, written.ResourceVersion)
	}
	if got := f.cache.Get(prefix + "ns/a"); got == nil {
		t.Fatal("Get: nothing cached")
	} else if _, ok := got.(*corev1.Secret); !ok {
		t.Fatalf("Get returned %T", got)
	}
}
