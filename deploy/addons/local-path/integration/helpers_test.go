// Package integration tests the provisioner through the real thing: the
// built apiserver (coracle.dev/shared/testserver) with the manifest's
// RBAC, StorageClass and a ConfigMap whose nodes' storage roots are the
// test's temporary directories, and the provisioner in this process with
// exactly the rights of the manifest's ServiceAccount.
//
// No scheduler, PV controller or kubelet runs. The test plays their
// parts by hand where the provisioner depends on them: it annotates
// claims as the PV controller (storage-provisioner) and the scheduler
// (selected-node) do, moves volumes to Released and claims to Bound as
// the PV controller does, and a fake kubelet runs the helper pods: it
// makes their hostPath root as the kubelet does for DirectoryOrCreate,
// runs the pod's command line with the add-on's real helper code on the
// real directories, and writes the pod's status as the kubelet does
// (the helper's stderr as the termination message, as
// FallbackToLogsOnError gives it). That the real kubelet runs the real
// image's helper pods, and the real controllers bind what is provisioned,
// is the lead's multi-node e2e.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"coracle.dev/addons/local-path/app"
	"coracle.dev/addons/local-path/internal/helper"
	"coracle.dev/addons/local-path/internal/helperpod"
	"coracle.dev/shared/addontest"
	"coracle.dev/shared/testserver"
)

const (
	systemNS       = "kube-system"
	serviceAccount = "local-path-provisioner-service-account"
	image          = "coracle.dev/addons/local-path:v0.1.0"
	// waitTimeout bounds what a busy machine may take.
	waitTimeout = 60 * time.Second
	// cmdTimeout is the helper pods' bound in the test's configuration.
	cmdTimeout = 20
)

// env is an apiserver, the provisioner, the fake kubelet and an admin
// client.
type env struct {
	t       *testing.T
	client  kubernetes.Interface
	rest    *rest.Config
	kubelet *fakeKubelet
	// roots are the storage roots by node ("default" for nodes not
	// listed).
	roots       map[string]string
	provisioner *app.Server
}

func start(t *testing.T) *env {
	t.Helper()
	ts := testserver.Start(t)
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	e := &env{t: t, client: kubernetes.NewForConfigOrDie(cfg), rest: ts.Config}
	base := t.TempDir()
	e.roots = map[string]string{"n1": filepath.Join(base, "n1"), "n2": filepath.Join(base, "n2"), "default": filepath.Join(base, "default")}
	e.applyManifest()
	e.setConfig(e.configJSON(nil))
	for _, n := range []string{"n1", "n2"} {
		e.createNode(n)
	}
	e.kubelet = startFakeKubelet(t, e.client)
	e.startProvisioner()
	return e
}

// configJSON is the ConfigMap's config.json: n1 and n2 and the default
// each with a root of their own, overridden by roots.
func (e *env) configJSON(roots map[string]string) string {
	r := map[string]string{}
	for k, v := range e.roots {
		r[k] = v
	}
	for k, v := range roots {
		r[k] = v
	}
	return fmt.Sprintf(`{"cmdTimeoutSeconds": %d, "nodePathMap": [
		{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [%q]},
		{"node": "n1", "paths": [%q]},
		{"node": "n2", "paths": [%q]}]}`, cmdTimeout, r["default"], r["n1"], r["n2"])
}

func (e *env) setConfig(data string) {
	e.t.Helper()
	ctx := context.Background()
	cms := e.client.CoreV1().ConfigMaps(systemNS)
	cm, err := cms.Get(ctx, "local-path-config", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	cm.Data["config.json"] = data
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// applyManifest creates the manifest's objects but the Deployment: the
// provisioner runs in this process.
func (e *env) applyManifest() {
	e.t.Helper()
	ctx := context.Background()
	for _, obj := range addontest.Manifest(e.t, "../manifest.yaml") {
		if err := e.create(ctx, obj); err != nil {
			e.t.Fatalf("create %T: %v", obj, err)
		}
	}
}

func (e *env) create(ctx context.Context, obj runtime.Object) error {
	var err error
	c := e.client
	switch o := obj.(type) {
	case *corev1.ServiceAccount:
		_, err = c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.ConfigMap:
		_, err = c.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.ClusterRole:
		_, err = c.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.ClusterRoleBinding:
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.Role:
		_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.RoleBinding:
		_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *storagev1.StorageClass:
		_, err = c.StorageV1().StorageClasses().Create(ctx, o, metav1.CreateOptions{})
	case *appsv1.Deployment:
	default:
		err = fmt.Errorf("unexpected %T in the manifest", obj)
	}
	return err
}

func (e *env) createNode(name string) {
	e.t.Helper()
	ctx := context.Background()
	n, err := e.client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := e.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// startProvisioner runs the provisioner with the manifest's
// ServiceAccount's rights; it stops when the test ends, or at
// stopProvisioner.
func (e *env) startProvisioner() {
	e.t.Helper()
	c := app.DefaultConfig()
	c.RESTConfig = rest.CopyConfig(e.rest)
	c.RESTConfig.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + systemNS + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNS, "system:authenticated"},
	}
	c.StatusAddress = "127.0.0.1:0"
	c.HelperImage = image
	c.RetryBase, c.RetryMax = 200*time.Millisecond, 2*time.Second
	c.Log = zaptest.NewLogger(e.t, zaptest.Level(zap.InfoLevel)).Named("local-path")
	s, err := app.New(c)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		e.t.Fatalf("start provisioner: %v", err)
	}
	e.t.Cleanup(func() {
		if err := s.Close(); err != nil {
			e.t.Errorf("close provisioner: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case <-s.Done():
		e.t.Fatalf("provisioner stopped: %v", s.Err())
	case <-time.After(waitTimeout):
		e.t.Fatal("provisioner not ready")
	}
	e.provisioner = s
}

func (e *env) stopProvisioner() {
	e.t.Helper()
	if err := e.provisioner.Close(); err != nil {
		e.t.Fatalf("close provisioner: %v", err)
	}
}

func (e *env) namespace(name string) {
	e.t.Helper()
	_, err := e.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
}

// claimSpec is a claim of class for size; annotations are the PV
// controller's and the scheduler's, as the test plays them.
func claimSpec(ns, name, class, size string, annotations map[string]string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      modes,
			StorageClassName: ptr.To(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

// provisionerAsks are the annotations the PV controller sets on a claim
// for an external provisioner, plus the scheduler's choice if node is
// set.
func provisionerAsks(node string) map[string]string {
	a := map[string]string{
		"volume.kubernetes.io/storage-provisioner":      "rancher.io/local-path",
		"volume.beta.kubernetes.io/storage-provisioner": "rancher.io/local-path",
	}
	if node != "" {
		a["volume.kubernetes.io/selected-node"] = node
	}
	return a
}

func (e *env) createClaim(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	e.t.Helper()
	got, err := e.client.CoreV1().PersistentVolumeClaims(c.Namespace).Create(context.Background(), c, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// annotateClaim adds annotations to the claim, retrying on conflicts.
func (e *env) annotateClaim(ns, name string, ann map[string]string) {
	e.t.Helper()
	e.updateClaim(ns, name, func(c *corev1.PersistentVolumeClaim) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		for k, v := range ann {
			c.Annotations[k] = v
		}
	})
}

func (e *env) updateClaim(ns, name string, edit func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	e.t.Helper()
	ctx := context.Background()
	claims := e.client.CoreV1().PersistentVolumeClaims(ns)
	var out *corev1.PersistentVolumeClaim
	e.eventually("update claim "+ns+"/"+name, func() (bool, string) {
		c, err := claims.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		edit(c)
		if out, err = claims.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return out
}

// eventually polls cond until it holds or waitTimeout passes; cond says
// what it saw when it does not hold.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	last := ""
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %v; last saw: %s", what, waitTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// volumeOf waits for the claim's volume, pvc-<uid>.
func (e *env) volumeOf(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	e.t.Helper()
	var pv *corev1.PersistentVolume
	e.eventually("volume of claim "+c.Namespace+"/"+c.Name, func() (bool, string) {
		var err error
		pv, err = e.client.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-"+string(c.UID), metav1.GetOptions{})
		if err != nil {
			return false, err.Error() + "; events: " + e.eventSummary(c.Namespace, c.UID)
		}
		return true, ""
	})
	return pv
}

func (e *env) noVolume(c *corev1.PersistentVolumeClaim) {
	e.t.Helper()
	_, err := e.client.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-"+string(c.UID), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		e.t.Fatalf("claim %s/%s has a volume (%v)", c.Namespace, c.Name, err)
	}
}

// events are the events about the object with uid in ns, oldest first.
func (e *env) events(ns string, uid any) []corev1.Event {
	e.t.Helper()
	list, err := e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		if string(ev.InvolvedObject.UID) == fmt.Sprint(uid) {
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) eventSummary(ns string, uid any) string {
	var parts []string
	for _, ev := range e.events(ns, uid) {
		parts = append(parts, ev.Reason+": "+ev.Message)
	}
	return strings.Join(parts, " | ")
}

// waitEvent waits for an event of reason about uid whose message
// contains msg, and returns its message.
func (e *env) waitEvent(ns string, uid any, reason, msg string) string {
	e.t.Helper()
	var found string
	e.eventually(fmt.Sprintf("event %s %q", reason, msg), func() (bool, string) {
		for _, ev := range e.events(ns, uid) {
			if ev.Reason == reason && strings.Contains(ev.Message, msg) {
				found = ev.Message
				return true, ""
			}
		}
		return false, e.eventSummary(ns, uid)
	})
	return found
}

func (e *env) hasEvent(ns string, uid any, reason string) bool {
	for _, ev := range e.events(ns, uid) {
		if ev.Reason == reason {
			return true
		}
	}
	return false
}

// helperPods are the helper pods there are.
func (e *env) helperPods() []corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(systemNS).List(context.Background(), metav1.ListOptions{
		LabelSelector: helperpod.LabelKey + "=" + helperpod.LabelValue,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

func (e *env) noHelperPods() {
	e.t.Helper()
	e.eventually("no helper pods left", func() (bool, string) {
		pods := e.helperPods()
		names := make([]string, 0, len(pods))
		for _, p := range pods {
			names = append(names, p.Name)
		}
		return len(pods) == 0, strings.Join(names, ", ")
	})
}

// deleteClaim deletes the claim and waits until it is gone; no
// protection controller runs here, so the test drops its finalizers.
func (e *env) deleteClaim(ns, name string) {
	e.t.Helper()
	ctx := context.Background()
	claims := e.client.CoreV1().PersistentVolumeClaims(ns)
	if err := claims.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.eventually("claim "+ns+"/"+name+" gone", func() (bool, string) {
		cur, err := claims.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		cur.Finalizers = nil
		_, err = claims.Update(ctx, cur, metav1.UpdateOptions{})
		return false, fmt.Sprint("finalizers dropped: ", err)
	})
}

// release moves the volume to Released, as the PV controller does once
// its claim is gone.
func (e *env) release(name string) {
	e.t.Helper()
	ctx := context.Background()
	e.eventually("release "+name, func() (bool, string) {
		pv, err := e.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pv.Status.Phase = corev1.VolumeReleased
		if _, err := e.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// volumeGone waits until the volume is deleted (or, while the
// pv-protection finalizer holds it, being deleted).
func (e *env) volumeGone(name string) {
	e.t.Helper()
	e.eventually("volume "+name+" deleted", func() (bool, string) {
		pv, err := e.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return pv.DeletionTimestamp != nil, "phase " + string(pv.Status.Phase)
	})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fakeKubelet runs helper pods the way the kubelet would, with the
// helper's real code on the real directories, and writes their status.
type fakeKubelet struct {
	t      *testing.T
	client kubernetes.Interface
	paused atomic.Bool

	mu   sync.Mutex          // guards runs
	runs map[string][]string // pod name -> UIDs run, in order
}

func startFakeKubelet(t *testing.T, client kubernetes.Interface) *fakeKubelet {
	k := &fakeKubelet{t: t, client: client, runs: map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if !k.paused.Load() {
				k.syncOnce(ctx)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return k
}

// runsOf are the UIDs of the pods named name it ran.
func (k *fakeKubelet) runsOf(name string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.runs[name]...)
}

func (k *fakeKubelet) syncOnce(ctx context.Context) {
	pods, err := k.client.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: helperpod.LabelKey + "=" + helperpod.LabelValue})
	if err != nil {
		return
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil {
			// The kubelet stops the pod and deletes it for good.
			_ = k.client.CoreV1().Pods(systemNS).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			continue
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.Spec.NodeName == "" {
			continue
		}
		k.run(ctx, pod)
	}
}

func (k *fakeKubelet) run(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	k.runs[pod.Name] = append(k.runs[pod.Name], string(pod.UID))
	k.mu.Unlock()
	// The kubelet makes a DirectoryOrCreate hostPath before the
	// container starts.
	for _, v := range pod.Spec.Volumes {
		if hp := v.HostPath; hp != nil && hp.Type != nil && *hp.Type == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(hp.Path, 0o755); err != nil {
				k.t.Errorf("hostPath %s of %s: %v", hp.Path, pod.Name, err)
			}
		}
	}
	c := pod.Spec.Containers[0]
	code := 1
	var stderr bytes.Buffer
	if len(c.Command) > 1 && c.Command[0] == "/local-path" && c.Command[1] == helper.Command {
		code = helper.Run(c.Command[2:], &stderr)
	} else {
		fmt.Fprintf(&stderr, "unexpected command %v", c.Command)
	}
	now := metav1.Now()
	term := &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: "Completed", StartedAt: now, FinishedAt: now}
	pod.Status.Phase = corev1.PodSucceeded
	if code != 0 {
		pod.Status.Phase = corev1.PodFailed
		term.Reason = "Error"
		term.Message = stderr.String()
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Terminated: term}}}
	if _, err := k.client.CoreV1().Pods(systemNS).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		k.t.Logf("fake kubelet: status of %s: %v", pod.Name, err)
	}
}
