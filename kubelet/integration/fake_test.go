package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/kubelet"
	"coracle.dev/shared/testserver"
)

// startFake runs a kubelet with the fake runtime simulating n nodes.
func startFake(t testing.TB, ts *testserver.TestServer, name string, n int, extra ...func(*kubelet.Options)) *kubelet.Kubelet {
	t.Helper()
	ensurePodCredentials(t, ts, clientFor(t, ts), "default")
	opts := kubelet.DefaultOptions()
	opts.RESTConfig = ts.Config
	opts.NodeName = name
	opts.RootDir = t.TempDir()
	opts.Runtime = kubelet.RuntimeFake
	opts.FakeNodes = n
	opts.FakeStartupDelay = 50 * time.Millisecond
	opts.Port = 0
	opts.StatusAddress = "127.0.0.1:0"
	opts.NodeLeaseRenewInterval = time.Second
	opts.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	for _, f := range extra {
		f(&opts)
	}
	k, err := kubelet.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	select {
	case <-k.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("fake kubelet not ready within 60s")
	}
	return k
}

func clientFor(t testing.TB, ts *testserver.TestServer) kubernetes.Interface {
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	return kubernetes.NewForConfigOrDie(cfg)
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, lastErr)
}

func simplePod(name, node string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{
			NodeName:   node,
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.36", Command: []string{"sleep", "3600"}}},
		},
	}
}

func nodeCondition(n *v1.Node, t v1.NodeConditionType) v1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return v1.ConditionUnknown
}

func TestFakeNodesRegisterHeartbeatAndRunPods(t *testing.T) {
	ts := testserver.Start(t)
	client := clientFor(t, ts)
	k := startFake(t, ts, "hollow", 5)
	ctx := context.Background()

	for _, n := range k.NodeNames() {
		node, err := client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node %s: %v", n, err)
		}
		if node.Status.Capacity.Pods().Value() != 110 {
			t.Errorf("node %s: pods capacity %v, want 110", n, node.Status.Capacity.Pods())
		}
		if node.Status.NodeInfo.ContainerRuntimeVersion != "fake://0.1.0" {
			t.Errorf("node %s: runtime %q", n, node.Status.NodeInfo.ContainerRuntimeVersion)
		}
		if nodeCondition(node, v1.NodeReady) != v1.ConditionTrue {
			t.Errorf("node %s: not Ready: %+v", n, node.Status.Conditions)
		}
		if node.Status.DaemonEndpoints.KubeletEndpoint.Port == 0 {
			t.Errorf("node %s: no kubelet endpoint port", n)
		}
	}
	// The lease is renewed.
	lease, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "hollow-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := lease.Spec.RenewTime.Time
	eventually(t, 10*time.Second, "lease renewed", func() (bool, error) {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "hollow-0", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.After(first), err
	})

	// 50 pods across the nodes run.
	for i := 0; i < 50; i++ {
		if _, err := client.CoreV1().Pods("default").Create(ctx, simplePod(fmt.Sprintf("p%d", i), fmt.Sprintf("hollow-%d", i%5)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "50 pods Running and Ready", func() (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == v1.PodRunning && p.Status.PodIP != "" && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready {
				running++
			}
		}
		return running == 50, fmt.Errorf("%d running", running)
	})

	// Graceful deletion is finished by the kubelet.
	if err := client.CoreV1().Pods("default").Delete(ctx, "p0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "p0 gone", func() (bool, error) {
		_, err := client.CoreV1().Pods("default").Get(ctx, "p0", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	// A pod on a node this kubelet does not run is left alone.
	if _, err := client.CoreV1().Pods("default").Create(ctx, simplePod("elsewhere", "other-node"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	p, err := client.CoreV1().Pods("default").Get(ctx, "elsewhere", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != v1.PodPending || len(p.Status.ContainerStatuses) != 0 {
		t.Errorf("pod of another node got status %+v", p.Status)
	}
}
