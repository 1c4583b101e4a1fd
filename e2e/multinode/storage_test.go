package multinode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStorage: the local-path add-on as make up deploys it, with real
// kubelets on two nodes. A Deployment's claim of the default class
// (WaitForFirstConsumer) waits for its pod and is provisioned where the
// pod was scheduled. A StatefulSet's claims (the default class,
// WaitForFirstConsumer) are provisioned on the nodes their pods were
// scheduled to, each a directory under that node's root; data written by
// a pod is there for the pod that replaces it, which returns to the same
// node, and after the node's kubelet restarts; scaling down keeps the
// claims; deleting a claim of the Delete policy removes its directory. A
// claim of an Immediate class with Retain is bound before any pod uses
// it, its pod goes to its volume's node, and its directory outlives the
// claim. A claim naming a class that does not exist stays Pending and
// says so.
func TestStorage(t *testing.T) {
	c := newCluster(t, settings{nodeMonitorGracePeriod: 40 * time.Second, addons: []addon{{dir: "local-path", name: "storage"}}})
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		c.addNode(t, i)
	}
	c.poll(t, 3*time.Minute, "local-path-provisioner available", func() (bool, string) {
		d, err := c.client.AppsV1().Deployments("kube-system").Get(ctx, "local-path-provisioner", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.AvailableReplicas == 1, fmt.Sprintf("%+v", d.Status)
	})
	// Each node keeps its volumes under its own prefix (the nodes share
	// this machine's filesystem), as make up lists them.
	roots := map[string]string{}
	type nodePaths struct {
		Node  string   `json:"node"`
		Paths []string `json:"paths"`
	}
	var paths []nodePaths
	for _, n := range c.nodes {
		roots[n.name] = filepath.Join(n.dir, "var", "lib", "coracle", "storage")
		paths = append(paths, nodePaths{Node: n.name, Paths: []string{roots[n.name]}})
	}
	paths = append(paths, nodePaths{Node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", Paths: []string{filepath.Join(c.root, "unlisted")}})
	config, err := json.Marshal(map[string]any{"nodePathMap": paths})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := c.client.CoreV1().ConfigMaps("kube-system").Get(ctx, "local-path-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["config.json"] = string(config)
	if _, err := c.client.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := c.client.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
	if err != nil || sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" ||
		sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Fatalf("the local-path class: %+v, %v; want the default, WaitForFirstConsumer", sc, err)
	}

	// exec runs a command in a pod of the default namespace.
	exec := func(t *testing.T, pod string, cmd ...string) string {
		t.Helper()
		out, err := c.ctl(append([]string{"exec", pod, "--"}, cmd...)...)
		if err != nil {
			t.Fatalf("exec %s %v: %v\n%s", pod, cmd, err, out)
		}
		return out
	}
	// volumeOf is the bound PV of a claim, once the claim is Bound.
	volumeOf := func(t *testing.T, claim string) *corev1.PersistentVolume {
		t.Helper()
		var pv *corev1.PersistentVolume
		c.poll(t, 2*time.Minute, "claim "+claim+" Bound", func() (bool, string) {
			pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, claim, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if pvc.Status.Phase != corev1.ClaimBound {
				return false, fmt.Sprintf("%s %v %s", pvc.Status.Phase, pvc.Annotations, c.eventsOf("PersistentVolumeClaim", claim))
			}
			pv, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		})
		return pv
	}
	// nodeOf is the node a local-path volume's affinity names.
	nodeOf := func(t *testing.T, pv *corev1.PersistentVolume) string {
		t.Helper()
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil || len(pv.Spec.NodeAffinity.Required.NodeSelectorTerms) != 1 {
			t.Fatalf("volume %s has no single node affinity term: %+v", pv.Name, pv.Spec.NodeAffinity)
		}
		exprs := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions
		if len(exprs) != 1 || exprs[0].Key != corev1.LabelHostname || len(exprs[0].Values) != 1 {
			t.Fatalf("volume %s: affinity %+v, want kubernetes.io/hostname In [node]", pv.Name, exprs)
		}
		return exprs[0].Values[0]
	}

	labels := map[string]string{"app": "db"}
	replicas := int32(2)
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: "db", PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: new(int64),
				Containers: []corev1.Container{{
					Name: "c", Image: "busybox",
					// The first pod of each claim signs it; every pod
					// appends its start.
					Command:      []string{"sh", "-c", "[ -e /data/owner ] || hostname > /data/owner; echo started >> /data/starts; trap 'exit 0' TERM; sleep 100000 & wait"},
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				}},
				TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
					MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
					LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
				}},
			}},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
		},
	}
	if _, err := c.client.AppsV1().StatefulSets("default").Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := c.waitRunning(t, "app=db", 2, "")
	if pods[0].Spec.NodeName == pods[1].Spec.NodeName {
		t.Fatalf("both db pods on %s: the test wants one per node", pods[0].Spec.NodeName)
	}
	podNode := map[string]string{}
	for _, p := range pods {
		podNode[p.Name] = p.Spec.NodeName
	}
	dirs := map[string]string{} // claim: its directory on its node
	for _, pod := range []string{"db-0", "db-1"} {
		claim := "data-" + pod
		pv := volumeOf(t, claim)
		pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := *pvc.Spec.StorageClassName; got != "local-path" {
			t.Errorf("claim %s has class %q, want the default local-path", claim, got)
		}
		if node := nodeOf(t, pv); node != podNode[pod] {
			t.Errorf("%s's volume is on %s, its pod on %s", claim, node, podNode[pod])
		}
		if pv.Spec.HostPath == nil {
			t.Fatalf("volume %s is no hostPath volume: %+v", pv.Name, pv.Spec.PersistentVolumeSource)
		}
		dirs[claim] = pv.Spec.HostPath.Path
		if want := filepath.Join(roots[podNode[pod]], pv.Name+"_default_"+claim); dirs[claim] != want {
			t.Errorf("%s's directory is %s, want %s under its node's root", claim, dirs[claim], want)
		}
		owner, err := os.ReadFile(filepath.Join(dirs[claim], "owner"))
		if err != nil || strings.TrimSpace(string(owner)) != pod {
			t.Errorf("%s's directory holds owner %q (%v), want %s", claim, owner, err, pod)
		}
		if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			t.Errorf("volume %s: reclaim policy %s, want the class's Delete", pv.Name, pv.Spec.PersistentVolumeReclaimPolicy)
		}
	}
	c.poll(t, time.Minute, "the nodes report their volumes in use", func() (bool, string) {
		var states []string
		for _, n := range c.nodes {
			node, err := c.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if len(node.Status.VolumesInUse) != 1 {
				states = append(states, fmt.Sprintf("%s: %v", n.name, node.Status.VolumesInUse))
			}
		}
		return len(states) == 0, strings.Join(states, "; ")
	})

	t.Run("a replaced pod finds its data on its node", func(t *testing.T) {
		exec(t, "db-0", "sh", "-c", "echo kept > /data/marker")
		old, err := c.client.CoreV1().Pods("default").Get(ctx, "db-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.client.CoreV1().Pods("default").Delete(ctx, "db-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.poll(t, 3*time.Minute, "db-0 replaced and Running", func() (bool, string) {
			p, err := c.client.CoreV1().Pods("default").Get(ctx, "db-0", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.UID != old.UID && p.Status.Phase == corev1.PodRunning, fmt.Sprintf("%s@%s", p.Status.Phase, p.Spec.NodeName)
		})
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "db-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != podNode["db-0"] {
			t.Errorf("the new db-0 is on %s, its volume on %s", p.Spec.NodeName, podNode["db-0"])
		}
		if got := exec(t, "db-0", "cat", "/data/marker", "/data/owner"); got != "kept\ndb-0\n" {
			t.Errorf("the new db-0 reads %q, want the old one's marker and owner", got)
		}
	})

	outer := t
	t.Run("the data survives a kubelet restart", func(t *testing.T) {
		n := c.node(podNode["db-1"])
		if err := n.kubelet.Stop(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		// The new kubelet lives as long as the cluster, not this subtest.
		n.startKubelet(outer)
		c.poll(t, 2*time.Minute, "exec in db-1 through the new kubelet", func() (bool, string) {
			out, err := c.ctl("exec", "db-1", "--", "sh", "-c", "echo after-restart >> /data/marker")
			return err == nil, out
		})
		b, err := os.ReadFile(filepath.Join(dirs["data-db-1"], "marker"))
		if err != nil || string(b) != "after-restart\n" {
			t.Errorf("after %s's kubelet restarted, db-1 wrote %q (%v) to its volume", n.name, b, err)
		}
		if got := exec(t, "db-1", "cat", "/data/starts"); got != "started\n" {
			t.Errorf("db-1's container started again across the kubelet restart: %q", got)
		}
	})

	t.Run("scaling down keeps the claim, deleting it removes the directory", func(t *testing.T) {
		s, err := c.client.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		one := int32(1)
		s.Spec.Replicas = &one
		if _, err := c.client.AppsV1().StatefulSets("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.poll(t, 2*time.Minute, "db-1 gone", func() (bool, string) {
			_, err := c.client.CoreV1().Pods("default").Get(ctx, "db-1", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-db-1", metav1.GetOptions{})
		if err != nil || pvc.Status.Phase != corev1.ClaimBound {
			t.Fatalf("after scaling down, data-db-1: %v, %v; want it kept and Bound", pvc.Status.Phase, err)
		}
		pvName := pvc.Spec.VolumeName
		if err := c.client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data-db-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.poll(t, 2*time.Minute, "data-db-1's volume and directory removed", func() (bool, string) {
			_, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
			_, statErr := os.Stat(dirs["data-db-1"])
			return apierrors.IsNotFound(err) && os.IsNotExist(statErr), fmt.Sprintf("pv: %v; dir: %v", err, statErr)
		})
		if _, err := os.Stat(dirs["data-db-0"]); err != nil {
			t.Errorf("data-db-0's directory: %v", err)
		}
	})

	t.Run("a Deployment's claim waits for its pod", func(t *testing.T) {
		if _, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "scratch"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Mi")}},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// WaitForFirstConsumer: nothing is provisioned before a pod uses
		// the claim, and the controller says why.
		c.poll(t, time.Minute, "scratch waiting for its first consumer", func() (bool, string) {
			events := c.eventsOf("PersistentVolumeClaim", "scratch")
			return strings.Contains(events, "WaitForFirstConsumer: waiting for first consumer to be created before binding"), events
		})
		if pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "scratch", metav1.GetOptions{}); err != nil || pvc.Status.Phase != corev1.ClaimPending {
			t.Fatalf("scratch before any pod: %v, %v; want Pending", pvc.Status.Phase, err)
		}
		user := webDeployment(1)
		user.Name = "scratch-user"
		user.Spec.Selector.MatchLabels = map[string]string{"app": "scratch-user"}
		user.Spec.Template.Labels = map[string]string{"app": "scratch-user"}
		user.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "scratch"},
		}}}
		user.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
		if _, err := c.client.AppsV1().Deployments("default").Create(ctx, user, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := c.waitRunning(t, "app=scratch-user", 1, "")[0]
		pv := volumeOf(t, "scratch")
		if node := nodeOf(t, pv); node != pod.Spec.NodeName {
			t.Errorf("scratch was provisioned on %s, its pod runs on %s", node, pod.Spec.NodeName)
		}
		exec(t, pod.Name, "sh", "-c", "echo used > /scratch/file")
		if b, err := os.ReadFile(filepath.Join(pv.Spec.HostPath.Path, "file")); err != nil || string(b) != "used\n" {
			t.Errorf("the pod's write in %s: %q, %v", pv.Spec.HostPath.Path, b, err)
		}
	})

	t.Run("an Immediate class with Retain", func(t *testing.T) {
		immediate, retain := storagev1.VolumeBindingImmediate, corev1.PersistentVolumeReclaimRetain
		if _, err := c.client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{Name: "local-now"}, Provisioner: "rancher.io/local-path",
			VolumeBindingMode: &immediate, ReclaimPolicy: &retain,
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		class := "local-now"
		if _, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "cache"},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: &class,
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("16Mi")}},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Bound with no pod in sight.
		pv := volumeOf(t, "cache")
		node := nodeOf(t, pv)
		web := webDeployment(1)
		web.Name = "cache-user"
		web.Spec.Selector.MatchLabels = map[string]string{"app": "cache-user"}
		web.Spec.Template.Labels = map[string]string{"app": "cache-user"}
		web.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cache"},
		}}}
		web.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
		if _, err := c.client.AppsV1().Deployments("default").Create(ctx, web, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		user := c.waitRunning(t, "app=cache-user", 1, "")[0]
		if user.Spec.NodeName != node {
			t.Errorf("the claim's pod is on %s, its volume on %s", user.Spec.NodeName, node)
		}
		exec(t, user.Name, "sh", "-c", "echo retained > /cache/file")
		if err := c.client.AppsV1().Deployments("default").Delete(ctx, "cache-user", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "cache", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The claim waits for its pod to go (pvc-protection), then the
		// volume is Released and kept, with its data.
		c.poll(t, 2*time.Minute, "cache's volume Released", func() (bool, string) {
			_, claimErr := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "cache", metav1.GetOptions{})
			got, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return apierrors.IsNotFound(claimErr) && got.Status.Phase == corev1.VolumeReleased, fmt.Sprintf("claim: %v; volume %s", claimErr, got.Status.Phase)
		})
		if b, err := os.ReadFile(filepath.Join(pv.Spec.HostPath.Path, "file")); err != nil || string(b) != "retained\n" {
			t.Errorf("the retained volume's file: %q, %v", b, err)
		}
	})

	t.Run("a claim of a class that does not exist", func(t *testing.T) {
		class := "nowhere"
		if _, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "lost"},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: &class,
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.poll(t, time.Minute, "an event naming the class", func() (bool, string) {
			events := c.eventsOf("PersistentVolumeClaim", "lost")
			return strings.Contains(events, `storageclass.storage.k8s.io "nowhere" not found`), events
		})
		pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "lost", metav1.GetOptions{})
		if err != nil || pvc.Status.Phase != corev1.ClaimPending {
			t.Errorf("claim lost: %v, %v; want Pending", pvc.Status.Phase, err)
		}
	})
}

// eventsOf are the default namespace's events about an object, as
// "Reason: message" lines, for conditions and failure messages.
func (c *cluster) eventsOf(kind, name string) string {
	events, err := c.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name,
	})
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, e := range events.Items {
		lines = append(lines, e.Reason+": "+e.Message)
	}
	return strings.Join(lines, "\n")
}
