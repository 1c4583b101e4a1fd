package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/testserver"

	"coracle.dev/controller-manager/manager"
)

// env is an apiserver, a controller manager and an admin client.
type env struct {
	t      testing.TB
	ts     *testserver.TestServer
	client *kubernetes.Clientset
	cm     *manager.Manager
}

// options adjust the manager's configuration before it starts.
type option func(*manager.Config)

// withControllers runs only the named controllers.
func withControllers(names ...string) option {
	return func(c *manager.Config) { c.Controllers = names }
}

func start(t testing.TB, opts ...option) *env {
	t.Helper()
	e := startServer(t)
	e.cm = e.startManager(opts...)
	return e
}

// startServer starts an apiserver only: the test starts its manager.
func startServer(t testing.TB) *env {
	t.Helper()
	ts := testserver.Start(t)
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	return &env{t: t, ts: ts, client: kubernetes.NewForConfigOrDie(cfg)}
}

// testConfig is a manager configuration for tests: fast periods, a free
// status port.
func (e *env) testConfig(opts ...option) manager.Config {
	cfg := manager.Config{Options: manager.DefaultOptions()}
	cfg.RESTConfig = e.ts.Config
	cfg.StatusAddress = "127.0.0.1:0"
	cfg.KubeAPIQPS, cfg.KubeAPIBurst = 500, 1000
	cfg.NodeMonitorPeriod = 200 * time.Millisecond
	cfg.NodeMonitorGracePeriod = 3 * time.Second
	cfg.PodGCPeriod = 300 * time.Millisecond
	cfg.JobBackoffBase = 200 * time.Millisecond
	cfg.JobBackoffMax = 2 * time.Second
	cfg.GCResyncPeriod = 2 * time.Second
	// The CSR signer signs with the apiserver's CA, as under make up.
	cfg.ClusterSigningCertFile = filepath.Join(e.ts.DataDir, "pki", "ca.crt")
	cfg.ClusterSigningKeyFile = filepath.Join(e.ts.DataDir, "pki", "ca.key")
	cfg.Log = zaptest.NewLogger(e.t, zaptest.Level(zap.WarnLevel)).Named("cm")
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// startManager starts a controller manager; it is closed when the test ends.
func (e *env) startManager(opts ...option) *manager.Manager {
	e.t.Helper()
	return e.startManagerWith(e.testConfig(opts...), true)
}

func (e *env) startManagerWith(cfg manager.Config, waitReady bool) *manager.Manager {
	e.t.Helper()
	m, err := manager.New(cfg)
	if err != nil {
		e.t.Fatalf("manager: %v", err)
	}
	if err := m.Start(context.Background()); err != nil {
		e.t.Fatalf("manager start: %v", err)
	}
	e.t.Cleanup(func() { _ = m.Close() })
	if waitReady {
		select {
		case <-m.Ready():
		case <-time.After(60 * time.Second):
			e.t.Fatalf("manager not ready within 60s")
		}
	}
	return m
}

func (e *env) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	e.t.Cleanup(cancel)
	return c
}

// namespace creates a namespace for the test.
func (e *env) namespace(name string) string {
	e.t.Helper()
	_, err := e.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %v)", timeout, what, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pods lists the pods of ns that selector matches.
func (e *env) pods(ns string, selector map[string]string) []corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		e.t.Fatalf("list pods: %v", err)
	}
	return list.Items
}

// activePods are the pods not finished and not being deleted.
func activePods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// events returns the reasons of the events about the object named name.
func (e *env) eventReasons(ns, name string) map[string]int {
	e.t.Helper()
	list, err := e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("list events: %v", err)
	}
	out := map[string]int{}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == name {
			out[ev.Reason]++
		}
	}
	return out
}

// waitEvent waits for an event with reason about the object name.
func (e *env) waitEvent(ns, name, reason string) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, fmt.Sprintf("event %s on %s/%s", reason, ns, name), func() (bool, error) {
		got := e.eventReasons(ns, name)
		return got[reason] > 0, fmt.Errorf("events seen: %v", got)
	})
}

// podTemplate is a minimal pod template with labels.
func podTemplate(lbls map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: lbls},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
		},
	}
}

var everything = labels.Everything()

func itoa(i int) string { return strconv.Itoa(i) }
