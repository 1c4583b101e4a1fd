package etcdstore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"coracle.dev/apiserver/internal/etcd/etcdtest"
	"coracle.dev/apiserver/internal/etcdstore"
)

// tagger "encrypts" by prefixing its tag; it reads any tag it knows and
// calls values with another tag than its first stale.
type tagger struct{ tags []string }

func (tg tagger) TransformToStorage(data []byte, _ string) ([]byte, error) {
	return append([]byte(tg.tags[0]), data...), nil
}

func (tg tagger) TransformFromStorage(data []byte, _ string) ([]byte, bool, error) {
	for i, tag := range tg.tags {
		if bytes.HasPrefix(data, []byte(tag)) {
			return data[len(tag):], i != 0, nil
		}
	}
	return nil, false, errors.New("unknown tag")
}

func TestTransformersFor(t *testing.T) {
	sec := tagger{tags: []string{"s:"}}
	ts := etcdstore.Transformers{"/registry/secrets/": sec}
	tests := []struct {
		key  string
		want bool
	}{
		{"/registry/secrets/ns/a", true},
		{"/registry/secrets/ns/", true},
		{"/registry/secrets/", true},
		{"/registry/secrets", false},
		{"/registry/secretsx/ns/a", false},
		{"/registry/configmaps/ns/a", false},
		{"/other/secrets/ns/a", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ts.For(tt.key) != nil; got != tt.want {
			t.Errorf("For(%q) found %v, want %v", tt.key, got, tt.want)
		}
	}
	if (etcdstore.Transformers)(nil).For("/registry/secrets/a") != nil {
		t.Error("nil Transformers found a transformer")
	}
}

func TestStoreTransformsValues(t *testing.T) {
	client := etcdtest.Start(t)
	ctx := context.Background()
	s := etcdstore.New(client, nil)
	s.SetTransformers(etcdstore.Transformers{"/registry/configmaps/": tagger{tags: []string{"v1:"}}})
	key := "/registry/configmaps/ns/a"
	obj := cm("a", "1")
	if err := s.Create(ctx, key, obj, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(ctx, key)
	if err != nil || !bytes.HasPrefix(resp.Kvs[0].Value, []byte("v1:{")) {
		t.Fatalf("stored %q, %v", resp.Kvs[0].Value, err)
	}
	got := &corev1.ConfigMap{}
	if err := s.Get(ctx, key, got); err != nil || got.Data["v"] != "1" {
		t.Fatalf("get %+v %v", got, err)
	}
	rev, _ := etcdstore.ParseRevision(obj.ResourceVersion)
	if err := s.Update(ctx, key, cm("a", "2"), rev, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "/registry/configmaps/ns/b", cm("b", "1"), etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "/registry/configmaps/ns/", etcdstore.ListOptions{}, newCM)
	if err != nil || len(list.Items) != 2 || list.Items[0].(*corev1.ConfigMap).Data["v"] != "2" {
		t.Fatalf("list %+v %v", list.Items, err)
	}

	// A new write tag: RewriteStale moves every value to it.
	s2 := etcdstore.New(client, nil)
	s2.SetTransformers(etcdstore.Transformers{"/registry/configmaps/": tagger{tags: []string{"v2:", "v1:"}}})
	if n, err := s2.RewriteStale(ctx, "/registry/configmaps/"); err != nil || n != 2 {
		t.Fatalf("RewriteStale: %d, %v", n, err)
	}
	resp, err = client.Get(ctx, key)
	if err != nil || !bytes.HasPrefix(resp.Kvs[0].Value, []byte("v2:{")) {
		t.Fatalf("after rewrite %q, %v", resp.Kvs[0].Value, err)
	}
	if n, err := s2.RewriteStale(ctx, "/registry/configmaps/"); err != nil || n != 0 {
		t.Fatalf("second RewriteStale: %d, %v", n, err)
	}
	// Without transformers the store reads values as they are.
	if err := etcdstore.New(client, nil).Get(ctx, key, &corev1.ConfigMap{}); err == nil {
		t.Fatal("a tagged value decoded as JSON")
	}
}
