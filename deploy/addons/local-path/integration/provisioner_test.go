package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestProvisioner runs one apiserver and provisioner through the
// provisioner's life: each part uses claims of its own namespace.
func TestProvisioner(t *testing.T) {
	e := start(t)
	ctx := context.Background()

	t.Run("WaitForFirstConsumer on the selected node, then deleted", func(t *testing.T) {
		e.t = t
		e.namespace("wffc")
		// Asked by the PV controller, but no node chosen yet: nothing
		// happens until the scheduler chooses.
		waiting := e.createClaim(claimSpec("wffc", "waiting", "local-path", "1Gi", provisionerAsks("")))
		c := e.createClaim(claimSpec("wffc", "data", "local-path", "1Gi", provisionerAsks("n2")))
		pv := e.volumeOf(c)
		e.noVolume(waiting)
		if e.hasEvent("wffc", waiting.UID, "Provisioning") {
			t.Errorf("a claim without a selected node was provisioned: %s", e.eventSummary("wffc", waiting.UID))
		}

		dir := filepath.Join(e.roots["n2"], "pvc-"+string(c.UID)+"_wffc_data")
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o777 {
			t.Fatalf("directory %s: %v %v; want a directory with mode 0777", dir, st, err)
		}
		if hp := pv.Spec.HostPath; hp == nil || hp.Path != dir || hp.Type == nil || *hp.Type != corev1.HostPathDirectoryOrCreate {
			t.Errorf("hostPath %+v, want %s DirectoryOrCreate", hp, dir)
		}
		if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) != 0 {
			t.Errorf("capacity %s", q.String())
		}
		ref := pv.Spec.ClaimRef
		if ref == nil || ref.Kind != "PersistentVolumeClaim" || ref.Namespace != "wffc" || ref.Name != "data" || ref.UID != c.UID || ref.ResourceVersion == "" {
			t.Errorf("claimRef %+v", ref)
		}
		na := pv.Spec.NodeAffinity
		if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 ||
			fmt.Sprint(na.Required.NodeSelectorTerms[0].MatchExpressions) != fmt.Sprint([]corev1.NodeSelectorRequirement{{
				Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"n2"}}}) {
			t.Errorf("node affinity %+v", na)
		}
		if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.StorageClassName != "local-path" ||
			pv.Spec.VolumeMode == nil || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem ||
			!slices.Equal(pv.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
			t.Errorf("spec %+v", pv.Spec)
		}
		if pv.Annotations["pv.kubernetes.io/provisioned-by"] != "rancher.io/local-path" || pv.Annotations["local.path.provisioner/selected-node"] != "n2" {
			t.Errorf("annotations %v", pv.Annotations)
		}
		e.waitEvent("wffc", c.UID, "Provisioning", `External provisioner is provisioning volume for claim "wffc/data"`)
		e.waitEvent("wffc", c.UID, "ProvisioningSucceeded", "Successfully provisioned volume "+pv.Name)
		e.noHelperPods()

		// The scheduler chooses for the other: it goes to n1.
		e.annotateClaim("wffc", "waiting", map[string]string{"volume.kubernetes.io/selected-node": "n1"})
		if got := e.volumeOf(waiting); got.Spec.HostPath.Path != filepath.Join(e.roots["n1"], "pvc-"+string(waiting.UID)+"_wffc_waiting") {
			t.Errorf("second volume at %s", got.Spec.HostPath.Path)
		}

		// Released with reclaim Delete: the directory and the volume go.
		if err := os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		e.deleteClaim("wffc", "data")
		e.release(pv.Name)
		e.volumeGone(pv.Name)
		if exists(dir) {
			t.Errorf("directory %s still there after the volume was deleted", dir)
		}
		if !exists(e.roots["n2"]) {
			t.Error("the storage root went with the volume")
		}
		e.noHelperPods()
	})

	t.Run("Immediate picks a node in the allowed topology; Retain keeps the data", func(t *testing.T) {
		e.t = t
		e.namespace("immediate")
		if _, err := e.client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
			ObjectMeta:        metav1.ObjectMeta{Name: "local-retain"},
			Provisioner:       "rancher.io/local-path",
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
			ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimRetain),
			AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: "kubernetes.io/hostname", Values: []string{"n1"}},
			}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		kept := e.createClaim(claimSpec("immediate", "kept", "local-retain", "64Mi", provisionerAsks(""), corev1.ReadOnlyMany))
		pv := e.volumeOf(kept)
		dir := filepath.Join(e.roots["n1"], "pvc-"+string(kept.UID)+"_immediate_kept")
		if pv.Spec.HostPath.Path != dir || pv.Annotations["local.path.provisioner/selected-node"] != "n1" ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
			t.Fatalf("volume at %s on %s, reclaim %s", pv.Spec.HostPath.Path, pv.Annotations["local.path.provisioner/selected-node"], pv.Spec.PersistentVolumeReclaimPolicy)
		}
		if !exists(dir) {
			t.Fatalf("directory %s missing", dir)
		}

		// Released with Retain: left alone. A Delete volume released
		// after it is deleted, so the provisioner has looked at both.
		e.deleteClaim("immediate", "kept")
		e.release(pv.Name)
		other := e.createClaim(claimSpec("immediate", "other", "local-path", "64Mi", provisionerAsks("n1")))
		otherPV := e.volumeOf(other)
		e.deleteClaim("immediate", "other")
		e.release(otherPV.Name)
		e.volumeGone(otherPV.Name)
		got, err := e.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp != nil || !exists(dir) {
			t.Errorf("retained volume: %v, deleting %v, directory there %v", err, got.DeletionTimestamp, exists(dir))
		}
	})

	t.Run("ReadWriteMany is refused with the reason", func(t *testing.T) {
		e.t = t
		e.namespace("rwx")
		c := e.createClaim(claimSpec("rwx", "shared", "local-path", "1Gi", provisionerAsks("n1"), corev1.ReadWriteMany))
		e.waitEvent("rwx", c.UID, "ProvisioningFailed",
			`failed to provision volume with StorageClass "local-path": NodePath only supports ReadWriteOnce, ReadOnlyMany and ReadWriteOncePod access modes`)
		e.noVolume(c)
		e.noHelperPods()
		if entries, _ := os.ReadDir(e.roots["n1"]); slices.ContainsFunc(entries, func(d os.DirEntry) bool {
			return d.Name() == "pvc-"+string(c.UID)+"_rwx_shared"
		}) {
			t.Error("a directory was made for a refused claim")
		}
	})

	t.Run("a helper that fails leaves nothing, and the retry succeeds", func(t *testing.T) {
		e.t = t
		e.namespace("broken")
		c := e.createClaim(claimSpec("broken", "data", "local-path", "1Gi", nil))
		// A file where the directory must go: the helper cannot make it.
		path := filepath.Join(e.roots["n1"], "pvc-"+string(c.UID)+"_broken_data")
		if err := os.WriteFile(path, []byte("not a volume"), 0o600); err != nil {
			t.Fatal(err)
		}
		e.annotateClaim("broken", "data", provisionerAsks("n1"))
		msg := e.waitEvent("broken", c.UID, "ProvisioningFailed", "exists and is not a directory")
		want := fmt.Sprintf(`failed to provision volume with StorageClass "local-path": failed to create volume pvc-%s: helper pod helper-pod-create-pvc-%s on node n1: helper pod failed: local-path helper: %s exists and is not a directory`,
			c.UID, c.UID, path)
		if msg != want {
			t.Errorf("event message\n%s\nwant\n%s", msg, want)
		}
		e.noVolume(c)
		if data, err := os.ReadFile(path); err != nil || string(data) != "not a volume" {
			t.Errorf("the file in the way was changed: %q %v", data, err)
		}
		// Retried with back-off: once the way is clear, it works.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		pv := e.volumeOf(c)
		if pv.Spec.HostPath.Path != path || !exists(path) {
			t.Errorf("volume at %s, directory there %v", pv.Spec.HostPath.Path, exists(path))
		}
		e.noHelperPods()
	})

	t.Run("expansion grows the volume and the claim", func(t *testing.T) {
		e.t = t
		e.namespace("grow")
		c := e.createClaim(claimSpec("grow", "data", "local-path", "1Gi", provisionerAsks("n1")))
		pv := e.volumeOf(c)
		// Bind as the PV controller does.
		e.updateClaim("grow", "data", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = pv.Name })
		e.eventually("claim bound", func() (bool, string) {
			cur, err := e.client.CoreV1().PersistentVolumeClaims("grow").Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			cur.Status.Phase = corev1.ClaimBound
			cur.Status.AccessModes = cur.Spec.AccessModes
			cur.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
			if _, err := e.client.CoreV1().PersistentVolumeClaims("grow").UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		e.updateClaim("grow", "data", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("3Gi")
		})
		three := resource.MustParse("3Gi")
		e.eventually("claim and volume at 3Gi", func() (bool, string) {
			cur, err := e.client.CoreV1().PersistentVolumeClaims("grow").Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			vol, err := e.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			capacity, pvCap := cur.Status.Capacity[corev1.ResourceStorage], vol.Spec.Capacity[corev1.ResourceStorage]
			alloc := cur.Status.AllocatedResources[corev1.ResourceStorage]
			return capacity.Cmp(three) == 0 && pvCap.Cmp(three) == 0 && alloc.Cmp(three) == 0 &&
					cur.Status.AllocatedResourceStatuses == nil && len(cur.Status.Conditions) == 0 &&
					cur.Annotations["volume.kubernetes.io/node-expansion-not-required"] == "true",
				fmt.Sprintf("claim status %+v annotations %v, volume %s", cur.Status, cur.Annotations, pvCap.String())
		})
		e.waitEvent("grow", c.UID, "Resizing", "External resizer is resizing volume "+pv.Name)
		e.waitEvent("grow", c.UID, "VolumeResizeSuccessful", "Resize volume succeeded")
	})

	t.Run("a bad configuration is refused and the last good one stays; a good one applies", func(t *testing.T) {
		e.t = t
		e.namespace("config")
		cm, err := e.client.CoreV1().ConfigMaps(systemNS).Get(ctx, "local-path-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.setConfig(`{"nodePathMap": [`)
		e.waitEvent(systemNS, cm.UID, "InvalidConfiguration", "config.json: unexpected EOF")
		c := e.createClaim(claimSpec("config", "old", "local-path", "1Gi", provisionerAsks("n2")))
		if pv := e.volumeOf(c); filepath.Dir(pv.Spec.HostPath.Path) != e.roots["n2"] {
			t.Errorf("with a bad configuration the volume went to %s", pv.Spec.HostPath.Path)
		}

		// Beside n2's root, in the whole test's directory: the
		// provisioner and its helper runs outlive this subtest, and
		// would make the directory again in a subtest's removed one.
		moved := e.roots["n2"] + "-moved"
		e.setConfig(e.configJSON(map[string]string{"n2": moved}))
		// The change reaches the provisioner through a watch: a claim
		// made just after may still see the old root; a later one does
		// not.
		n := 0
		e.eventually("new root used", func() (bool, string) {
			n++
			c := e.createClaim(claimSpec("config", fmt.Sprintf("new-%d", n), "local-path", "1Gi", provisionerAsks("n2")))
			pv := e.volumeOf(c)
			return filepath.Dir(pv.Spec.HostPath.Path) == moved && exists(pv.Spec.HostPath.Path), pv.Spec.HostPath.Path
		})
	})

	t.Run("a claim deleted while its directory is made leaves nothing", func(t *testing.T) {
		e.t = t
		e.namespace("late")
		e.kubelet.paused.Store(true)
		c := e.createClaim(claimSpec("late", "data", "local-path", "1Gi", provisionerAsks("n1")))
		createPod := "helper-pod-create-pvc-" + string(c.UID)
		var dir string
		e.eventually("helper pod created", func() (bool, string) {
			for _, p := range e.helperPods() {
				if p.Name == createPod {
					dir = p.Annotations["local.path.provisioner/path"]
					return true, ""
				}
			}
			return false, "none yet"
		})
		e.deleteClaim("late", "data")
		e.kubelet.paused.Store(false)
		e.eventually("directory made and removed again", func() (bool, string) {
			created, deleted := e.kubelet.runsOf(createPod), e.kubelet.runsOf("helper-pod-delete-pvc-"+string(c.UID))
			return len(created) > 0 && len(deleted) > 0 && !exists(dir),
				fmt.Sprintf("create runs %v, delete runs %v, directory there %v", created, deleted, exists(dir))
		})
		e.noVolume(c)
		e.noHelperPods()
	})

	t.Run("a restart takes over its helper pod, and cleans up after a claim that went", func(t *testing.T) {
		e.t = t
		e.namespace("restart")
		e.kubelet.paused.Store(true)
		c := e.createClaim(claimSpec("restart", "data", "local-path", "1Gi", provisionerAsks("n1")))
		gone := e.createClaim(claimSpec("restart", "gone", "local-path", "1Gi", provisionerAsks("n2")))
		createPod := "helper-pod-create-pvc-" + string(c.UID)
		gonePod := "helper-pod-create-pvc-" + string(gone.UID)
		var uid, goneDir string
		e.eventually("helper pods created", func() (bool, string) {
			names := map[string]string{}
			for _, p := range e.helperPods() {
				names[p.Name] = string(p.UID)
				if p.Name == gonePod {
					goneDir = p.Annotations["local.path.provisioner/path"]
				}
			}
			uid = names[createPod]
			return uid != "" && names[gonePod] != "", fmt.Sprint(names)
		})
		// The provisioner dies with both helpers pending; one claim goes
		// away meanwhile.
		e.stopProvisioner()
		e.deleteClaim("restart", "gone")
		e.startProvisioner()
		e.kubelet.paused.Store(false)

		pv := e.volumeOf(c)
		if !exists(pv.Spec.HostPath.Path) {
			t.Errorf("directory %s missing", pv.Spec.HostPath.Path)
		}
		for _, ran := range e.kubelet.runsOf(createPod) {
			if ran != uid {
				t.Errorf("helper pod %s was made anew (ran %v, the first was %s)", createPod, e.kubelet.runsOf(createPod), uid)
				break
			}
		}
		if filepath.Base(goneDir) != "pvc-"+string(gone.UID)+"_restart_gone" {
			t.Fatalf("helper pod %s makes %q", gonePod, goneDir)
		}
		// Its helper ran once the kubelet was back (and made the
		// directory); then the directory was removed again.
		e.eventually("directory of the claim that went removed", func() (bool, string) {
			created, deleted := e.kubelet.runsOf(gonePod), e.kubelet.runsOf("helper-pod-delete-pvc-"+string(gone.UID))
			return len(created) > 0 && len(deleted) > 0 && !exists(goneDir),
				fmt.Sprintf("create runs %v, delete runs %v, directory there %v", created, deleted, exists(goneDir))
		})
		e.noVolume(gone)
		e.noHelperPods()
	})
}
