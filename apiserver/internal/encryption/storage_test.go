package encryption_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/encryption"
	"coracle.dev/apiserver/internal/etcd/etcdtest"
	"coracle.dev/apiserver/internal/etcdstore"
	"coracle.dev/apiserver/internal/watchcache"
)

const (
	secretsPrefix    = "/registry/secrets/"
	configmapsPrefix = "/registry/configmaps/"
	// secretValue is a Secret's data, as it would show in clear JSON.
	secretValue = "hunter2-very-secret"
)

func keyOf(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func mustParse(t *testing.T, yaml string) *encryption.Config {
	t.Helper()
	c, err := encryption.Parse([]byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// storeWith returns a store whose Secrets go through cfg's transformer.
func storeWith(client *clientv3.Client, cfg *encryption.Config) (*etcdstore.Store, etcdstore.Transformer) {
	s := etcdstore.New(client, nil)
	t := cfg.For("", "secrets")
	s.SetTransformers(etcdstore.Transformers{secretsPrefix: t})
	return s, t
}

func secret(name string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		StringData: map[string]string{"password": secretValue},
	}
}

func raw(t *testing.T, client *clientv3.Client, key string) []byte {
	t.Helper()
	resp, err := client.Get(context.Background(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read %s from etcd: %v", key, err)
	}
	return resp.Kvs[0].Value
}

// TestSecretsAreCiphertextInEtcd writes through the store and the watch
// cache as the apiserver does, and reads etcd directly: a Secret is
// ciphertext there, a ConfigMap is not, and both read back as objects.
// Rotating the key and rewriting leaves only the new key's values.
func TestSecretsAreCiphertextInEtcd(t *testing.T) {
	client := etcdtest.Start(t)
	ctx := context.Background()
	cfg := mustParse(t, `
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: key1, secret: `+keyOf(1)+`}]}}, {identity: {}}]
`)
	store, tr := storeWith(client, cfg)

	// A Secret from before encryption was turned on, stored in clear.
	if _, err := client.Put(ctx, secretsPrefix+"ns/old", `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"old","namespace":"ns"},"stringData":{"password":"`+secretValue+`"}}`); err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, secretsPrefix+"ns/new", secret("new"), etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Data: map[string]string{"k": "plain-value"}}
	if err := store.Create(ctx, configmapsPrefix+"ns/c", cm, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}

	stored := raw(t, client, secretsPrefix+"ns/new")
	if !bytes.HasPrefix(stored, []byte("k8s:enc:aescbc:v1:key1:")) || bytes.Contains(stored, []byte(secretValue)) {
		t.Fatalf("secret in etcd is not ciphertext: %q", stored)
	}
	if got := raw(t, client, configmapsPrefix+"ns/c"); !bytes.Contains(got, []byte("plain-value")) {
		t.Fatalf("configmap in etcd: %q", got)
	}

	got := &corev1.Secret{}
	if err := store.Get(ctx, secretsPrefix+"ns/new", got); err != nil || got.StringData["password"] != secretValue {
		t.Fatalf("get: %+v %v", got, err)
	}
	list, err := store.List(ctx, secretsPrefix, etcdstore.ListOptions{}, func() runtime.Object { return &corev1.Secret{} })
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("list: %d items, %v", len(list.Items), err)
	}
	for _, o := range list.Items {
		if o.(*corev1.Secret).StringData["password"] != secretValue {
			t.Fatalf("listed %+v", o)
		}
	}

	// The watch cache decodes the same values, listed and watched.
	cache := startCache(t, client, tr)
	for _, name := range []string{"old", "new"} {
		if o := cache.Get(secretsPrefix + "ns/" + name); o == nil || o.(*corev1.Secret).StringData["password"] != secretValue {
			t.Fatalf("cache holds %s as %+v", name, o)
		}
	}
	upd := secret("new")
	upd.StringData["password"] = "changed"
	rev, _ := etcdstore.ParseRevision(got.ResourceVersion)
	if err := store.Update(ctx, secretsPrefix+"ns/new", upd, rev, etcdstore.Side{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		o := cache.Get(secretsPrefix + "ns/new")
		return o != nil && o.(*corev1.Secret).StringData["password"] == "changed"
	})

	// Rotation: the new key first, the old one after it. Rewriting
	// re-encrypts the old key's value and the clear one, and only those.
	rotated := mustParse(t, `
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: key2, secret: `+keyOf(2)+`}, {name: key1, secret: `+keyOf(1)+`}]}}, {identity: {}}]
`)
	rstore, rtr := storeWith(client, rotated)
	// The restarted apiserver's cache, which sees the rewrites.
	rcache := startCache(t, client, rtr)
	n, err := rstore.RewriteStale(ctx, secretsPrefix)
	if err != nil || n != 2 {
		t.Fatalf("RewriteStale rewrote %d values, %v; want 2", n, err)
	}
	if n, err := rstore.RewriteStale(ctx, secretsPrefix); err != nil || n != 0 {
		t.Fatalf("second RewriteStale rewrote %d values, %v; want 0", n, err)
	}
	if n, err := rstore.RewriteStale(ctx, configmapsPrefix); err != nil || n != 0 {
		t.Fatalf("RewriteStale of an unencrypted resource rewrote %d values, %v", n, err)
	}
	for _, name := range []string{"old", "new"} {
		if v := raw(t, client, secretsPrefix+"ns/"+name); !bytes.HasPrefix(v, []byte("k8s:enc:aescbc:v1:key2:")) {
			t.Fatalf("%s after rotation: %q", name, v)
		}
	}
	// The watch cache saw the rewrites as modifications it could decode.
	waitFor(t, func() bool { return rcache.Revision() >= currentRevision(t, client) })
	if o := rcache.Get(secretsPrefix + "ns/old"); o == nil || o.(*corev1.Secret).StringData["password"] != secretValue {
		t.Fatalf("cache after rotation holds %+v", o)
	}

	// The old key can go: everything reads with the new one alone.
	onlyNew := mustParse(t, `
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: key2, secret: `+keyOf(2)+`}]}}]
`)
	nstore, _ := storeWith(client, onlyNew)
	list, err = nstore.List(ctx, secretsPrefix, etcdstore.ListOptions{}, func() runtime.Object { return &corev1.Secret{} })
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("list with the new key only: %d items, %v", len(list.Items), err)
	}

	// A store that lost the key fails loudly rather than returning garbage.
	lost := mustParse(t, `
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: key3, secret: `+keyOf(3)+`}]}}]
`)
	lstore, _ := storeWith(client, lost)
	if err := lstore.Get(ctx, secretsPrefix+"ns/old", &corev1.Secret{}); err == nil || !strings.Contains(err.Error(), "no matching key") {
		t.Fatalf("get without the key: %v", err)
	}
}

func startCache(t *testing.T, client *clientv3.Client, tr etcdstore.Transformer) *watchcache.Cache {
	t.Helper()
	c := watchcache.New(watchcache.Config{
		Client: client, Prefix: secretsPrefix, Transformer: tr,
		NewObject:       func() runtime.Object { return &corev1.Secret{} },
		RequestProgress: client.RequestProgress,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, c.Ready)
	return c
}

func currentRevision(t *testing.T, client *clientv3.Client) int64 {
	resp, err := client.Get(context.Background(), "probe")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
