package integration

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testproc"
	"coracle.dev/shared/testserver"
)

// startAPI is an env with no controller manager of its own.
func startAPI(t testing.TB) *env {
	t.Helper()
	ts := testserver.Start(t)
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	return &env{t: t, ts: ts, client: kubernetes.NewForConfigOrDie(cfg)}
}

// Two controller-manager processes elect a leader; the leader is killed
// with SIGKILL in the middle of a rollout; the other takes over and
// finishes it, and the rollout's bounds hold throughout.
func TestLeaderKilledMidRollout(t *testing.T) {
	bin := testbin.Path(t, "controller-manager")
	e := startAPI(t)
	ctx := context.Background()
	startKubelet(e, "node-a", "node-b", "node-c")
	ns := e.namespace("failover")
	args := []string{
		"--kubeconfig", e.ts.Kubeconfig, "--leader-elect",
		"--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=500ms",
		"--controllers=deployment,replicaset,garbage-collector", "--status-address=127.0.0.1:0", "--log-level=info",
	}
	first := testproc.Start(t, "controller-manager", bin, args...)
	var leader string
	eventually(t, 60*time.Second, "first replica leading", func() (bool, error) {
		l, err := e.client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return false, err
		}
		leader = *l.Spec.HolderIdentity
		return true, nil
	})
	testproc.Start(t, "controller-manager", bin, args...)

	d := newDeployment("web", 6, "1", "1")
	d.Spec.MinReadySeconds = 1
	e.createDeployment(ns, d)
	e.waitComplete(ns, "web")
	watch := watchBounds(e, ns, map[string]string{"app": "web"}, 6+1, 6-1, 0)
	e.patchDeployment(ns, "web", setImage("registry.example/app:2"))
	eventually(t, 60*time.Second, "rollout under way", func() (bool, error) {
		d, err := e.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.UpdatedReplicas >= 2 && d.Status.UpdatedReplicas < 6, err
	})
	first.Kill()
	e.waitComplete(ns, "web")
	watch.verify(t)
	l, err := e.client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == leader {
		t.Errorf("lease holder %v, want the second replica (the first was %s)", l.Spec.HolderIdentity, leader)
	}
}
