package integration

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

func names(list *corev1.ConfigMapList) string {
	var out []string
	for _, cm := range list.Items {
		out = append(out, cm.Namespace+"/"+cm.Name)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestListSelectorsAndNamespaces(t *testing.T) {
	c := start(t)
	createNamespace(t, c, "other")
	for _, x := range []struct{ ns, name, tier string }{
		{"default", "a", "web"}, {"default", "b", "db"}, {"other", "c", "web"}, {"other", "d", "cache"},
	} {
		cm := configMap(x.name, nil)
		cm.Labels = map[string]string{"tier": x.tier}
		if _, err := c.client.CoreV1().ConfigMaps(x.ns).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		ns   string
		opts metav1.ListOptions
		want string
	}{
		{"one namespace", "default", metav1.ListOptions{LabelSelector: "tier"}, "default/a,default/b"},
		{"all namespaces", "", metav1.ListOptions{LabelSelector: "tier"}, "default/a,default/b,other/c,other/d"},
		{"label equality", "", metav1.ListOptions{LabelSelector: "tier=web"}, "default/a,other/c"},
		{"label set", "", metav1.ListOptions{LabelSelector: "tier in (db,cache)"}, "default/b,other/d"},
		{"label inequality", "other", metav1.ListOptions{LabelSelector: "tier!=web"}, "other/d"},
		{"field name", "", metav1.ListOptions{FieldSelector: "metadata.name=c"}, "other/c"},
		{"field namespace", "", metav1.ListOptions{LabelSelector: "tier", FieldSelector: "metadata.namespace!=default"}, "other/c,other/d"},
		{"label and field", "", metav1.ListOptions{LabelSelector: "tier=web", FieldSelector: "metadata.namespace=default"}, "default/a"},
		{"from the cache", "", metav1.ListOptions{LabelSelector: "tier=web", ResourceVersion: "0"}, "default/a,other/c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := c.client.CoreV1().ConfigMaps(tt.ns).List(ctx(t), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(list); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if list.ResourceVersion == "" {
				t.Fatal("list has no resourceVersion")
			}
		})
	}
}

func TestPodFieldSelectors(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	for _, x := range []struct{ name, node string }{{"p1", "n1"}, {"p2", "n2"}, {"p3", ""}} {
		p := pod(x.name)
		p.Spec.NodeName = x.node
		if _, err := pods.Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for sel, want := range map[string]string{
		"spec.nodeName=n1":                                      "p1",
		"spec.nodeName=":                                        "p3",
		"spec.nodeName!=,status.phase=Pending":                  "p1,p2",
		"spec.schedulerName=default-scheduler,metadata.name=p2": "p2",
	} {
		list, err := pods.List(ctx(t), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		var got []string
		for _, p := range list.Items {
			got = append(got, p.Name)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != want {
			t.Errorf("%s: got %v, want %s", sel, got, want)
		}
	}
	_, err := pods.List(ctx(t), metav1.ListOptions{FieldSelector: "spec.bogus=x"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: spec.bogus") {
		t.Fatalf("want BadRequest naming the field, got %v", err)
	}
}

func TestPagination(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	for i := 0; i < 25; i++ {
		cm := configMap(fmt.Sprintf("cm-%02d", i), nil)
		cm.Labels = map[string]string{"even": fmt.Sprint(i%2 == 0)}
		if _, err := cms.Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page1, err := cms.List(ctx(t), metav1.ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page1.Items) != 10 || page1.Continue == "" || page1.RemainingItemCount == nil || *page1.RemainingItemCount != 15 {
		t.Fatalf("page 1: %d items, continue %q, remaining %v", len(page1.Items), page1.Continue, page1.RemainingItemCount)
	}
	// A write between pages is not seen: the pages are one snapshot.
	if _, err := cms.Create(ctx(t), configMap("cm-99", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, cm := range page1.Items {
		all = append(all, cm.Name)
	}
	next := page1.Continue
	for next != "" {
		page, err := cms.List(ctx(t), metav1.ListOptions{Limit: 10, Continue: next})
		if err != nil {
			t.Fatal(err)
		}
		if page.ResourceVersion != page1.ResourceVersion {
			t.Fatalf("page at rv %s, first page at %s", page.ResourceVersion, page1.ResourceVersion)
		}
		for _, cm := range page.Items {
			all = append(all, cm.Name)
		}
		next = page.Continue
	}
	if len(all) != 25 || all[0] != "cm-00" || all[24] != "cm-24" {
		t.Fatalf("paged list: %v", all)
	}
	// Paging with a selector still fills pages.
	evens, err := cms.List(ctx(t), metav1.ListOptions{Limit: 5, LabelSelector: "even=true"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evens.Items) != 5 || evens.Continue == "" {
		t.Fatalf("filtered page: %d items, continue %q", len(evens.Items), evens.Continue)
	}
	r := c.do(t, http.MethodGet, "/api/v1/namespaces/default/configmaps?limit=5&continue=garbage", "", nil)
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "continue key is not valid") {
		t.Fatalf("bad continue token: %d %s", r.code, r.body)
	}
}

// A continue token whose revision etcd has compacted away is 410 with a
// token that goes on from the same key at the current revision (an
// inconsistent list), as Kubernetes answers it.
func TestContinueAfterCompaction(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.CompactionInterval = 500 * time.Millisecond }))
	cms := c.client.CoreV1().ConfigMaps("default")
	for i := 0; i < 9; i++ {
		if _, err := cms.Create(ctx(t), configMap(fmt.Sprintf("page-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cms.List(ctx(t), metav1.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var inconsistent string
	eventually(t, 30*time.Second, "the first token compacted away", func() (bool, error) {
		// Writes move the revision on, so the compactor passes the token's.
		more := configMap("", nil)
		more.GenerateName = "zz-"
		if _, err := cms.Create(ctx(t), more, metav1.CreateOptions{}); err != nil {
			return false, err
		}
		_, err := cms.List(ctx(t), metav1.ListOptions{Limit: 3, Continue: first.Continue})
		if err == nil {
			return false, nil
		}
		if !apierrors.IsResourceExpired(err) {
			return false, err
		}
		inconsistent = err.(apierrors.APIStatus).Status().ListMeta.Continue
		if inconsistent == "" || !strings.Contains(err.Error(), "use the continue token in this response") {
			t.Fatalf("410 without an inconsistent continue token: %v", err)
		}
		return true, nil
	})
	next, err := cms.List(ctx(t), metav1.ListOptions{Limit: 3, Continue: inconsistent})
	if err != nil {
		t.Fatal(err)
	}
	if next.ResourceVersion == first.ResourceVersion || len(next.Items) != 3 || next.Items[0].Name != "page-3" {
		t.Fatalf("inconsistent continuation: rv %s (first %s), %d items, first %q", next.ResourceVersion, first.ResourceVersion, len(next.Items), next.Items[0].Name)
	}
}
