package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/scheduler/app"
	"coracle.dev/shared/testserver"
)

// cluster is a running apiserver and an admin client for it.
type cluster struct {
	*testserver.TestServer
	client *kubernetes.Clientset
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ts := testserver.Start(t)
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	return &cluster{TestServer: ts, client: kubernetes.NewForConfigOrDie(cfg)}
}

// schedOption adjusts a scheduler's configuration.
type schedOption func(*app.Config)

// startScheduler runs a scheduler in-process against c until the test
// ends, and waits until it is ready.
func startScheduler(t *testing.T, c *cluster, opts ...schedOption) *app.Server {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.RESTConfig = c.Config
	cfg.StatusAddress = "127.0.0.1:0"
	cfg.KubeAPIQPS, cfg.KubeAPIBurst = 1000, 2000
	// Shorter back-off than production keeps the tests quick; the
	// behaviour is the same.
	cfg.PodInitialBackoff, cfg.PodMaxBackoff = 100*time.Millisecond, time.Second
	cfg.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	for _, o := range opts {
		o(&cfg)
	}
	s, err := app.New(cfg)
	if err != nil {
		t.Fatalf("new scheduler: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start scheduler: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close scheduler: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("scheduler not ready within 60s")
	}
	return s
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// nodeSpec describes a test node.
type nodeSpec struct {
	name   string
	cpu    string
	memory string
	pods   string
	labels map[string]string
	taints []v1.Taint
	extra  v1.ResourceList
	ready  v1.ConditionStatus
}

func makeNode(s nodeSpec) *v1.Node {
	if s.cpu == "" {
		s.cpu = "4"
	}
	if s.memory == "" {
		s.memory = "16Gi"
	}
	if s.pods == "" {
		s.pods = "110"
	}
	if s.ready == "" {
		s.ready = v1.ConditionTrue
	}
	labels := map[string]string{v1.LabelHostname: s.name}
	for k, v := range s.labels {
		labels[k] = v
	}
	rl := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(s.cpu),
		v1.ResourceMemory: resource.MustParse(s.memory),
		v1.ResourcePods:   resource.MustParse(s.pods),
	}
	for k, v := range s.extra {
		rl[k] = v
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: labels},
		Spec:       v1.NodeSpec{Taints: s.taints},
		Status: v1.NodeStatus{
			Capacity: rl, Allocatable: rl,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: s.ready, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}},
		},
	}
}

func createNode(t *testing.T, c *cluster, s nodeSpec) *v1.Node {
	t.Helper()
	n, err := c.client.CoreV1().Nodes().Create(ctxFor(t), makeNode(s), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", s.name, err)
	}
	return n
}

// podSpec describes a test pod; zero values are plain defaults.
type podSpec struct {
	name          string
	namespace     string
	cpu           string
	memory        string
	labels        map[string]string
	nodeSelector  map[string]string
	affinity      *v1.Affinity
	tolerations   []v1.Toleration
	hostPort      int32
	priorityClass string
	scheduler     string
	initCPU       string
	extra         v1.ResourceList
}

func makePod(s podSpec) *v1.Pod {
	if s.namespace == "" {
		s.namespace = "default"
	}
	req := v1.ResourceList{}
	if s.cpu != "" {
		req[v1.ResourceCPU] = resource.MustParse(s.cpu)
	}
	if s.memory != "" {
		req[v1.ResourceMemory] = resource.MustParse(s.memory)
	}
	for k, v := range s.extra {
		req[k] = v
	}
	c := v1.Container{Name: "app", Image: "registry.example/app:1", Resources: v1.ResourceRequirements{Requests: req}}
	if len(s.extra) > 0 {
		c.Resources.Limits = s.extra // extended resources need limit == request
	}
	if s.hostPort > 0 {
		c.Ports = []v1.ContainerPort{{ContainerPort: 8080, HostPort: s.hostPort, Protocol: v1.ProtocolTCP}}
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: s.namespace, Labels: s.labels},
		Spec: v1.PodSpec{
			Containers: []v1.Container{c}, NodeSelector: s.nodeSelector, Affinity: s.affinity,
			Tolerations: s.tolerations, PriorityClassName: s.priorityClass, SchedulerName: s.scheduler,
		},
	}
	if s.initCPU != "" {
		p.Spec.InitContainers = []v1.Container{{Name: "init", Image: "registry.example/init:1",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(s.initCPU)}}}}
	}
	return p
}

func createPod(t *testing.T, c *cluster, s podSpec) *v1.Pod {
	t.Helper()
	p, err := c.client.CoreV1().Pods(makePod(s).Namespace).Create(ctxFor(t), makePod(s), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", s.name, err)
	}
	return p
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s (last: %v)", timeout, what, lastErr)
}

// waitBound waits until the pod is bound and returns its node.
func waitBound(t *testing.T, c *cluster, ns, name string) string {
	t.Helper()
	var node string
	eventually(t, 30*time.Second, "pod "+ns+"/"+name+" bound", func() (bool, error) {
		p, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return node != "", fmt.Errorf("unbound; conditions %+v", p.Status.Conditions)
	})
	return node
}

// stillPending checks that the pod stays unbound for d (for what must not
// happen, there is nothing to poll for; d bounds the check).
func stillPending(t *testing.T, c *cluster, ns, name string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get pod %s/%s: %v", ns, name, err)
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("pod %s/%s was bound to %s; want it pending", ns, name, p.Spec.NodeName)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitUnschedulable waits for the pod's PodScheduled=False condition and
// returns its message.
func waitUnschedulable(t *testing.T, c *cluster, ns, name string) string {
	t.Helper()
	var msg string
	eventually(t, 30*time.Second, "pod "+ns+"/"+name+" marked unschedulable", func() (bool, error) {
		p, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				msg = cond.Message
				return true, nil
			}
		}
		return false, fmt.Errorf("conditions %+v", p.Status.Conditions)
	})
	return msg
}

// waitEvent waits for an event with reason on the named object whose
// message contains want, and returns its message.
func waitEvent(t *testing.T, c *cluster, ns, name, reason, want string) string {
	t.Helper()
	var msg string
	eventually(t, 30*time.Second, fmt.Sprintf("event %s on %s/%s", reason, ns, name), func() (bool, error) {
		sel := fields.Set{"involvedObject.name": name, "reason": reason}.AsSelector().String()
		evs, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, err
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == name && e.Reason == reason && strings.Contains(e.Message, want) {
				msg = e.Message
				return true, nil
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, fmt.Errorf("events seen: %q", seen)
	})
	return msg
}

func mustDeletePod(t *testing.T, c *cluster, ns, name string, grace int64) {
	t.Helper()
	err := c.client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete pod %s/%s: %v", ns, name, err)
	}
}
