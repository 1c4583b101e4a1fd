package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Annotations and labels the deployment controller sets, as Kubernetes'.
const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	podTemplateHashLabel      = "pod-template-hash"
)

// TestDeploymentRolloutWithKubelet rolls a Deployment of the local
// registry's busybox to a new tag and back on a real node: the
// controller manager, the scheduler, the kubelet (runc, CNI) and the
// registry are the built binaries. A watch on the pods checks, at every
// event, that the rollout never ran more than replicas+maxSurge pods and,
// with maxUnavailable 0, never fewer than replicas ready ones.
func TestDeploymentRolloutWithKubelet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the kubelet runs real containers (runc, CNI, cgroups): run the tests as root (make test)")
	}
	c := startCluster(t)
	startComponent(t, c, "scheduler")
	// No node IPAM: the kubelet keeps the free --pod-cidr it was given.
	startComponent(t, c, "controller-manager", "--cluster-cidr=")
	n := startNode(t, c, startRegistry(t))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns, name, replicas = "rollout", "web", 3
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := watchPods(ctx, t, c.client, ns)

	lbls := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			// maxSurge and maxUnavailable are left to the apiserver's
			// defaults, 25% each: 1 and 0 of 3 replicas.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					// sh as PID 1 ignores SIGTERM unless it traps it.
					Containers: []corev1.Container{{Name: "app", Image: "busybox:latest",
						Command: []string{"sh", "-c", `trap "exit 0" TERM; sleep 3600 & wait`}}},
					TerminationGracePeriodSeconds: ptr.To[int64](10),
				},
			},
		},
	}
	d, err := c.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxSurge == nil || ru.MaxUnavailable == nil {
		t.Fatalf("rollingUpdate not defaulted: %+v", d.Spec.Strategy)
	}
	surge, _ := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, replicas, true)
	unavailable, _ := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, false)
	if surge != 1 || unavailable != 0 {
		t.Fatalf("maxSurge %v, maxUnavailable %v of %d replicas: want 1 and 0", ru.MaxSurge, ru.MaxUnavailable, replicas)
	}
	w.limit(replicas + surge)

	began := time.Now()
	first := waitRollout(ctx, t, c.client, ns, name, "busybox:latest", "1", 90*time.Second)
	t.Logf("%d pods of busybox:latest running after %v (replicaset %s)", replicas, time.Since(began).Round(time.Millisecond), first.Name)
	// From now on the deployment is available and stays so.
	w.keepReady(replicas)

	began = time.Now()
	setImage(ctx, t, c.client, ns, name, "busybox:1.36")
	second := waitRollout(ctx, t, c.client, ns, name, "busybox:1.36", "2", 60*time.Second)
	if second.UID == first.UID {
		t.Fatalf("busybox:1.36 rolled out by the old replicaset %s", first.Name)
	}
	t.Logf("rolled to busybox:1.36 in %v (replicaset %s)", time.Since(began).Round(time.Millisecond), second.Name)

	began = time.Now()
	setImage(ctx, t, c.client, ns, name, "busybox:latest")
	back := waitRollout(ctx, t, c.client, ns, name, "busybox:latest", "3", 60*time.Second)
	t.Logf("rolled back to busybox:latest in %v", time.Since(began).Round(time.Millisecond))
	// Rolling back reuses the first replicaset, which takes revision 3
	// and remembers it was revision 1.
	if back.UID != first.UID || back.Labels[podTemplateHashLabel] != first.Labels[podTemplateHashLabel] {
		t.Fatalf("rolled back with replicaset %s (hash %s), want the first, %s (hash %s)",
			back.Name, back.Labels[podTemplateHashLabel], first.Name, first.Labels[podTemplateHashLabel])
	}
	if h := back.Annotations[revisionHistoryAnnotation]; h != "1" {
		t.Errorf("reused replicaset: %s %q, want \"1\"", revisionHistoryAnnotation, h)
	}
	rsets, err := c.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rsets.Items) != 2 {
		t.Fatalf("%d replicasets after the rollback, want 2: %v", len(rsets.Items), rsNames(rsets.Items))
	}
	w.keepReady(0)
	if err := w.err(); err != nil {
		t.Fatal(err)
	}

	// Deleting the deployment deletes its replicasets and pods, and the
	// kubelet removes what it kept of them on disk.
	if err := c.client.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 45*time.Second, "the replicasets and pods gone", func() (bool, error) {
		rsets, err := c.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(rsets.Items) == 0 && len(pods.Items) == 0, fmt.Errorf("%d replicasets, %d pods", len(rsets.Items), len(pods.Items))
	})
	podsDir := filepath.Join(n.rootDir, "pods")
	eventually(t, 30*time.Second, "the kubelet's pod directory empty", func() (bool, error) {
		entries, err := os.ReadDir(podsDir)
		if err != nil && !os.IsNotExist(err) {
			return false, err
		}
		var left []string
		for _, e := range entries {
			left = append(left, e.Name())
		}
		return len(left) == 0, fmt.Errorf("%s holds %v", podsDir, left)
	})
	if err := w.err(); err != nil {
		t.Fatal(err)
	}
	if most := w.maxActiveSeen(); most > replicas+surge {
		t.Fatalf("%d active pods at once, more than replicas+maxSurge = %d", most, replicas+surge)
	}
	t.Logf("active pods at once, at most: %d (replicas+maxSurge = %d)", w.maxActiveSeen(), replicas+surge)
}

// setImage updates the deployment's pod template to image, as
// `kubectl set image` does.
func setImage(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name, image string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set image %s: %v", image, err)
	}
}

// waitRollout waits until the deployment's rollout of image is complete
// at revision: the deployment observed, updated, ready and available, one
// replicaset of image at revision with every replica ready, the others
// at zero, and only that replicaset's pods left, all running image. It
// returns that replicaset.
func waitRollout(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name, image, revision string, timeout time.Duration) *appsv1.ReplicaSet {
	t.Helper()
	var current *appsv1.ReplicaSet
	eventually(t, timeout, fmt.Sprintf("the rollout of %s at revision %s", image, revision), func() (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := *d.Spec.Replicas
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.Replicas != want || st.UpdatedReplicas != want ||
			st.ReadyReplicas != want || st.AvailableReplicas != want || st.UnavailableReplicas != 0 {
			return false, fmt.Errorf("deployment generation %d, status %+v", d.Generation, st)
		}
		if !hasCondition(d, appsv1.DeploymentAvailable, "") || !hasCondition(d, appsv1.DeploymentProgressing, "NewReplicaSetAvailable") {
			return false, fmt.Errorf("deployment conditions %+v", st.Conditions)
		}
		if got := d.Annotations[revisionAnnotation]; got != revision {
			return false, fmt.Errorf("deployment revision %q", got)
		}
		rsets, err := client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		current = nil
		for i := range rsets.Items {
			rs := &rsets.Items[i]
			if rs.Spec.Template.Spec.Containers[0].Image == image {
				if current != nil {
					return false, fmt.Errorf("two replicasets of %s: %s and %s", image, current.Name, rs.Name)
				}
				current = rs
				continue
			}
			if *rs.Spec.Replicas != 0 || rs.Status.Replicas != 0 {
				return false, fmt.Errorf("old replicaset %s: %d wanted, %d have", rs.Name, *rs.Spec.Replicas, rs.Status.Replicas)
			}
		}
		if current == nil {
			return false, fmt.Errorf("no replicaset of %s among %v", image, rsNames(rsets.Items))
		}
		if *current.Spec.Replicas != want || current.Status.ReadyReplicas != want || current.Status.AvailableReplicas != want ||
			current.Annotations[revisionAnnotation] != revision {
			return false, fmt.Errorf("replicaset %s: %d wanted, status %+v, revision %q",
				current.Name, *current.Spec.Replicas, current.Status, current.Annotations[revisionAnnotation])
		}
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		if len(pods.Items) != int(want) {
			return false, fmt.Errorf("%d pods (terminating ones included)", len(pods.Items))
		}
		for _, p := range pods.Items {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.UID != current.UID || p.Status.Phase != corev1.PodRunning || p.Spec.Containers[0].Image != image ||
				len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
				return false, fmt.Errorf("pod %s: phase %s, image %s, owner %v", p.Name, p.Status.Phase, p.Spec.Containers[0].Image, ref)
			}
		}
		return true, nil
	})
	return current
}

func hasCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType, reason string) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue && (reason == "" || c.Reason == reason)
		}
	}
	return false
}

func rsNames(rsets []appsv1.ReplicaSet) []string {
	var out []string
	for _, rs := range rsets {
		out = append(out, fmt.Sprintf("%s(%s=%s, %d/%d)", rs.Name, revisionAnnotation, rs.Annotations[revisionAnnotation], rs.Status.Replicas, *rs.Spec.Replicas))
	}
	return out
}

// podWatch follows the pods of a namespace and checks bounds on them at
// every event, in the order the apiserver committed the changes.
type podWatch struct {
	mu        sync.Mutex // guards the fields below
	pods      map[types.UID]*corev1.Pod
	max       int // most active pods allowed; 0: no bound yet
	minReady  int // fewest ready active pods allowed; 0: no bound
	maxActive int // most active pods seen
	failures  []string
	stopped   error // why the watch ended early, if it did
}

// watchPods starts following the pods of ns; the watch resumes after the
// apiserver closes it, and stops with ctx.
func watchPods(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string) *podWatch {
	t.Helper()
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Pods(ns).Watch(ctx, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &podWatch{pods: map[types.UID]*corev1.Pod{}}
	done := make(chan struct{})
	t.Cleanup(func() { rw.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range rw.ResultChan() {
			w.observe(ev)
		}
	}()
	return w
}

func (w *podWatch) observe(ev watch.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		if ev.Type == watch.Error && w.stopped == nil {
			w.stopped = fmt.Errorf("pod watch: %v", ev.Object)
		}
		return
	}
	if ev.Type == watch.Deleted {
		delete(w.pods, pod.UID)
	} else {
		w.pods[pod.UID] = pod
	}
	// Active as the controllers count: not finished, not being deleted.
	var active, ready []string
	for _, p := range w.pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		active = append(active, p.Name)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = append(ready, p.Name)
			}
		}
	}
	sort.Strings(active)
	w.maxActive = max(w.maxActive, len(active))
	if w.max > 0 && len(active) > w.max {
		w.failures = append(w.failures, fmt.Sprintf("%d active pods (limit %d) after %s %s: %s",
			len(active), w.max, ev.Type, pod.Name, strings.Join(active, " ")))
	}
	if w.minReady > 0 && len(ready) < w.minReady {
		w.failures = append(w.failures, fmt.Sprintf("%d ready pods (want at least %d) after %s %s: ready %v of %s",
			len(ready), w.minReady, ev.Type, pod.Name, ready, strings.Join(active, " ")))
	}
}

// limit bounds the active pods from now on.
func (w *podWatch) limit(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.max = n
}

// keepReady requires at least n ready active pods from now on (0: none).
func (w *podWatch) keepReady(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.minReady = n
}

func (w *podWatch) maxActiveSeen() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxActive
}

// err reports every bound broken so far, and a watch that failed.
func (w *podWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped != nil {
		return w.stopped
	}
	if len(w.failures) > 0 {
		return fmt.Errorf("%d bounds broken during the rollout, first ones:\n%s", len(w.failures), strings.Join(w.failures[:min(5, len(w.failures))], "\n"))
	}
	return nil
}
