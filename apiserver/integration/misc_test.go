package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func labelsEverything() labels.Selector { return labels.Everything() }

func TestDiscovery(t *testing.T) {
	c := start(t)
	groups, resources, err := c.client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	gotGroups := map[string]bool{}
	for _, g := range groups {
		gotGroups[g.Name] = true
	}
	for _, g := range []string{"", "apps", "batch", "coordination.k8s.io", "discovery.k8s.io", "autoscaling", "networking.k8s.io", "storage.k8s.io", "scheduling.k8s.io", "certificates.k8s.io"} {
		if !gotGroups[g] {
			t.Errorf("group %q missing", g)
		}
	}
	short := map[string]string{}
	subs := map[string]bool{}
	allCategory := map[string]bool{}
	for _, list := range resources {
		for _, r := range list.APIResources {
			for _, s := range r.ShortNames {
				short[s] = r.Name
			}
			if strings.Contains(r.Name, "/") {
				subs[r.Name] = true
			}
			for _, cat := range r.Categories {
				if cat == "all" {
					allCategory[r.Name] = true
				}
			}
		}
	}
	for s, want := range map[string]string{"po": "pods", "svc": "services", "deploy": "deployments", "rs": "replicasets", "rc": "replicationcontrollers", "ds": "daemonsets", "sts": "statefulsets", "cm": "configmaps", "ns": "namespaces", "no": "nodes", "ev": "events", "csr": "certificatesigningrequests"} {
		if short[s] != want {
			t.Errorf("short name %s -> %q, want %s", s, short[s], want)
		}
	}
	for _, s := range []string{"pods/status", "pods/binding", "pods/eviction", "deployments/scale", "replicasets/scale", "replicationcontrollers/scale", "replicationcontrollers/status", "statefulsets/scale", "namespaces/finalize", "nodes/status", "certificatesigningrequests/status", "certificatesigningrequests/approval"} {
		if !subs[s] {
			t.Errorf("subresource %s missing", s)
		}
	}
	for _, r := range []string{"pods", "services", "deployments", "replicasets", "replicationcontrollers", "daemonsets", "statefulsets", "jobs", "cronjobs"} {
		if !allCategory[r] {
			t.Errorf("%s not in the all category", r)
		}
	}
	v, err := c.client.Discovery().ServerVersion()
	if err != nil || v.Major != "1" {
		t.Fatalf("version %+v %v", v, err)
	}
	// Aggregated discovery, as kubectl asks for it first.
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis", "", nil,
		http.Header{"Accept": {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"}})
	if resp.code != 200 || !strings.Contains(resp.header.Get("Content-Type"), "as=APIGroupDiscoveryList") || !strings.Contains(string(resp.body), `"resource":"deployments"`) {
		t.Fatalf("aggregated discovery: %d %s", resp.code, resp.header.Get("Content-Type"))
	}
}

func TestServerSideTable(t *testing.T) {
	c := start(t)
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), pod("tbl"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api/v1/namespaces/default/pods", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}})
	if resp.code != 200 {
		t.Fatalf("%d %s", resp.code, resp.body)
	}
	var table metav1.Table
	if err := json.Unmarshal(resp.body, &table); err != nil {
		t.Fatal(err)
	}
	if table.Kind != "Table" || len(table.Rows) != 1 || len(table.ColumnDefinitions) == 0 || table.ColumnDefinitions[0].Name != "Name" {
		t.Fatalf("table %+v", table)
	}
	if table.Rows[0].Cells[0] != "tbl" || len(table.Rows[0].Cells) != len(table.ColumnDefinitions) {
		t.Fatalf("row %+v", table.Rows[0])
	}
	var pom metav1.PartialObjectMetadata
	if err := json.Unmarshal(table.Rows[0].Object.Raw, &pom); err != nil || pom.Name != "tbl" || pom.Kind != "PartialObjectMetadata" {
		t.Fatalf("row object %s", table.Rows[0].Object.Raw)
	}
}

func TestMetrics(t *testing.T) {
	c := start(t)
	if _, err := c.client.CoreV1().ConfigMaps("default").List(ctx(t), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	r := c.do(t, http.MethodGet, "/metrics", "", nil)
	for _, m := range []string{`apiserver_request_total{code="200",group="",resource="configmaps",subresource="",verb="LIST",version="v1"}`,
		"apiserver_request_duration_seconds_bucket", "etcd_request_duration_seconds_bucket", "apiserver_registered_watchers"} {
		if !strings.Contains(string(r.body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// kubectl's typed commands (create configmap, scale, drain) send protobuf.
func TestProtobufRequestBodies(t *testing.T) {
	c := start(t)
	cfg := rest.CopyConfig(c.Config)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	client := kubernetes.NewForConfigOrDie(cfg)
	cm, err := client.CoreV1().ConfigMaps("default").Create(ctx(t), configMap("pb", map[string]string{"a": "b"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["a"] != "b" || cm.UID == "" {
		t.Fatalf("created %+v", cm)
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx(t), pod("pbpod"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var p *corev1.Pod
	if p, err = client.CoreV1().Pods("default").Get(ctx(t), "pbpod", metav1.GetOptions{}); err != nil || p.Spec.Containers[0].Image != "busybox:1.36" {
		t.Fatalf("get %v %v", p, err)
	}
	if err := client.CoreV1().ConfigMaps("default").Delete(ctx(t), "pb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The review kinds have no tables: a client that accepts only a Table
// gets 406, as from Kubernetes; one that also accepts JSON gets JSON.
func TestReviewKindsHaveNoTables(t *testing.T) {
	c := start(t)
	body := []byte(`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"nonResourceAttributes":{"path":"/","verb":"get"}}}`)
	path := "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
	resp := doWith(t, c.http, c.Server.URL(), http.MethodPost, path, "application/json", body,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}})
	if resp.code != http.StatusNotAcceptable {
		t.Fatalf("review as a Table: %d %s, want 406", resp.code, resp.body)
	}
	resp = doWith(t, c.http, c.Server.URL(), http.MethodPost, path, "application/json", body,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}})
	if resp.code != http.StatusCreated || !strings.Contains(string(resp.body), `"allowed":true`) {
		t.Fatalf("review as a Table or JSON: %d %s", resp.code, resp.body)
	}
}
