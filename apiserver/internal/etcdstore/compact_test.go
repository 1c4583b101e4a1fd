package etcdstore

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/etcd/etcdtest"
)

func TestCompactionKeepsOneIntervalOfHistory(t *testing.T) {
	client := etcdtest.Start(t)
	s := New(client, nil)
	ctx := context.Background()
	obj := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}
	if err := s.Create(ctx, "/registry/configmaps/ns/a", obj, Side{}); err != nil {
		t.Fatal(err)
	}
	oldRev, _ := ParseRevision(obj.ResourceVersion)
	newObj := func() runtime.Object { return &corev1.ConfigMap{} }

	// First tick: records the current revision, compacts nothing.
	version, rev, err := compactOnce(ctx, client, 0, 0)
	if err != nil || version != 1 {
		t.Fatalf("first tick: version %d err %v", version, err)
	}
	if _, err := s.List(ctx, "/registry/configmaps/", ListOptions{Revision: oldRev}, newObj); err != nil {
		t.Fatalf("history gone after the first tick: %v", err)
	}
	if err := s.Update(ctx, "/registry/configmaps/ns/a", obj, oldRev, Side{}); err != nil {
		t.Fatal(err)
	}
	// Second tick: compacts to the revision of the first.
	if _, _, err := compactOnce(ctx, client, version, rev); err != nil {
		t.Fatal(err)
	}
	_, err = s.List(ctx, "/registry/configmaps/", ListOptions{Revision: oldRev}, newObj)
	if !errors.Is(err, ErrCompacted) {
		t.Fatalf("want ErrCompacted reading before the compaction, got %v", err)
	}
	// Another apiserver, behind on the version, does not compact again.
	v, _, err := compactOnce(ctx, client, 0, rev)
	if err != nil || v != 2 {
		t.Fatalf("follower: version %d err %v", v, err)
	}
}
