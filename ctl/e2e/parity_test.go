package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// parityManifest has a kind of each shape apply handles: typed lists
// merged by key (containers), maps, and a cluster-wide reference.
const parityManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1
        command: [sleep, "3600"]
        env:
        - {name: A, value: "1"}
      - name: side
        image: busybox:1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data: {a: "1", b: "2"}
`

// parityEdit changes the manifest the way a person's second apply would:
// a field changed, a list item removed, a map key removed.
func parityEdit(m string) string {
	m = strings.Replace(m, "replicas: 2", "replicas: 3", 1)
	m = strings.Replace(m, "      - name: side\n        image: busybox:1\n", "", 1)
	m = strings.Replace(m, `data: {a: "1", b: "2"}`, `data: {a: "1"}`, 1)
	return m
}

var parityKinds = []struct {
	gvr  schema.GroupVersionResource
	name string
}{
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "web"},
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "web"},
	{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "cfg"},
}

// stored reads an object and keeps what two clients' writes should agree
// on: no server-assigned fields, the namespace name masked.
func (c *cluster) stored(t *testing.T, gvr schema.GroupVersionResource, ns, name string) map[string]any {
	t.Helper()
	u, err := c.dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s %s/%s: %v", gvr.Resource, ns, name, err)
	}
	for _, f := range [][]string{
		{"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "creationTimestamp"},
		{"metadata", "managedFields"}, {"metadata", "namespace"}, {"status"},
		{"spec", "clusterIP"}, {"spec", "clusterIPs"},
	} {
		unstructured.RemoveNestedField(u.Object, f...)
	}
	data, _ := json.Marshal(u.Object)
	var out map[string]any
	_ = json.Unmarshal([]byte(strings.ReplaceAll(string(data), ns, "NS")), &out)
	return out
}

func TestParityWithKubectl(t *testing.T) {
	c := startCluster(t)
	ours, theirs := ctl(t, c), kubectl(t, c)
	ctx := context.Background()

	t.Run("apply gives the same objects and the same report", func(t *testing.T) {
		nsOurs, nsTheirs := c.namespace(t), c.namespace(t)
		for i, m := range []string{parityManifest, parityManifest, parityEdit(parityManifest)} {
			path := writeFile(t, "app.yaml", m)
			got := ours.ok(t, "-n", nsOurs, "apply", "-f", path)
			want := theirs.ok(t, "-n", nsTheirs, "apply", "-f", path)
			if got != want {
				t.Fatalf("apply #%d printed:\n%s\nkubectl printed:\n%s", i+1, got, want)
			}
			for _, k := range parityKinds {
				a, b := c.stored(t, k.gvr, nsOurs, k.name), c.stored(t, k.gvr, nsTheirs, k.name)
				ja, _ := json.MarshalIndent(a, "", " ")
				jb, _ := json.MarshalIndent(b, "", " ")
				if string(ja) != string(jb) {
					t.Fatalf("after apply #%d, %s %s differs:\nctl:\n%s\nkubectl:\n%s", i+1, k.gvr.Resource, k.name, ja, jb)
				}
			}
		}
	})

	t.Run("get prints the same tables names and errors", func(t *testing.T) {
		ns := c.namespace(t)
		path := writeFile(t, "app.yaml", parityManifest)
		ours.ok(t, "-n", ns, "apply", "-f", path)
		c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "web"}}, Spec: podSpec("busybox")}, metav1.CreateOptions{})
		maskAge := regexp.MustCompile(`\b[0-9]+[smhd]([0-9]+[smh])?\b`)
		for _, args := range [][]string{
			{"get", "po,svc,deploy,cm"},
			{"get", "pods", "-o", "wide"},
			{"get", "all"},
			{"get", "pods", "--show-labels"},
			{"get", "deploy", "web", "-o", "name"},
			{"get", "svc", "-o", "jsonpath={.items[*].spec.ports[0].port}"},
			{"get", "deploy/web", "-o", "jsonpath={.spec.template.spec.containers[*].name}"},
			{"get", "cm", "cfg", "-o", "yaml"},
			{"get", "pods", "-l", "app=web", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image"},
			{"get", "pods", "nope"},
			{"get", "nothing"},
			{"get", "pods", "--field-selector", "metadata.name=p"},
		} {
			full := append([]string{"-n", ns}, args...)
			a, b := ours.run(t, full...), theirs.run(t, full...)
			a.stdout, b.stdout = maskAge.ReplaceAllString(a.stdout, "AGE"), maskAge.ReplaceAllString(b.stdout, "AGE")
			if a.code != b.code || a.stdout != b.stdout || strings.ReplaceAll(a.stderr, "ctl", "kubectl") != b.stderr {
				t.Errorf("%s:\nctl: %s\nkubectl: %s", strings.Join(args, " "), a, b)
			}
		}
	})

	t.Run("describe shows the sections kubectl shows", func(t *testing.T) {
		ns := c.namespace(t)
		path := writeFile(t, "app.yaml", parityManifest)
		ours.ok(t, "-n", ns, "apply", "-f", path)
		c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: podSpec("busybox")}, metav1.CreateOptions{})
		c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "parity-node"}}, metav1.CreateOptions{})
		section := regexp.MustCompile(`(?m)^([A-Z][A-Za-z -]*):`)
		sections := func(out string) []string {
			var s []string
			for _, m := range section.FindAllStringSubmatch(out, -1) {
				s = append(s, m[1])
			}
			sort.Strings(s)
			return slices.Compact(s)
		}
		for _, args := range [][]string{
			{"describe", "pod", "p"},
			{"describe", "deployment", "web"},
			{"describe", "service", "web"},
			{"describe", "configmap", "cfg"},
			{"describe", "node", "parity-node"},
			{"describe", "namespace", ns},
		} {
			full := append([]string{"-n", ns}, args...)
			a, b := ours.ok(t, full...), theirs.ok(t, full...)
			have := sections(a)
			for _, s := range sections(b) {
				if !slices.Contains(have, s) {
					t.Errorf("%s: kubectl shows section %q, ctl does not\nctl:\n%s\nkubectl:\n%s", strings.Join(args, " "), s, a, b)
				}
			}
		}
	})

	t.Run("delete leaves the same store and says the same", func(t *testing.T) {
		for _, args := range [][]string{
			{"delete", "-f", "FILE"},
			{"delete", "deploy,svc", "web"},
			{"delete", "cm", "-l", "app=web"},
			{"delete", "deployment", "web", "--cascade=orphan", "--wait=false"},
		} {
			results := map[string]string{}
			for _, cl := range []*cli{ours, theirs} {
				ns := c.namespace(t)
				path := writeFile(t, "app.yaml", strings.Replace(parityManifest, "name: cfg\n", "name: cfg\n  labels: {app: web}\n", 1))
				ours.ok(t, "-n", ns, "apply", "-f", path)
				full := append([]string{"-n", ns}, args...)
				for i := range full {
					if full[i] == "FILE" {
						full[i] = path
					}
				}
				r := cl.run(t, full...)
				if r.code != 0 {
					t.Fatalf("%s %s: %s", cl.name, strings.Join(args, " "), r)
				}
				var left []string
				for _, k := range parityKinds {
					u, err := c.dynamic.Resource(k.gvr).Namespace(ns).Get(ctx, k.name, metav1.GetOptions{})
					if err == nil {
						left = append(left, k.gvr.Resource+" deleting="+boolString(u.GetDeletionTimestamp() != nil)+" finalizers="+strings.Join(u.GetFinalizers(), ","))
					}
				}
				results[cl.name] = r.stdout + "\nleft: " + strings.Join(left, "; ")
			}
			if results["ctl"] != results["kubectl"] {
				t.Errorf("%s:\nctl: %s\nkubectl: %s", strings.Join(args, " "), results["ctl"], results["kubectl"])
			}
		}
	})
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
