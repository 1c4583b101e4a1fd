package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"coracle.dev/e2e/framework"
	"coracle.dev/shared/testproc"
	"coracle.dev/shared/testserver"
)

// kubectlTimeout bounds one kubectl command.
const kubectlTimeout = 60 * time.Second

// kubectl runs the real kubectl against one apiserver, with a fresh HOME so
// that its discovery cache starts empty.
type kubectl struct {
	path string
	env  []string
}

func newKubectl(t *testing.T, s *testserver.TestServer) *kubectl {
	t.Helper()
	path := framework.SystemBinary(t, "kubectl", "the kubectl compatibility tests drive the real kubectl (v1.32); install it")
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "KUBECONFIG="+s.Kubeconfig, "HOME="+t.TempDir())
	k := &kubectl{path: path, env: env}
	t.Logf("kubectl: %s", k.ok(t, "version", "--client"))
	return k
}

// result is what one kubectl command printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// run runs kubectl with args and returns what it printed, whatever its
// exit status.
func (k *kubectl) run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.path, args...)
	cmd.Env = k.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("kubectl %s: no answer within %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), kubectlTimeout, r.stdout, r.stderr)
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ok runs kubectl, requires it to succeed and returns its stdout.
func (k *kubectl) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := k.run(t, args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// says runs kubectl, requires it to succeed and to print exactly want (one
// line, such as "deployment.apps/web created").
func (k *kubectl) says(t *testing.T, want string, args ...string) {
	t.Helper()
	if got := strings.TrimSpace(k.ok(t, args...)); got != want {
		t.Fatalf("kubectl %s printed %q, want %q", strings.Join(args, " "), got, want)
	}
}

// notFound requires kubectl get to fail with the NotFound error, as
// kubectl prints it against a real cluster.
func (k *kubectl) notFound(t *testing.T, want string, args ...string) {
	t.Helper()
	r := k.run(t, append([]string{"get"}, args...)...)
	if r.code != 1 || strings.TrimSpace(r.stdout) != "" || strings.TrimSpace(r.stderr) != want {
		t.Fatalf("kubectl get %s: want exit 1 and %q; got %s", strings.Join(args, " "), want, r)
	}
}

// background runs a long kubectl command (a watch) until the test ends;
// its stdout collects in the returned buffer.
func (k *kubectl) background(t *testing.T, args ...string) *testproc.Buffer {
	t.Helper()
	out := &testproc.Buffer{}
	var stderr testproc.Buffer
	cmd := exec.Command(k.path, args...)
	cmd.Env = k.env
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("kubectl %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, &stderr)
		}
	})
	return out
}

// writeManifest writes a manifest into the test's temporary directory.
func writeManifest(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if strings.Contains(path, ",") {
		t.Fatalf("%s: kubectl -f splits paths at commas; keep commas out of test names", path)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// age is kubectl's AGE cell: "0s", "12s", "3m4s", "5d".
var age = regexp.MustCompile(`^[0-9]+[smhdy]([0-9]+[smhd])?$`)

// TestKubectl drives the real kubectl against one apiserver; each subtest
// uses its own objects.
func TestKubectl(t *testing.T) {
	s := testserver.Start(t)
	k := newKubectl(t, s)

	t.Run("get namespaces lists the four system namespaces as Active", func(t *testing.T) {
		tables := parseTables(k.ok(t, "get", "namespaces"))
		if len(tables) != 1 {
			t.Fatalf("want one table, got %d", len(tables))
		}
		tb := tables[0]
		if want := []string{"NAME", "STATUS", "AGE"}; !slices.Equal(tb.header, want) {
			t.Errorf("columns %q, want %q", tb.header, want)
		}
		for _, ns := range []string{"default", "kube-node-lease", "kube-public", "kube-system"} {
			r := tb.row("NAME", ns)
			if r == nil {
				t.Errorf("namespace %s missing; names: %q", ns, tb.column("NAME"))
				continue
			}
			if r["STATUS"] != "Active" || !age.MatchString(r["AGE"]) {
				t.Errorf("namespace %s: STATUS %q AGE %q, want Active and an age", ns, r["STATUS"], r["AGE"])
			}
		}
	})

	t.Run("get services across namespaces shows the kubernetes service", func(t *testing.T) {
		tables := parseTables(k.ok(t, "get", "svc", "-A"))
		if len(tables) != 1 {
			t.Fatalf("want one table, got %d", len(tables))
		}
		tb := tables[0]
		if want := []string{"NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}; !slices.Equal(tb.header, want) {
			t.Errorf("columns %q, want %q", tb.header, want)
		}
		r := tb.row("NAME", "kubernetes")
		if r == nil {
			t.Fatalf("no kubernetes service; names: %q", tb.column("NAME"))
		}
		want := map[string]string{"NAMESPACE": "default", "TYPE": "ClusterIP", "CLUSTER-IP": "10.96.0.1", "EXTERNAL-IP": "<none>", "PORT(S)": "443/TCP"}
		for col, v := range want {
			if r[col] != v {
				t.Errorf("kubernetes service %s = %q, want %q", col, r[col], v)
			}
		}
	})

	t.Run("api-resources lists kinds with short names and group versions", func(t *testing.T) {
		tables := parseTables(k.ok(t, "api-resources"))
		if len(tables) != 1 {
			t.Fatalf("want one table, got %d", len(tables))
		}
		tb := tables[0]
		if want := []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}; !slices.Equal(tb.header, want) {
			t.Fatalf("columns %q, want %q", tb.header, want)
		}
		for _, want := range []map[string]string{
			{"NAME": "pods", "SHORTNAMES": "po", "APIVERSION": "v1", "NAMESPACED": "true", "KIND": "Pod"},
			{"NAME": "services", "SHORTNAMES": "svc", "APIVERSION": "v1", "NAMESPACED": "true", "KIND": "Service"},
			{"NAME": "configmaps", "SHORTNAMES": "cm", "APIVERSION": "v1", "NAMESPACED": "true", "KIND": "ConfigMap"},
			{"NAME": "secrets", "SHORTNAMES": "", "APIVERSION": "v1", "NAMESPACED": "true", "KIND": "Secret"},
			{"NAME": "namespaces", "SHORTNAMES": "ns", "APIVERSION": "v1", "NAMESPACED": "false", "KIND": "Namespace"},
			{"NAME": "nodes", "SHORTNAMES": "no", "APIVERSION": "v1", "NAMESPACED": "false", "KIND": "Node"},
			{"NAME": "deployments", "SHORTNAMES": "deploy", "APIVERSION": "apps/v1", "NAMESPACED": "true", "KIND": "Deployment"},
			{"NAME": "replicasets", "SHORTNAMES": "rs", "APIVERSION": "apps/v1", "NAMESPACED": "true", "KIND": "ReplicaSet"},
			{"NAME": "jobs", "SHORTNAMES": "", "APIVERSION": "batch/v1", "NAMESPACED": "true", "KIND": "Job"},
			{"NAME": "leases", "SHORTNAMES": "", "APIVERSION": "coordination.k8s.io/v1", "NAMESPACED": "true", "KIND": "Lease"},
		} {
			got := tb.row("NAME", want["NAME"])
			if got == nil {
				t.Errorf("%s not listed; names: %q", want["NAME"], tb.column("NAME"))
				continue
			}
			for col, v := range want {
				if got[col] != v {
					t.Errorf("%s: %s = %q, want %q", want["NAME"], col, got[col], v)
				}
			}
		}
	})

	t.Run("apply creates then leaves unchanged then strategic-merges a changed manifest", func(t *testing.T) {
		testApply(t, k)
	})

	t.Run("apply rejects an unknown field and names it", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			exists bool
		}{
			{"on create", false},
			{"on update", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := "strict-" + strings.ReplaceAll(tc.name, " ", "-")
				good := writeManifest(t, "good.yaml", deploymentManifest(name, 1, "nginx:1.27", false))
				if tc.exists {
					k.says(t, "deployment.apps/"+name+" created", "apply", "-f", good)
				}
				bad := writeManifest(t, "bad.yaml", strings.Replace(deploymentManifest(name, 2, "nginx:1.27", false),
					"  replicas: 2\n", "  replicas: 2\n  replicaz: 3\n", 1))
				r := k.run(t, "apply", "-f", bad)
				if r.code == 0 || !strings.Contains(r.stderr, `unknown field "spec.replicaz"`) {
					t.Fatalf(`kubectl apply of a manifest with spec.replicaz: want failure naming unknown field "spec.replicaz"; got %s`, r)
				}
				if !tc.exists {
					k.notFound(t, `Error from server (NotFound): deployments.apps "`+name+`" not found`, "deployment", name)
					return
				}
				if got := k.ok(t, "get", "deployment", name, "-o", "jsonpath={.spec.replicas}"); got != "1" {
					t.Errorf("after the rejected apply, replicas = %q, want 1 (unchanged)", got)
				}
			})
		}
	})

	t.Run("get several kinds at once prints a table per kind", func(t *testing.T) {
		k.says(t, "namespace/multi created", "create", "namespace", "multi")
		k.says(t, "pod/web created", "run", "web", "--image=nginx:1.27", "-n", "multi")
		k.says(t, "service/backend created", "create", "service", "clusterip", "backend", "--tcp=80:8080", "-n", "multi")
		k.says(t, "configmap/settings created", "create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2", "-n", "multi")

		tables := parseTables(k.ok(t, "get", "pods,svc,cm", "-n", "multi"))
		want := []struct {
			header []string
			name   string
			cells  map[string]string
		}{
			{[]string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, "pod/web", map[string]string{"READY": "0/1", "STATUS": "Pending", "RESTARTS": "0"}},
			{[]string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, "service/backend", map[string]string{"TYPE": "ClusterIP", "EXTERNAL-IP": "<none>", "PORT(S)": "80/TCP"}},
			{[]string{"NAME", "DATA", "AGE"}, "configmap/settings", map[string]string{"DATA": "2"}},
		}
		if len(tables) != len(want) {
			t.Fatalf("want %d tables (pods, services, configmaps), got %d: %+v", len(want), len(tables), tables)
		}
		for i, w := range want {
			tb := tables[i]
			if !slices.Equal(tb.header, w.header) {
				t.Errorf("table %d columns %q, want %q", i, tb.header, w.header)
				continue
			}
			r := tb.row("NAME", w.name)
			if r == nil {
				t.Errorf("table %d: no row %s; names %q", i, w.name, tb.column("NAME"))
				continue
			}
			for col, v := range w.cells {
				if r[col] != v {
					t.Errorf("%s: %s = %q, want %q", w.name, col, r[col], v)
				}
			}
			if !age.MatchString(r["AGE"]) {
				t.Errorf("%s: AGE = %q, want an age", w.name, r["AGE"])
			}
		}
		if svc := tables[1].row("NAME", "service/backend"); svc != nil {
			ip := net.ParseIP(svc["CLUSTER-IP"])
			_, serviceCIDR, _ := net.ParseCIDR("10.96.0.0/12")
			if ip == nil || !serviceCIDR.Contains(ip) || ip.Equal(net.ParseIP("10.96.0.1")) {
				t.Errorf("service/backend CLUSTER-IP %q: want a free address in 10.96.0.0/12", svc["CLUSTER-IP"])
			}
		}
	})

	t.Run("get --watch streams additions and label changes and deletions", func(t *testing.T) {
		k.says(t, "namespace/watch created", "create", "namespace", "watch")
		k.says(t, "configmap/w1 created", "create", "configmap", "w1", "-n", "watch")
		out := k.background(t, "get", "configmaps", "-n", "watch", "--watch", "--output-watch-events", "-L", "color")

		// Lines are parsed by fields: a watch prints each event as it
		// comes, so its columns need not line up with the header's.
		waitForLine := func(what string, match func(f []string) bool) {
			t.Helper()
			eventually(t, 30*time.Second, "kubectl get --watch to print "+what, func() bool {
				for _, line := range strings.Split(out.String(), "\n") {
					if f := strings.Fields(line); len(f) > 0 && match(f) {
						return true
					}
				}
				return false
			})
		}
		waitForLine("header", func(f []string) bool { return slices.Equal(f, []string{"EVENT", "NAME", "DATA", "AGE", "COLOR"}) })
		waitForLine("ADDED w1", func(f []string) bool { return f[0] == "ADDED" && f[1] == "w1" })

		k.says(t, "configmap/w1 labeled", "label", "configmap", "w1", "color=blue", "-n", "watch")
		waitForLine("MODIFIED w1 with color blue", func(f []string) bool {
			return f[0] == "MODIFIED" && f[1] == "w1" && f[len(f)-1] == "blue"
		})
		k.says(t, "configmap/w2 created", "create", "configmap", "w2", "--from-literal=k=v", "-n", "watch")
		waitForLine("ADDED w2", func(f []string) bool { return f[0] == "ADDED" && f[1] == "w2" && f[2] == "1" })
		k.says(t, `configmap "w2" deleted`, "delete", "configmap", "w2", "-n", "watch")
		waitForLine("DELETED w2", func(f []string) bool { return f[0] == "DELETED" && f[1] == "w2" })
	})

	t.Run("create scale run and delete imperatively", func(t *testing.T) {
		k.says(t, "namespace/imperative created", "create", "namespace", "imperative")
		const ns = "imperative"

		// kubectl create sends protobuf bodies; -v=8 shows the request
		// headers, so the test knows that path was taken.
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"create", "configmap", "c1", "--from-literal=k=v"}, "configmap/c1 created"},
			{[]string{"create", "deployment", "d1", "--image=nginx:1.27"}, "deployment.apps/d1 created"},
		} {
			r := k.run(t, append(tc.args, "-n", ns, "-v=8")...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != tc.want {
				t.Fatalf("kubectl %s: want %q; got %s", strings.Join(tc.args, " "), tc.want, r)
			}
			if !strings.Contains(r.stderr, "Content-Type: application/vnd.kubernetes.protobuf") {
				t.Errorf("kubectl %s sent no protobuf body (the test meant to cover that path)", strings.Join(tc.args, " "))
			}
		}
		if got := k.ok(t, "get", "configmap", "c1", "-n", ns, "-o", "jsonpath={.data.k}"); got != "v" {
			t.Errorf("configmap c1 data.k = %q, want v", got)
		}
		if got := k.ok(t, "get", "deployment", "d1", "-n", ns, "-o", "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image}"); got != "1 d1 nginx:1.27" {
			t.Errorf("deployment d1: replicas, selector app, image = %q, want %q", got, "1 d1 nginx:1.27")
		}

		k.says(t, "deployment.apps/d1 scaled", "scale", "deployment", "d1", "--replicas=3", "-n", ns)
		if got := k.ok(t, "get", "deployment", "d1", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "3" {
			t.Errorf("after kubectl scale --replicas=3, spec.replicas = %q", got)
		}

		k.says(t, "pod/p1 created", "run", "p1", "--image=busybox:1.36", "-n", ns, "--", "sleep", "3600")
		if got := k.ok(t, "get", "pod", "p1", "-n", ns, "-o", "jsonpath={.spec.containers[0].image} {.spec.containers[0].args}"); got != `busybox:1.36 ["sleep","3600"]` {
			t.Errorf("pod p1: image and args = %q", got)
		}

		for _, tc := range []struct {
			kind, name, deleted, notFound string
		}{
			{"configmap", "c1", `configmap "c1" deleted`, `Error from server (NotFound): configmaps "c1" not found`},
			{"deployment", "d1", `deployment.apps "d1" deleted`, `Error from server (NotFound): deployments.apps "d1" not found`},
			{"pod", "p1", `pod "p1" deleted`, `Error from server (NotFound): pods "p1" not found`},
		} {
			k.says(t, tc.deleted, "delete", tc.kind, tc.name, "-n", ns, "--timeout=45s")
			k.notFound(t, tc.notFound, tc.kind, tc.name, "-n", ns)
		}
	})

	t.Run("get of a missing pod prints NotFound and exits 1", func(t *testing.T) {
		k.notFound(t, `Error from server (NotFound): pods "nope" not found`, "pod", "nope")
	})
}

// deploymentManifest is a Deployment named name, with an nginx container
// of the given image and, if sidecar, a second container.
func deploymentManifest(name string, replicas int, image string, sidecar bool) string {
	m := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
  labels:
    app: NAME
spec:
  replicas: REPLICAS
  selector:
    matchLabels:
      app: NAME
  template:
    metadata:
      labels:
        app: NAME
    spec:
      containers:
      - name: nginx
        image: IMAGE
        ports:
        - containerPort: 80
`
	if sidecar {
		m += `      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "infinity"]
`
	}
	return strings.NewReplacer("NAME", name, "REPLICAS", strconv.Itoa(replicas), "IMAGE", image).Replace(m)
}

func testApply(t *testing.T, k *kubectl) {
	v1 := writeManifest(t, "v1.yaml", deploymentManifest("web", 2, "nginx:1.25", true))
	k.says(t, "deployment.apps/web created", "apply", "-f", v1)
	k.says(t, "deployment.apps/web unchanged", "apply", "-f", v1)

	// Someone edits the live object out of band: a strategic merge patch
	// matches containers by name, so nginx must survive it.
	k.says(t, "deployment.apps/web patched", "patch", "deployment", "web",
		"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","env":[{"name":"MODE","value":"debug"}]}]}}}}`)
	d := getDeployment(t, k, "web")
	if got := containerNames(d); !slices.Equal(got, []string{"nginx", "sidecar"}) {
		t.Fatalf("after a strategic merge patch of the sidecar, containers = %q, want [nginx sidecar]", got)
	}

	// The changed manifest: apply computes a three-way strategic merge
	// patch (last applied, manifest, live) and PATCHes it.
	v2 := writeManifest(t, "v2.yaml", deploymentManifest("web", 4, "nginx:1.27", true))
	k.says(t, "deployment.apps/web configured", "apply", "-f", v2)
	d = getDeployment(t, k, "web")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 4 {
		t.Errorf("spec.replicas = %v, want 4", d.Spec.Replicas)
	}
	cs := d.Spec.Template.Spec.Containers
	if got := containerNames(d); !slices.Equal(got, []string{"nginx", "sidecar"}) {
		t.Fatalf("containers = %q, want [nginx sidecar]", got)
	}
	if cs[0].Image != "nginx:1.27" || len(cs[0].Ports) != 1 || cs[0].Ports[0].ContainerPort != 80 {
		t.Errorf("nginx container = image %q ports %+v, want nginx:1.27 on port 80", cs[0].Image, cs[0].Ports)
	}
	if cs[1].Image != "busybox:1.36" || !slices.Equal(cs[1].Command, []string{"sleep", "infinity"}) {
		t.Errorf("sidecar container = image %q command %q, want busybox:1.36 [sleep infinity]", cs[1].Image, cs[1].Command)
	}
	if len(cs[1].Env) != 1 || cs[1].Env[0].Name != "MODE" || cs[1].Env[0].Value != "debug" {
		t.Errorf("sidecar env = %+v: apply must keep fields it never managed (MODE=debug)", cs[1].Env)
	}

	// What apply recorded, and what the server filled in.
	last := d.Annotations["kubectl.kubernetes.io/last-applied-configuration"]
	var applied appsv1.Deployment
	if err := json.Unmarshal([]byte(last), &applied); err != nil {
		t.Errorf("last-applied-configuration annotation %q: %v", last, err)
	} else if applied.Spec.Replicas == nil || *applied.Spec.Replicas != 4 || applied.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("last-applied-configuration is not the v2 manifest: %s", last)
	}
	checkDeploymentDefaults(t, d)

	// Dropping the sidecar from the manifest removes it: it was applied
	// before, so the three-way merge deletes it.
	v3 := writeManifest(t, "v3.yaml", deploymentManifest("web", 4, "nginx:1.27", false))
	k.says(t, "deployment.apps/web configured", "apply", "-f", v3)
	if got := containerNames(getDeployment(t, k, "web")); !slices.Equal(got, []string{"nginx"}) {
		t.Errorf("after applying a manifest without the sidecar, containers = %q, want [nginx]", got)
	}

	k.says(t, `deployment.apps "web" deleted`, "delete", "-f", v3, "--timeout=45s")
	k.notFound(t, `Error from server (NotFound): deployments.apps "web" not found`, "deployment", "web")
}

// checkDeploymentDefaults requires the defaults Kubernetes fills into a
// Deployment that does not set them.
func checkDeploymentDefaults(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	st := d.Spec.Strategy
	if st.Type != appsv1.RollingUpdateDeploymentStrategyType || st.RollingUpdate == nil ||
		st.RollingUpdate.MaxSurge == nil || st.RollingUpdate.MaxSurge.String() != "25%" ||
		st.RollingUpdate.MaxUnavailable == nil || st.RollingUpdate.MaxUnavailable.String() != "25%" {
		t.Errorf("spec.strategy = %+v, want RollingUpdate with maxSurge 25%% and maxUnavailable 25%%", st)
	}
	if d.Spec.RevisionHistoryLimit == nil || *d.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("spec.revisionHistoryLimit = %v, want 10", d.Spec.RevisionHistoryLimit)
	}
	if d.Spec.ProgressDeadlineSeconds == nil || *d.Spec.ProgressDeadlineSeconds != 600 {
		t.Errorf("spec.progressDeadlineSeconds = %v, want 600", d.Spec.ProgressDeadlineSeconds)
	}
	pod := d.Spec.Template.Spec
	if pod.RestartPolicy != "Always" || pod.DNSPolicy != "ClusterFirst" || pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 30 {
		t.Errorf("pod template restartPolicy %q dnsPolicy %q terminationGracePeriodSeconds %v, want Always, ClusterFirst, 30",
			pod.RestartPolicy, pod.DNSPolicy, pod.TerminationGracePeriodSeconds)
	}
	for _, c := range pod.Containers {
		if c.ImagePullPolicy != "IfNotPresent" || c.TerminationMessagePath != "/dev/termination-log" {
			t.Errorf("container %s: imagePullPolicy %q terminationMessagePath %q, want IfNotPresent and /dev/termination-log",
				c.Name, c.ImagePullPolicy, c.TerminationMessagePath)
		}
		for _, p := range c.Ports {
			if p.Protocol != "TCP" {
				t.Errorf("container %s port %d: protocol %q, want TCP", c.Name, p.ContainerPort, p.Protocol)
			}
		}
	}
}

// getDeployment reads a Deployment the way a user would: kubectl get -o yaml.
func getDeployment(t *testing.T, k *kubectl, name string) *appsv1.Deployment {
	t.Helper()
	out := k.ok(t, "get", "deployment", name, "-o", "yaml")
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(out), &d); err != nil {
		t.Fatalf("kubectl get deployment %s -o yaml: %v\n%s", name, err, out)
	}
	return &d
}

func containerNames(d *appsv1.Deployment) []string {
	var names []string
	for _, c := range d.Spec.Template.Spec.Containers {
		names = append(names, c.Name)
	}
	return names
}
