// Package e2e drives the built bin/ctl, as a person would, against a real
// apiserver (shared/testserver: bin/apiserver with its embedded etcd on
// loopback), checking what it prints, its exit codes and what ends up in
// the store; the parity tests run the real kubectl through the same
// scenarios and compare the stores.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"coracle.dev/shared/testbin"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// age is a kubectl AGE cell: "0s", "12s", "3m4s".
var age = regexp.MustCompile(`^[0-9]+[smhdy]([0-9]+[smhd])?$`)

// namespace creates a namespace for one subtest.
func (c *cluster) namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-"))
	name = strings.Trim(name, "-")
	if len(name) > 45 {
		name = strings.Trim(name[len(name)-45:], "-")
	}
	c.mu.Lock()
	c.namespaces++
	name = fmt.Sprintf("%s-%d", name, c.namespaces)
	c.mu.Unlock()
	_, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func podSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}
}

func TestCtl(t *testing.T) {
	c := startCluster(t)
	k := ctl(t, c)
	ctx := context.Background()

	t.Run("get namespaces with no flags but KUBECONFIG", func(t *testing.T) {
		tb := parseTable(k.ok(t, "get", "namespaces"))
		if want := []string{"NAME", "STATUS", "AGE"}; !slices.Equal(tb.header, want) {
			t.Fatalf("columns %q, want %q", tb.header, want)
		}
		for _, ns := range []string{"default", "kube-node-lease", "kube-public", "kube-system"} {
			r := tb.row("NAME", ns)
			if r == nil || r["STATUS"] != "Active" || !age.MatchString(r["AGE"]) {
				t.Errorf("namespace %s: row %v", ns, r)
			}
		}
	})

	t.Run("get output forms", func(t *testing.T) {
		ns := c.namespace(t)
		for _, name := range []string{"a", "b"} {
			_, err := c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web", "name": name}},
				Spec:       podSpec("busybox:" + name),
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		tb := parseTable(k.ok(t, "-n", ns, "get", "po"))
		if want := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}; !slices.Equal(tb.header, want) {
			t.Fatalf("pods columns %q, want %q", tb.header, want)
		}
		if got := tb.column("NAME"); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("names %q", got)
		}
		wide := parseTable(k.ok(t, "-n", ns, "get", "pods", "-o", "wide"))
		if !slices.Contains(wide.header, "NODE") || !slices.Contains(wide.header, "IP") {
			t.Fatalf("wide columns %q lack NODE and IP", wide.header)
		}
		k.says(t, "pod/a\npod/b", "-n", ns, "get", "pods", "-o", "name")
		k.says(t, "a b", "-n", ns, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}")
		k.says(t, "busybox:a", "-n", ns, "get", "pod", "a", "-o", "jsonpath={.spec.containers[0].image}")
		k.says(t, "NAME   IMAGE\na      busybox:a\nb      busybox:b", "-n", ns, "get", "pods", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image")
		y := k.ok(t, "-n", ns, "get", "pod/a", "-o", "yaml")
		if !strings.HasPrefix(y, "apiVersion: v1\nkind: Pod\n") || !strings.Contains(y, "name: a\n") {
			t.Fatalf("yaml of one pod:\n%s", y)
		}
		j := k.ok(t, "-n", ns, "get", "pods", "-o", "json")
		if !strings.Contains(j, `"kind": "List"`) || strings.Count(j, `"kind": "Pod"`) != 2 {
			t.Fatalf("json of a list:\n%s", j)
		}
		k.says(t, "pod/b", "-n", ns, "get", "pods", "-l", "name=b", "-o", "name")
		k.says(t, "pod/a", "-n", ns, "get", "pods", "--field-selector", "metadata.name=a", "-o", "name")
		labels := parseTable(k.ok(t, "-n", ns, "get", "pods", "--show-labels"))
		if r := labels.row("NAME", "a"); r == nil || r["LABELS"] != "app=web,name=a" {
			t.Fatalf("--show-labels: %v", labels.rows)
		}
		all := parseTable(k.ok(t, "get", "pods", "-A"))
		if all.header[0] != "NAMESPACE" || all.row("NAME", "a")["NAMESPACE"] != ns {
			t.Fatalf("-A: %v %v", all.header, all.rows)
		}
		sorted := k.ok(t, "-n", ns, "get", "pods", "--sort-by", "{.metadata.labels.name}", "-o", "name")
		if sorted != "pod/a\npod/b\n" {
			t.Fatalf("--sort-by: %q", sorted)
		}
	})

	t.Run("get several kinds and all and short names", func(t *testing.T) {
		ns := c.namespace(t)
		k.ok(t, "-n", ns, "create", "deployment", "web", "--image=busybox")
		k.ok(t, "-n", ns, "create", "configmap", "cfg", "--from-literal=a=b")
		out := k.ok(t, "-n", ns, "get", "deploy,cm")
		for _, want := range []string{"deployment.apps/web", "configmap/cfg"} {
			if !strings.Contains(out, want) {
				t.Errorf("get deploy,cm lacks %s:\n%s", want, out)
			}
		}
		if !strings.Contains(out, "\n\nNAME") {
			t.Errorf("tables of two kinds are not separated by a blank line:\n%s", out)
		}
		all := k.ok(t, "-n", ns, "get", "all")
		if !strings.Contains(all, "deployment.apps/web") || strings.Contains(all, "configmap") {
			t.Errorf("get all:\n%s", all)
		}
		for _, short := range []string{"po", "deploy", "svc", "no", "ns", "cm", "rs", "ds", "sts", "ep", "ev", "sa", "pvc", "pv", "cj", "hpa", "ing", "sc", "pc"} {
			if r := k.run(t, "-n", ns, "get", short); r.code != 0 {
				t.Errorf("get %s: %s", short, r)
			}
		}
	})

	t.Run("get errors as kubectl words them", func(t *testing.T) {
		ns := c.namespace(t)
		k.fails(t, `Error from server (NotFound): pods "x" not found`, "-n", ns, "get", "pods", "x")
		k.fails(t, `error: the server doesn't have a resource type "foo"`, "get", "foo")
		r := k.run(t, "-n", ns, "get", "pods")
		if r.code != 0 || r.stdout != "" || strings.TrimSpace(r.stderr) != "No resources found in "+ns+" namespace." {
			t.Fatalf("empty list: %s", r)
		}
		r = k.run(t, "get", "pods", "-o", "yaml2")
		if r.code != 1 || !strings.Contains(r.stderr, `error: unable to match a printer suitable for the output format "yaml2"`) {
			t.Fatalf("bad -o: %s", r)
		}
		k.says(t, "", "-n", ns, "get", "pods", "x", "--ignore-not-found")
	})

	t.Run("get -w streams rows as they change", func(t *testing.T) {
		ns := c.namespace(t)
		out, _ := k.background(t, "-n", ns, "get", "pods", "-w")
		time.Sleep(500 * time.Millisecond)
		_, err := c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Spec: podSpec("busybox")}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the new pod's row", func() bool { return strings.Contains(out.String(), "w1 ") })
		if err := c.client.CoreV1().Pods(ns).Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deleted pod's row", func() bool { return strings.Count(out.String(), "w1 ") >= 2 })
		if n := strings.Count(out.String(), "NAME"); n != 1 {
			t.Fatalf("header printed %d times:\n%s", n, out)
		}
		events, _ := k.background(t, "-n", ns, "get", "pods", "-w", "--output-watch-events")
		time.Sleep(500 * time.Millisecond)
		if _, err := c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w2"}, Spec: podSpec("busybox")}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "an ADDED event row", func() bool { return regexp.MustCompile(`ADDED\s+w2 `).MatchString(events.String()) })
	})

	t.Run("describe pod, node, deployment, service, namespace with events", func(t *testing.T) {
		ns := c.namespace(t)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "describe-node"}, Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resourceQ("2"), corev1.ResourceMemory: resourceQ("4Gi")},
		}}
		if _, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod, err := c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "describe-node", Containers: []corev1.Container{{Name: "web", Image: "busybox",
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}},
				VolumeMounts:  []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		_, err = c.client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web-1.1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", Namespace: ns, UID: pod.UID, APIVersion: "v1"},
			Reason:         "BackOff", Message: "Back-off restarting failed container web", Type: "Warning",
			Source: corev1.EventSource{Component: "kubelet", Host: "describe-node"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := k.ok(t, "-n", ns, "describe", "pod", "web-1")
		for _, want := range []string{"Name:", "Namespace:", "Node:", "describe-node/", "Containers:", "  web:", "Image:", "Liveness:", "http-get http://:8080/healthz", "Mounts:", "/data from data (rw)", "Volumes:", "EmptyDir", "QoS Class:", "Events:", "Warning  BackOff", "kubelet, describe-node", "Back-off restarting failed container web"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe pod lacks %q:\n%s", want, out)
			}
		}
		// A name prefix describes every pod it starts.
		if out := k.ok(t, "-n", ns, "describe", "pods", "web"); !strings.Contains(out, "web-1") {
			t.Errorf("describe by prefix:\n%s", out)
		}
		// The column width depends on the longest label (Service Account,
		// when the ServiceAccount admission set one), so match loosely.
		if out := k.ok(t, "-n", ns, "describe", "pods", "-l", "app=web"); !regexp.MustCompile(`(?m)^Name:\s+web-1$`).MatchString(out) {
			t.Errorf("describe -l:\n%s", out)
		}
		out = k.ok(t, "describe", "node", "describe-node")
		for _, want := range []string{"Roles:", "Taints:", "Unschedulable:", "Capacity:", "cpu:", "Non-terminated Pods:", "(1 in total)", ns + "  web-1", "Allocated resources:", "Events:"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe node lacks %q:\n%s", want, out)
			}
		}
		k.ok(t, "-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=2")
		out = k.ok(t, "-n", ns, "describe", "deploy", "web")
		for _, want := range []string{"Selector:               app=web", "Replicas:               2 desired", "StrategyType:           RollingUpdate", "Pod Template:", "NewReplicaSet:", "Events:"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe deployment lacks %q:\n%s", want, out)
			}
		}
		k.ok(t, "-n", ns, "expose", "deployment", "web", "--port=80", "--target-port=8080")
		out = k.ok(t, "-n", ns, "describe", "svc", "web")
		for _, want := range []string{"Type:", "ClusterIP", "Port:", "80/TCP", "TargetPort:", "8080/TCP", "Endpoints:", "Events:"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe service lacks %q:\n%s", want, out)
			}
		}
		out = k.ok(t, "describe", "ns", ns)
		for _, want := range []string{"Status:       Active", "No resource quota."} {
			if !strings.Contains(out, want) {
				t.Errorf("describe namespace lacks %q:\n%s", want, out)
			}
		}
		k.ok(t, "-n", ns, "create", "configmap", "cfg", "--from-literal=key=value")
		out = k.ok(t, "-n", ns, "describe", "configmap", "cfg")
		for _, want := range []string{"Name:", "API Version:  v1", "Kind:         ConfigMap", "Data:", "Key:", "value", "Events:"} {
			if !strings.Contains(out, want) {
				t.Errorf("generic describe lacks %q:\n%s", want, out)
			}
		}
		k.fails(t, `Error from server (NotFound): pods "zzz" not found`, "-n", ns, "describe", "pod", "zzz")
	})

	t.Run("apply creates configures leaves unchanged and keeps others fields", func(t *testing.T) {
		ns := c.namespace(t)
		manifest := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
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
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  a: "1"
`
		path := writeFile(t, "app.yaml", manifest)
		k.says(t, "deployment.apps/web created\nconfigmap/cfg created", "-n", ns, "apply", "-f", path)
		k.says(t, "deployment.apps/web unchanged\nconfigmap/cfg unchanged", "-n", ns, "apply", "-f", path)
		// Someone else sets a field apply never owned; it survives.
		d, _ := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "SET_BY", Value: "other"}}
		if _, err := c.client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		path = writeFile(t, "app.yaml", strings.Replace(manifest, "replicas: 2", "replicas: 3", 1))
		k.says(t, "deployment.apps/web configured\nconfigmap/cfg unchanged", "-n", ns, "apply", "-f", path)
		d, _ = c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if *d.Spec.Replicas != 3 || len(d.Spec.Template.Spec.Containers[0].Env) != 1 {
			t.Fatalf("after apply: replicas %d env %v", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Env)
		}
		if !strings.Contains(d.Annotations["kubectl.kubernetes.io/last-applied-configuration"], `"replicas":3`) {
			t.Fatalf("last-applied: %s", d.Annotations["kubectl.kubernetes.io/last-applied-configuration"])
		}
		// A field removed from the manifest is removed from the object.
		path = writeFile(t, "app.yaml", strings.Replace(manifest, "data:\n  a: \"1\"\n", "data:\n  b: \"2\"\n", 1))
		k.ok(t, "-n", ns, "apply", "-f", path)
		cm, _ := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
		if _, ok := cm.Data["a"]; ok || cm.Data["b"] != "2" {
			t.Fatalf("configmap data after apply: %v", cm.Data)
		}
	})

	t.Run("apply from stdin and directories", func(t *testing.T) {
		ns := c.namespace(t)
		r := k.runIn(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"json"},"data":{"k":"v"}}`, "-n", ns, "apply", "-f", "-")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "configmap/json created" {
			t.Fatalf("apply -f -: %s", r)
		}
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
		os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: top}\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "sub", "b.yml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nested}\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a manifest"), 0o644)
		k.says(t, "configmap/top created", "-n", ns, "apply", "-f", dir)
		k.says(t, "configmap/top unchanged\nconfigmap/nested created", "-n", ns, "apply", "-R", "-f", dir)
	})

	t.Run("apply keeps going past a bad document and exits 1", func(t *testing.T) {
		ns := c.namespace(t)
		path := writeFile(t, "mixed.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: first
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
data:
  a: [1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: invalid
spec:
  replicas: -1
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: other}
    spec:
      containers:
      - name: c
        image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: last
`)
		r := k.run(t, "-n", ns, "apply", "-f", path)
		if r.code != 1 || r.stdout != "configmap/first created\nconfigmap/last created\n" {
			t.Fatalf("apply of a mixed file: %s", r)
		}
		if !strings.Contains(r.stderr, "error: error parsing "+path+": error converting YAML to JSON: yaml: line 11:") {
			t.Errorf("the YAML error does not name the file and line: %s", r.stderr)
		}
		if !strings.Contains(r.stderr, `The Deployment "invalid" is invalid: `) || !strings.Contains(r.stderr, "* spec.replicas: Invalid value: -1") || !strings.Contains(r.stderr, "* spec.template.metadata.labels: Invalid value") {
			t.Errorf("the validation error does not list each field: %s", r.stderr)
		}
		if _, err := c.client.AppsV1().Deployments(ns).Get(ctx, "invalid", metav1.GetOptions{}); err == nil {
			t.Errorf("the invalid deployment was stored")
		}
		r = k.run(t, "-n", ns, "apply", "-f", "/nonexistent/x.yaml")
		if r.code != 1 || strings.TrimSpace(r.stderr) != `error: the path "/nonexistent/x.yaml" does not exist` {
			t.Fatalf("missing file: %s", r)
		}
		other := writeFile(t, "other-ns.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: elsewhere}\n")
		r = k.run(t, "-n", ns, "apply", "-f", other)
		if r.code != 1 || !strings.Contains(r.stderr, `the namespace from the provided object "elsewhere" does not match the namespace "`+ns+`"`) {
			t.Fatalf("namespace mismatch: %s", r)
		}
	})

	t.Run("create from files and generators", func(t *testing.T) {
		ns := c.namespace(t)
		path := writeFile(t, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n")
		k.says(t, "pod/p created", "-n", ns, "create", "-f", path)
		k.fails(t, `Error from server (AlreadyExists): error when creating "`+path+`": pods "p" already exists`, "-n", ns, "create", "-f", path)
		k.says(t, "namespace/"+ns+"-extra created", "create", "namespace", ns+"-extra")
		k.says(t, "configmap/cm created", "-n", ns, "create", "configmap", "cm", "--from-literal=a=1", "--from-literal=b=2")
		cm, _ := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "cm", metav1.GetOptions{})
		if cm.Data["a"] != "1" || cm.Data["b"] != "2" {
			t.Fatalf("configmap data %v", cm.Data)
		}
		file := writeFile(t, "app.conf", "x=y\n")
		k.says(t, "secret/s created", "-n", ns, "create", "secret", "generic", "s", "--from-file="+file, "--from-literal=user=admin")
		s, _ := c.client.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
		if string(s.Data["app.conf"]) != "x=y\n" || string(s.Data["user"]) != "admin" {
			t.Fatalf("secret data %v", s.Data)
		}
		k.says(t, "deployment.apps/d created", "-n", ns, "create", "deployment", "d", "--image=registry.local:5000/library/busybox:1.36", "--replicas=2", "--port=80", "--", "sleep", "3600")
		d, _ := c.client.AppsV1().Deployments(ns).Get(ctx, "d", metav1.GetOptions{})
		ct := d.Spec.Template.Spec.Containers[0]
		if *d.Spec.Replicas != 2 || ct.Name != "busybox" || ct.Ports[0].ContainerPort != 80 || !slices.Equal(ct.Command, []string{"sleep", "3600"}) || d.Spec.Selector.MatchLabels["app"] != "d" {
			t.Fatalf("deployment %+v", d.Spec)
		}
		out := k.ok(t, "-n", ns, "create", "deployment", "dry", "--image=busybox", "--dry-run=client", "-o", "yaml")
		if !strings.Contains(out, "kind: Deployment") || !strings.Contains(out, "name: dry") {
			t.Fatalf("dry run output:\n%s", out)
		}
		if _, err := c.client.AppsV1().Deployments(ns).Get(ctx, "dry", metav1.GetOptions{}); err == nil {
			t.Fatal("a client dry run created the deployment")
		}
	})

	t.Run("delete by name file label cascade grace and force", func(t *testing.T) {
		ns := c.namespace(t)
		for _, n := range []string{"a", "b", "c"} {
			c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"group": map[bool]string{true: "x", false: "y"}[n != "c"]}}}, metav1.CreateOptions{})
		}
		k.says(t, `configmap "a" deleted`, "-n", ns, "delete", "configmap", "a")
		k.says(t, `configmap "b" deleted`, "-n", ns, "delete", "cm", "-l", "group=x")
		k.fails(t, `Error from server (NotFound): configmaps "a" not found`, "-n", ns, "delete", "cm", "a")
		k.fails(t, "error: resource(s) were provided, but no name was specified", "-n", ns, "delete", "cm")
		path := writeFile(t, "c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
		k.says(t, `configmap "c" deleted`, "-n", ns, "delete", "-f", path)

		for _, name := range []string{"orphaned", "foreground", "background"} {
			k.ok(t, "-n", ns, "create", "deployment", name, "--image=busybox")
		}
		k.says(t, `deployment.apps "orphaned" deleted`, "-n", ns, "delete", "deploy", "orphaned", "--cascade=orphan", "--wait=false")
		k.says(t, `deployment.apps "foreground" deleted`, "-n", ns, "delete", "deploy", "foreground", "--cascade=foreground", "--wait=false")
		k.says(t, `deployment.apps "background" deleted`, "-n", ns, "delete", "deploy", "background")
		for name, finalizer := range map[string]string{"orphaned": "orphan", "foreground": "foregroundDeletion"} {
			d, err := c.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || d.DeletionTimestamp == nil || !slices.Contains(d.Finalizers, finalizer) {
				t.Errorf("deployment %s after delete: err %v, finalizers %v", name, err, d.Finalizers)
			}
		}
		if _, err := c.client.AppsV1().Deployments(ns).Get(ctx, "background", metav1.GetOptions{}); err == nil {
			t.Errorf("deployment background still there")
		}

		// A pod on a node is deleted gracefully (its kubelet finishes);
		// --force removes it at once.
		if _, err := c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Spec: corev1.PodSpec{NodeName: "some-node", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		k.says(t, `pod "bound" deleted`, "-n", ns, "delete", "pod", "bound", "--grace-period=30", "--wait=false")
		p, err := c.client.CoreV1().Pods(ns).Get(ctx, "bound", metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp == nil || *p.DeletionGracePeriodSeconds != 30 {
			t.Fatalf("graceful delete: %v %+v", err, p.ObjectMeta)
		}
		r := k.run(t, "-n", ns, "delete", "pod", "bound", "--force")
		if r.code != 0 || strings.TrimSpace(r.stdout) != `pod "bound" force deleted` || !strings.Contains(r.stderr, "Warning: Immediate deletion does not wait for confirmation") {
			t.Fatalf("force delete: %s", r)
		}
		if _, err := c.client.CoreV1().Pods(ns).Get(ctx, "bound", metav1.GetOptions{}); err == nil {
			t.Fatal("force-deleted pod still there")
		}
	})

	t.Run("run, expose, scale, label, annotate, set image", func(t *testing.T) {
		ns := c.namespace(t)
		k.says(t, "pod/box created", "-n", ns, "run", "box", "--image=busybox", "--port=8080", "--env=A=1", "--restart=Never", "--", "sleep", "3600")
		p, _ := c.client.CoreV1().Pods(ns).Get(ctx, "box", metav1.GetOptions{})
		ct := p.Spec.Containers[0]
		if p.Labels["run"] != "box" || !slices.Equal(ct.Args, []string{"sleep", "3600"}) || ct.Env[0].Value != "1" || p.Spec.RestartPolicy != corev1.RestartPolicyNever || ct.Ports[0].ContainerPort != 8080 {
			t.Fatalf("run made %+v", p.Spec)
		}
		k.says(t, "service/box exposed", "-n", ns, "expose", "pod", "box", "--port=80", "--target-port=8080")
		svc, _ := c.client.CoreV1().Services(ns).Get(ctx, "box", metav1.GetOptions{})
		if svc.Spec.Selector["run"] != "box" || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 {
			t.Fatalf("expose made %+v", svc.Spec)
		}
		k.ok(t, "-n", ns, "create", "deployment", "web", "--image=busybox:1", "--port=8080")
		k.says(t, "service/web exposed", "-n", ns, "expose", "deployment", "web", "--type=NodePort")
		svc, _ = c.client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].NodePort == 0 {
			t.Fatalf("expose deployment made %+v", svc.Spec)
		}
		k.says(t, "deployment.apps/web scaled", "-n", ns, "scale", "deployment", "web", "--replicas=4")
		d, _ := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if *d.Spec.Replicas != 4 {
			t.Fatalf("replicas %d", *d.Spec.Replicas)
		}
		k.fails(t, "error: Expected replicas to be 2, was 4", "-n", ns, "scale", "deploy/web", "--current-replicas=2", "--replicas=1")
		k.says(t, "deployment.apps/web labeled", "-n", ns, "label", "deploy", "web", "tier=front")
		k.fails(t, "error: 'tier' already has a value (front), and --overwrite is false", "-n", ns, "label", "deploy", "web", "tier=back")
		k.says(t, "deployment.apps/web labeled", "-n", ns, "label", "deploy", "web", "tier=back", "--overwrite")
		k.says(t, "deployment.apps/web annotated", "-n", ns, "annotate", "deploy/web", "owner=team-a")
		d, _ = c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if d.Labels["tier"] != "back" || d.Annotations["owner"] != "team-a" {
			t.Fatalf("labels %v annotations %v", d.Labels, d.Annotations)
		}
		k.says(t, "deployment.apps/web labeled", "-n", ns, "label", "deploy", "web", "tier-")
		k.says(t, "deployment.apps/web image updated", "-n", ns, "set", "image", "deployment/web", "busybox=busybox:2")
		d, _ = c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if _, ok := d.Labels["tier"]; ok || d.Spec.Template.Spec.Containers[0].Image != "busybox:2" {
			t.Fatalf("after label removal and set image: %v %s", d.Labels, d.Spec.Template.Spec.Containers[0].Image)
		}
		k.fails(t, `error: unable to find container named "nope"`, "-n", ns, "set", "image", "deployment/web", "nope=x")
	})

	t.Run("edit saves a good edit and keeps a broken one", func(t *testing.T) {
		ns := c.namespace(t)
		k.ok(t, "-n", ns, "create", "configmap", "cfg", "--from-literal=mode=dev")
		editor := writeFile(t, "editor.sh", "#!/bin/sh\nsed -i 's/mode: dev/mode: prod/' \"$1\"\n")
		os.Chmod(editor, 0o755)
		ke := ctl(t, c, "EDITOR="+editor)
		ke.says(t, "configmap/cfg edited", "-n", ns, "edit", "configmap/cfg")
		cm, _ := c.client.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
		if cm.Data["mode"] != "prod" {
			t.Fatalf("after edit: %v", cm.Data)
		}
		// The broken editor breaks the YAML once; reopened with the
		// reason on top, it leaves the file as it is.
		broken := writeFile(t, "broken.sh", "#!/bin/sh\ngrep -q 'was not valid' \"$1\" || sed -i 's/mode: prod/mode: [prod/' \"$1\"\n")
		os.Chmod(broken, 0o755)
		kb := ctl(t, c, "EDITOR="+broken)
		r := kb.run(t, "-n", ns, "edit", "cm", "cfg")
		m := regexp.MustCompile(`A copy of your changes has been stored to "([^"]+)"`).FindStringSubmatch(r.stderr)
		if r.code != 1 || m == nil || !strings.Contains(r.stderr, "error: Edit cancelled, no valid changes were saved.") {
			t.Fatalf("broken edit: %s", r)
		}
		kept, err := os.ReadFile(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(kept), "mode: [prod") || !strings.Contains(string(kept), "# configmap/cfg was not valid:") || !strings.Contains(string(kept), "# error: error parsing edited file: yaml: line 3: did not find expected") {
			t.Fatalf("the kept file:\n%s", kept)
		}
		os.Remove(m[1])
		cm, _ = c.client.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
		if cm.Data["mode"] != "prod" {
			t.Fatalf("a broken edit changed the object: %v", cm.Data)
		}
		noop := writeFile(t, "noop.sh", "#!/bin/sh\ntrue\n")
		os.Chmod(noop, 0o755)
		ctl(t, c, "EDITOR="+noop).says(t, "Edit cancelled, no changes made.", "-n", ns, "edit", "cm", "cfg")
	})

	t.Run("cordon, uncordon, taint and drain a node", func(t *testing.T) {
		ns := c.namespace(t)
		node := "drain-node"
		if _, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		k.says(t, "node/"+node+" cordoned", "cordon", node)
		k.says(t, "node/"+node+" already cordoned", "cordon", node)
		k.says(t, "node/"+node+" uncordoned", "uncordon", node)
		k.says(t, "node/"+node+" tainted", "taint", "nodes", node, "dedicated=db:NoSchedule")
		k.fails(t, "error: node "+node+" already has dedicated taint(s) with same effect(s) and --overwrite is false", "taint", "nodes", node, "dedicated=web:NoSchedule")
		k.says(t, "node/"+node+" modified", "taint", "nodes", node, "dedicated=web:NoSchedule", "--overwrite")
		n, _ := c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Value != "web" {
			t.Fatalf("taints %v", n.Spec.Taints)
		}
		k.says(t, "node/"+node+" untainted", "taint", "nodes", node, "dedicated:NoSchedule-")
		k.fails(t, `error: taint "dedicated:NoSchedule" not found`, "taint", "nodes", node, "dedicated:NoSchedule-")

		owner := func(kind, name string) []metav1.OwnerReference {
			return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID("0000-" + name), Controller: ptr.To(true)}}
		}
		pods := []*corev1.Pod{
			{ObjectMeta: metav1.ObjectMeta{Name: "managed", OwnerReferences: owner("ReplicaSet", "rs")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "daemon", OwnerReferences: owner("DaemonSet", "ds")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "bare"}},
		}
		for _, p := range pods {
			p.Spec = corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
			if _, err := c.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		r := k.run(t, "drain", node, "--grace-period=0")
		if r.code != 1 || !strings.Contains(r.stdout, "node/"+node+" cordoned") ||
			!strings.Contains(r.stderr, "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): "+ns+"/daemon") ||
			!strings.Contains(r.stderr, "cannot delete Pods that declare no controller (use --force to override): "+ns+"/bare") {
			t.Fatalf("drain refusing: %s", r)
		}
		if _, err := c.client.CoreV1().Pods(ns).Get(ctx, "managed", metav1.GetOptions{}); err != nil {
			t.Fatalf("a refused drain evicted a pod: %v", err)
		}
		r = k.run(t, "drain", node, "--ignore-daemonsets", "--force", "--grace-period=0", "--timeout=60s")
		if r.code != 0 || !strings.Contains(r.stdout, "evicting pod "+ns+"/managed") || !strings.Contains(r.stdout, "pod/managed evicted") ||
			!strings.Contains(r.stdout, "pod/bare evicted") || !strings.Contains(r.stdout, "node/"+node+" drained") ||
			!strings.Contains(r.stderr, "Warning: ignoring DaemonSet-managed Pods: "+ns+"/daemon") {
			t.Fatalf("drain: %s", r)
		}
		left, _ := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if len(left.Items) != 1 || left.Items[0].Name != "daemon" {
			t.Fatalf("pods left: %v", left.Items)
		}
		n, _ = c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if !n.Spec.Unschedulable {
			t.Fatal("drained node is schedulable")
		}
	})

	t.Run("events and get events sorted", func(t *testing.T) {
		ns := c.namespace(t)
		base := time.Now().Add(-time.Hour)
		for i, reason := range []string{"Second", "First", "Third"} {
			ts := metav1.NewTime(base.Add(time.Duration([]int{2, 1, 3}[i]) * time.Minute))
			_, err := c.client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("e%d", i)},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns},
				Reason:         reason, Message: "m " + reason, Type: "Normal", FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		tb := parseTable(k.ok(t, "-n", ns, "events"))
		if got := tb.column("REASON"); !slices.Equal(got, []string{"First", "Second", "Third"}) {
			t.Fatalf("events order %q", got)
		}
		if r := tb.rows[0]; r["OBJECT"] != "pod/p" || r["TYPE"] != "Normal" {
			t.Fatalf("event row %v", r)
		}
		out := k.ok(t, "-n", ns, "get", "events", "--sort-by=.lastTimestamp", "-o", "custom-columns=REASON:.reason", "--no-headers")
		if out != "First\nSecond\nThird\n" {
			t.Fatalf("get events --sort-by: %q", out)
		}
		sorted := parseTable(k.ok(t, "-n", ns, "get", "events", "--sort-by=.lastTimestamp"))
		if got := sorted.column("REASON"); !slices.Equal(got, []string{"First", "Second", "Third"}) {
			t.Fatalf("table sorted %q", got)
		}
	})

	t.Run("version, cluster-info, api-resources, completion, help", func(t *testing.T) {
		out := k.ok(t, "version")
		if !strings.Contains(out, "Client Version: v1.32") || !strings.Contains(out, "Server Version: v1.32") {
			t.Fatalf("version:\n%s", out)
		}
		if out := k.ok(t, "cluster-info"); !strings.Contains(out, "Kubernetes control plane is running at "+c.ts.Config.Host) {
			t.Fatalf("cluster-info:\n%s", out)
		}
		tb := parseTable(k.ok(t, "api-resources"))
		if r := tb.row("NAME", "deployments"); r == nil || r["SHORTNAMES"] != "deploy" || r["APIVERSION"] != "apps/v1" || r["KIND"] != "Deployment" {
			t.Fatalf("api-resources deployments row: %v", r)
		}
		for _, sh := range []string{"bash", "zsh"} {
			if out := k.ok(t, "completion", sh); !strings.Contains(out, "ctl") || len(out) < 1000 {
				t.Fatalf("completion %s:\n%s", sh, out)
			}
		}
		out = k.ok(t, "__complete", "get", "deploy", "")
		if !strings.Contains(out, ":4") {
			t.Fatalf("dynamic completion: %s", out)
		}
		if out := k.ok(t, "get", "--help"); !strings.Contains(out, "Examples:") || !strings.Contains(out, "ctl get pods -w") {
			t.Fatalf("get --help:\n%s", out)
		}
	})

	t.Run("kubeconfig, context and namespace flags", func(t *testing.T) {
		ns := c.namespace(t)
		k.ok(t, "-n", ns, "create", "configmap", "here")
		cfg, err := os.ReadFile(c.ts.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		// The same kubeconfig under another path, given by flag only.
		path := writeFile(t, "other.conf", string(cfg))
		bare := newCLI(t, c, testbin.Path(t, "ctl"))
		bare.env = slices.DeleteFunc(bare.env, func(kv string) bool { return strings.HasPrefix(kv, "KUBECONFIG=") })
		bare.env = append(bare.env, "KUBECONFIG=/nonexistent/kubeconfig")
		bare.says(t, "configmap/here", "--kubeconfig", path, "-n", ns, "get", "cm", "here", "-o", "name")
		// A second context whose namespace is ns: --context picks it, and
		// with it the namespace.
		conf, err := clientcmd.Load(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cur := conf.Contexts[conf.CurrentContext]
		other := cur.DeepCopy()
		other.Namespace = ns
		conf.Contexts["other"] = other
		data, err := clientcmd.Write(*conf)
		if err != nil {
			t.Fatal(err)
		}
		two := writeFile(t, "two.conf", string(data))
		bare.says(t, "configmap/here", "--kubeconfig", two, "--context", "other", "get", "cm", "here", "-o", "name")
		bare.fails(t, `Error from server (NotFound): configmaps "here" not found`, "--kubeconfig", two, "get", "cm", "here")
		r := bare.run(t, "--kubeconfig", two, "--context", "nope", "get", "cm")
		if r.code != 1 || !strings.Contains(r.stderr, `error: context "nope" does not exist`) {
			t.Fatalf("unknown context: %s", r)
		}
	})
}

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }
