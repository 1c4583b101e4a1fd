package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/kubelet"
	"coracle.dev/shared/testserver"
)

// staticManifest is a static pod of busybox from the test's registry
// running script.
func staticManifest(image, name, script string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {tier: static}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: %s
    command: [sh, -c, %q]
`, name, image, script)
}

// writeAtomically writes a manifest the way kubeadm and editors do:
// a hidden file renamed over the real one.
func writeAtomically(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestStaticPodAndItsMirrorPod follows a static pod through its life:
// a manifest in --pod-manifest-path runs and shows as a mirror pod owned
// by the Node; the mirror pod deleted comes back while the containers
// run on; a bad manifest beside it is logged and changes nothing; the
// manifest edited restarts the pod with a new hash; removed, it stops.
func TestStaticPodAndItsMirrorPod(t *testing.T) {
	manifests := filepath.Join(t.TempDir(), "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	obs, logs := observer.New(zapcore.ErrorLevel)
	n := startNode(t, startLater, func(o *kubelet.Options) {
		o.PodManifestPath = manifests
		o.Log = zap.New(zapcore.NewTee(o.Log.Core(), obs))
	})
	// As a node: NodeRestriction lets it create mirror pods of itself
	// only, and write their status.
	n.withNodeCredential()
	n.startKubelet()
	// Before the node's cleanup, which waits for every pod to go: the
	// static pods go with their files.
	t.Cleanup(func() {
		entries, _ := os.ReadDir(manifests)
		for _, e := range entries {
			_ = os.Remove(filepath.Join(manifests, e.Name()))
		}
		eventually(t, 60*time.Second, "static pods stopped", func() (bool, error) {
			entries, _ := os.ReadDir(filepath.Join(n.opts.RootDir, "pods"))
			return len(entries) == 0, nil
		})
	})
	ctx := context.Background()
	file := filepath.Join(manifests, "web.yaml")
	mirrorName := "web-" + n.name

	// A manifest dropped in the directory: the pod runs, and its mirror
	// pod shows it, owned by the Node.
	writeAtomically(t, file, staticManifest(n.image, "web", "echo v1; exec sleep 3600"))
	mirror := n.waitRunning(mirrorName)
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hash := mirror.Annotations["kubernetes.io/config.hash"]
	switch {
	case len(hash) != 32:
		t.Errorf("config.hash %q", hash)
	case mirror.Annotations["kubernetes.io/config.mirror"] != hash:
		t.Errorf("config.mirror %q, want the hash %q", mirror.Annotations["kubernetes.io/config.mirror"], hash)
	case mirror.Annotations["kubernetes.io/config.source"] != "file":
		t.Errorf("config.source %q", mirror.Annotations["kubernetes.io/config.source"])
	case mirror.Annotations["kubernetes.io/config.seen"] == "":
		t.Error("no config.seen")
	case string(mirror.UID) == hash:
		t.Error("the mirror pod has the static pod's UID; the API gives it its own")
	case mirror.Spec.NodeName != n.name || mirror.Labels["tier"] != "static":
		t.Errorf("mirror pod node %q labels %v", mirror.Spec.NodeName, mirror.Labels)
	}
	if owners := mirror.OwnerReferences; len(owners) != 1 || owners[0].Kind != "Node" || owners[0].APIVersion != "v1" ||
		owners[0].Name != n.name || owners[0].UID != node.UID || owners[0].Controller == nil || !*owners[0].Controller {
		t.Errorf("owner references %+v, want the Node %s (%s) as controller", owners, n.name, node.UID)
	}
	if got := n.waitLog(mirrorName, "main", "v1"); !strings.Contains(got, "v1") {
		t.Errorf("logs %q", got)
	}
	// One pod in the runtime: the mirror pod is not run as a pod of
	// its own.
	if entries, _ := os.ReadDir(filepath.Join(n.opts.RootDir, "pods")); len(entries) != 1 || entries[0].Name() != hash {
		t.Errorf("runtime pods %v, want only the static pod %s", entries, hash)
	}
	pids := n.containerPIDs(hash)
	if len(pids) != 1 || pids["main-0"] == 0 {
		t.Fatalf("static pod's containers %v (runtime pod %s)", pids, hash)
	}

	// The mirror pod deleted: the pod keeps running, the mirror comes
	// back, Running.
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, mirrorName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := n.waitPod(mirrorName, 60*time.Second, "made anew and Running", func(p *v1.Pod) bool {
		return p.UID != mirror.UID && p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && podReady(p)
	})
	if got := n.containerPIDs(hash); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("containers %v after the mirror's deletion, want the same %v", got, pids)
	}
	if again.Annotations["kubernetes.io/config.mirror"] != hash {
		t.Errorf("new mirror's hash %q", again.Annotations["kubernetes.io/config.mirror"])
	}

	// A bad manifest beside it: logged, and the good pod unaffected.
	bad := filepath.Join(manifests, "bad.yaml")
	writeAtomically(t, bad, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n    image: x\n  volumes: [{name: s, secret: {secretName: x}}]\n")
	eventually(t, 30*time.Second, "bad manifest logged", func() (bool, error) {
		for _, e := range logs.FilterField(zap.String("path", bad)).All() {
			if strings.Contains(e.ContextMap()["error"].(string), "static pods may not reference secrets") {
				return true, nil
			}
		}
		return false, nil
	})
	if _, err := n.client.CoreV1().Pods(n.ns).Get(ctx, "bad-"+n.name, metav1.GetOptions{}); err == nil {
		t.Error("a mirror pod for the bad manifest")
	}
	if got := n.containerPIDs(hash); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("containers %v after a bad file came, want the same %v", got, pids)
	}

	// The manifest edited: the old pod stops, the new one runs, the
	// mirror's hash changes.
	writeAtomically(t, file, staticManifest(n.image, "web", "echo v2; exec sleep 3600"))
	edited := n.waitPod(mirrorName, 90*time.Second, "mirror of the edited manifest Running", func(p *v1.Pod) bool {
		h := p.Annotations["kubernetes.io/config.mirror"]
		return h != "" && h != hash && p.Status.Phase == v1.PodRunning && podReady(p)
	})
	newHash := edited.Annotations["kubernetes.io/config.hash"]
	if !strings.Contains(strings.Join(edited.Spec.Containers[0].Command, " "), "echo v2") {
		t.Errorf("mirror's command %v", edited.Spec.Containers[0].Command)
	}
	eventually(t, 60*time.Second, "old static pod removed", func() (bool, error) {
		_, err := os.Stat(filepath.Join(n.opts.RootDir, "pods", hash))
		return os.IsNotExist(err), nil
	})
	if got := n.waitLog(mirrorName, "main", "v2"); !strings.Contains(got, "v2") {
		t.Errorf("logs %q", got)
	}
	if got := n.containerPIDs(newHash); len(got) != 1 || got["main-0"] == 0 {
		t.Errorf("edited pod's containers %v", got)
	}

	// The manifest removed: the pod stops, the mirror goes.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	n.waitGone(mirrorName, 60*time.Second)
	eventually(t, 60*time.Second, "static pod removed", func() (bool, error) {
		_, err := os.Stat(filepath.Join(n.opts.RootDir, "pods", newHash))
		return os.IsNotExist(err), nil
	})
}

// TestStaticPodsFromManifestURL runs the pods a --manifest-url serves (a
// PodList here) on a simulated node, and stops them, mirror pods and
// all, when the URL serves them no more.
func TestStaticPodsFromManifestURL(t *testing.T) {
	var mu sync.Mutex
	body := `{"apiVersion":"v1","kind":"PodList","items":[
{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}},
{"metadata":{"name":"b","namespace":"kube-system"},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	ts := testserver.Start(t)
	client := clientFor(t, ts)
	k := startFake(t, ts, "hollow", 2, func(o *kubelet.Options) {
		o.ManifestURL = srv.URL
		o.HTTPCheckFrequency = 200 * time.Millisecond
	})
	node := k.NodeNames()[0]
	ctx := context.Background()
	for _, ref := range []struct{ ns, name string }{{"default", "a-" + node}, {"kube-system", "b-" + node}} {
		eventually(t, 30*time.Second, ref.name+" Running", func() (bool, error) {
			p, err := client.CoreV1().Pods(ref.ns).Get(ctx, ref.name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if p.Annotations["kubernetes.io/config.source"] != "http" || p.Annotations["kubernetes.io/config.mirror"] == "" {
				return false, fmt.Errorf("annotations %v", p.Annotations)
			}
			return p.Status.Phase == v1.PodRunning, fmt.Errorf("phase %s", p.Status.Phase)
		})
	}
	mu.Lock()
	body = ""
	mu.Unlock()
	eventually(t, 30*time.Second, "mirror pods gone", func() (bool, error) {
		pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})
}
