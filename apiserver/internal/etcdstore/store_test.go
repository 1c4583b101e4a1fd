package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/etcd/etcdtest"
	"coracle.dev/apiserver/internal/etcdstore"
)

func cm(name, value string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Data:       map[string]string{"v": value},
	}
}

func newCM() runtime.Object { return &corev1.ConfigMap{} }

func TestCreateGetUpdateDelete(t *testing.T) {
	s := etcdstore.New(etcdtest.Start(t), nil)
	ctx := context.Background()
	key := "/registry/configmaps/ns/a"
	obj := cm("a", "1")
	if err := s.Create(ctx, key, obj, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	rev1, _ := etcdstore.ParseRevision(obj.ResourceVersion)
	if rev1 == 0 {
		t.Fatal("create set no resourceVersion")
	}
	if err := s.Create(ctx, key, cm("a", "2"), etcdstore.Side{}); !errors.Is(err, etcdstore.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	got := &corev1.ConfigMap{}
	if err := s.Get(ctx, key, got); err != nil || got.Data["v"] != "1" || got.ResourceVersion != obj.ResourceVersion {
		t.Fatalf("get %+v %v", got, err)
	}
	upd := cm("a", "2")
	if err := s.Update(ctx, key, upd, rev1, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, key, cm("a", "3"), rev1, etcdstore.Side{}); !errors.Is(err, etcdstore.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	rev2, _ := etcdstore.ParseRevision(upd.ResourceVersion)
	if _, err := s.Delete(ctx, key, rev1, etcdstore.Side{}); !errors.Is(err, etcdstore.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := s.Delete(ctx, key, rev2, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, key, &corev1.ConfigMap{}); !errors.Is(err, etcdstore.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Update(ctx, key, cm("a", "4"), rev2, etcdstore.Side{}); !errors.Is(err, etcdstore.ErrNotFound) {
		t.Fatalf("update after delete: %v", err)
	}
}

func TestStoredValueHasNoResourceVersion(t *testing.T) {
	client := etcdtest.Start(t)
	s := etcdstore.New(client, nil)
	obj := cm("b", "1")
	obj.ResourceVersion = "12345"
	if err := s.Create(context.Background(), "/registry/configmaps/ns/b", obj, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(context.Background(), "/registry/configmaps/ns/b")
	if err != nil {
		t.Fatal(err)
	}
	if v := string(resp.Kvs[0].Value); contains(v, "resourceVersion") {
		t.Fatalf("stored %s", v)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestClaimsAreExclusiveAndReleased(t *testing.T) {
	s := etcdstore.New(etcdtest.Start(t), nil)
	ctx := context.Background()
	claim := etcdstore.Side{Claims: []etcdstore.Claim{{Key: "/registry/ranges/x/1", Value: "owner"}}}
	// Many writers race for one claim: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, taken := 0, 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.Create(ctx, fmt.Sprintf("/registry/configmaps/ns/c%d", i), cm(fmt.Sprintf("c%d", i), ""), claim)
			mu.Lock()
			defer mu.Unlock()
			var ce *etcdstore.ClaimError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce) && ce.Key == "/registry/ranges/x/1" && errors.Is(err, etcdstore.ErrClaimed):
				taken++
			default:
				t.Errorf("unexpected error %v", err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 || taken != 19 {
		t.Fatalf("%d winners, %d refused", wins, taken)
	}
	// The failed writers stored nothing.
	res, err := s.List(ctx, "/registry/configmaps/ns/", etcdstore.ListOptions{}, newCM)
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("%d objects stored, err %v", len(res.Items), err)
	}
	winner := res.Items[0].(*corev1.ConfigMap)
	rev, _ := etcdstore.ParseRevision(winner.ResourceVersion)
	if _, err := s.Delete(ctx, "/registry/configmaps/ns/"+winner.Name, rev, etcdstore.Side{Releases: []string{"/registry/ranges/x/1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "/registry/configmaps/ns/after", cm("after", ""), claim); err != nil {
		t.Fatalf("released claim not reusable: %v", err)
	}
}

func TestListPagesAreOneSnapshot(t *testing.T) {
	s := etcdstore.New(etcdtest.Start(t), nil)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := s.Create(ctx, fmt.Sprintf("/registry/configmaps/ns/p%d", i), cm(fmt.Sprintf("p%d", i), fmt.Sprint(i%2)), etcdstore.Side{}); err != nil {
			t.Fatal(err)
		}
	}
	// Another prefix that shares a string prefix must not leak in.
	if err := s.Create(ctx, "/registry/configmaps/ns2/x", cm("x", ""), etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, "/registry/configmaps/ns/", etcdstore.ListOptions{Limit: 4}, newCM)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 4 || page.NextKey == "" || page.Remaining != 6 {
		t.Fatalf("page: %d items next %q remaining %d", len(page.Items), page.NextKey, page.Remaining)
	}
	if err := s.Create(ctx, "/registry/configmaps/ns/p99", cm("p99", ""), etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	total := len(page.Items)
	for page.NextKey != "" {
		page, err = s.List(ctx, "/registry/configmaps/ns/", etcdstore.ListOptions{Limit: 4, StartKey: page.NextKey, Revision: page.Revision}, newCM)
		if err != nil {
			t.Fatal(err)
		}
		total += len(page.Items)
	}
	if total != 10 {
		t.Fatalf("paged %d objects, want the 10 of the snapshot", total)
	}
	odd, err := s.List(ctx, "/registry/configmaps/ns/", etcdstore.ListOptions{Limit: 3, Keep: func(o runtime.Object) bool {
		return o.(*corev1.ConfigMap).Data["v"] == "1"
	}}, newCM)
	if err != nil || len(odd.Items) != 3 || odd.Remaining != -1 {
		t.Fatalf("filtered page: %d items, remaining %d, err %v", len(odd.Items), odd.Remaining, err)
	}
}
