package e2e

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"coracle.dev/e2e/framework"
	"coracle.dev/shared/testserver"
)

// TestWritesContinueWhenTheEtcdLeaderIsKilled runs the apiserver on a
// three-member etcd cluster, SIGKILLs the raft leader while a client
// writes, and requires writes to go on succeeding, every acknowledged one
// to be readable and delivered to a watch, and /readyz to answer 200.
func TestWritesContinueWhenTheEtcdLeaderIsKilled(t *testing.T) {
	const (
		ns = "external"
		// Acknowledged creates required before, and again after, the kill.
		before = 20
		after  = 30
	)
	cluster := framework.StartEtcdCluster(t, 3)
	s := testserver.Start(t, testserver.WithEtcdServers(cluster.ClientURLs()...))
	client := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nsObj, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A watch from before the first write, resumed from the last
	// resourceVersion it saw should its stream break: it must deliver
	// every acknowledged create, the kill notwithstanding.
	var (
		mu         sync.Mutex // guards watched and watchEnded
		watched    = map[string]bool{}
		watchEnded bool
	)
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, nsObj.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().ConfigMaps(ns).Watch(ctx, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Stop()
	go func() {
		for ev := range rw.ResultChan() {
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type == watch.Added {
				mu.Lock()
				watched[cm.Name] = true
				mu.Unlock()
			}
		}
		mu.Lock()
		watchEnded = true
		mu.Unlock()
	}()

	created := newAcks()
	wctx, stopWriter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { createConfigMaps(wctx, client, ns, "cm", created) })
	defer func() {
		stopWriter()
		wg.Wait()
	}()

	eventually(t, 60*time.Second, fmt.Sprintf("%d acknowledged creates", before), func() bool { return created.count() >= before })
	var leader int
	eventually(t, 30*time.Second, "the etcd members to agree on a leader", func() bool {
		leader, err = cluster.Leader(ctx)
		return err == nil
	})
	atKill := created.count()
	cluster.Members[leader].Kill()
	t.Logf("SIGKILLed etcd leader %s (pid %d) after %d acknowledged creates", cluster.Members[leader].Name, cluster.Members[leader].PID(), atKill)

	eventually(t, 90*time.Second, fmt.Sprintf("%d more acknowledged creates after the leader's death", after), func() bool {
		return created.count()-atKill >= after
	})
	stopWriter()
	wg.Wait()
	failed, lastErr := created.failures()
	t.Logf("%d creates acknowledged (%d after the kill); %d failed, last: %v", created.count(), created.count()-atKill, failed, lastErr)

	var newLeader int
	eventually(t, 30*time.Second, "the surviving members to agree on a leader", func() bool {
		newLeader, err = cluster.Leader(ctx)
		return err == nil
	})
	if newLeader == leader {
		t.Errorf("member %s, killed, is still reported as the leader", cluster.Members[leader].Name)
	}

	want := created.snapshot()
	requireAcknowledged(t, client, ns, want)

	eventually(t, 60*time.Second, "the watch to deliver every acknowledged create", func() bool {
		mu.Lock()
		defer mu.Unlock()
		missing := 0
		for name := range want {
			if !watched[name] {
				missing++
			}
		}
		if missing > 0 && watchEnded {
			t.Fatalf("the retrying watch ended with %d of %d acknowledged creates undelivered", missing, len(want))
		}
		return missing == 0
	})

	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := s.WaitReadyz(rctx); err != nil {
		t.Errorf("after losing one etcd member of three: %v", err)
	}
}

// TestAPIServersShareOneEtcdCluster runs two apiservers, each with its own
// data directory, on one etcd cluster: what is written through one is read
// and watched through the other, resourceVersions are the same on both (so
// a stale update through either conflicts), and ClusterIPs allocated
// through both at once never collide.
func TestAPIServersShareOneEtcdCluster(t *testing.T) {
	cluster := framework.StartEtcdCluster(t, 3)
	a := testserver.Start(t, testserver.WithEtcdServers(cluster.ClientURLs()...))
	b := testserver.Start(t, testserver.WithEtcdServers(cluster.ClientURLs()...))
	ca, cb := a.Client(), b.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "shared"

	nsObj, err := ca.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cb.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: nsObj.ResourceVersion})
	if err != nil {
		t.Fatalf("watch through b: %v", err)
	}
	defer w.Stop()

	for _, tc := range []struct {
		name         string
		write, read  kubernetes.Interface
		writer, peer string
	}{
		{"from-a", ca, cb, "a", "b"},
		{"from-b", cb, ca, "b", "a"},
	} {
		created, err := tc.write.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Data: map[string]string{"via": tc.writer},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s through %s: %v", tc.name, tc.writer, err)
		}
		var got *corev1.ConfigMap
		eventually(t, 10*time.Second, fmt.Sprintf("%s, created through %s, to be readable through %s", tc.name, tc.writer, tc.peer), func() bool {
			got, err = tc.read.CoreV1().ConfigMaps(ns).Get(ctx, tc.name, metav1.GetOptions{})
			return err == nil
		})
		if got.UID != created.UID || got.ResourceVersion != created.ResourceVersion || got.Data["via"] != tc.writer {
			t.Errorf("%s through %s: uid %s rv %s data %v; through %s: uid %s rv %s data %v",
				tc.name, tc.writer, created.UID, created.ResourceVersion, created.Data, tc.peer, got.UID, got.ResourceVersion, got.Data)
		}
	}

	for _, name := range []string{"from-a", "from-b"} {
		select {
		case ev, ok := <-w.ResultChan():
			cm, isCM := ev.Object.(*corev1.ConfigMap)
			if !ok || ev.Type != watch.Added || !isCM || cm.Name != name {
				t.Fatalf("watch through b: want ADDED %s, got %s %#v (open %v)", name, ev.Type, ev.Object, ok)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("watch through b: no ADDED %s within 15s", name)
		}
	}

	// Optimistic concurrency spans apiservers: b's copy is stale once a
	// has updated the object.
	stale, err := cb.CoreV1().ConfigMaps(ns).Get(ctx, "from-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fresh := stale.DeepCopy()
	fresh.Data["via"] = "a, updated"
	if _, err := ca.CoreV1().ConfigMaps(ns).Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update through a: %v", err)
	}
	stale.Data["via"] = "b, from a stale read"
	if _, err := cb.CoreV1().ConfigMaps(ns).Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update through b with the resourceVersion a superseded: want 409 Conflict, got %v", err)
	}

	// Both apiservers allocate ClusterIPs at once; the allocations live
	// in etcd, so none may be handed out twice.
	const perServer = 8
	type allocation struct {
		name, ip string
		err      error
	}
	results := make(chan allocation, 2*perServer)
	var wg sync.WaitGroup
	for _, srv := range []struct {
		name   string
		client kubernetes.Interface
	}{{"a", ca}, {"b", cb}} {
		for i := range perServer {
			wg.Go(func() {
				name := fmt.Sprintf("svc-%s-%d", srv.name, i)
				svc, err := srv.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: corev1.ServiceSpec{
						Selector: map[string]string{"app": name},
						Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
					},
				}, metav1.CreateOptions{})
				if err != nil {
					results <- allocation{name: name, err: err}
					return
				}
				results <- allocation{name: name, ip: svc.Spec.ClusterIP}
			})
		}
	}
	wg.Wait()
	close(results)
	owner := map[string]string{"10.96.0.1": "default/kubernetes"}
	_, serviceCIDR, _ := net.ParseCIDR("10.96.0.0/12")
	for r := range results {
		if r.err != nil {
			t.Errorf("create service %s: %v", r.name, r.err)
			continue
		}
		if ip := net.ParseIP(r.ip); ip == nil || !serviceCIDR.Contains(ip) {
			t.Errorf("service %s: ClusterIP %q not in 10.96.0.0/12", r.name, r.ip)
		}
		if prev, dup := owner[r.ip]; dup {
			t.Errorf("ClusterIP %s given to both %s and %s", r.ip, prev, r.name)
		}
		owner[r.ip] = r.name
	}
}
