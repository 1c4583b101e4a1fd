package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/storage/volume"
)

// In these tests there is no PV controller and no provisioner: the tests
// play them, doing exactly what they do to the API objects, so what is
// tested is the scheduler's side of the contract.

func createClass(t *testing.T, c *cluster, name, provisioner string) {
	t.Helper()
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
	if _, err := c.client.StorageV1().StorageClasses().Create(ctxFor(t), sc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create storageclass %s: %v", name, err)
	}
}

func hostnameAffinity(node string) *v1.VolumeNodeAffinity {
	return &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
	}}}}
}

// createLocalPV creates a local volume on node, Available as the PV
// controller would make it; claim, when set, pre-binds it.
func createLocalPV(t *testing.T, c *cluster, name, node, class string, claim *v1.PersistentVolumeClaim, annotations map[string]string) *v1.PersistentVolume {
	t.Helper()
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimDelete,
			PersistentVolumeSource:        v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/mnt/disks/" + name}},
			NodeAffinity:                  hostnameAffinity(node),
		},
	}
	if claim != nil {
		pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID}
	}
	pv, err := c.client.CoreV1().PersistentVolumes().Create(ctxFor(t), pv, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pv %s: %v", name, err)
	}
	pv.Status.Phase = v1.VolumeAvailable
	pv, err = c.client.CoreV1().PersistentVolumes().UpdateStatus(ctxFor(t), pv, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("pv %s status Available: %v", name, err)
	}
	return pv
}

func makeClaim(name, class string) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
			StorageClassName: &class,
		},
	}
}

func createClaim(t *testing.T, c *cluster, pvc *v1.PersistentVolumeClaim) *v1.PersistentVolumeClaim {
	t.Helper()
	pvc, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Create(ctxFor(t), pvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim %s: %v", pvc.Name, err)
	}
	return pvc
}

func createPodWithClaim(t *testing.T, c *cluster, name, claim string) {
	t.Helper()
	p := makePod(podSpec{name: name})
	p.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	if _, err := c.client.CoreV1().Pods("default").Create(ctxFor(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

// completeBinding does the PV controller's part once a volume names the
// claim: the claim's volumeName and bind annotations, both phases Bound.
func completeBinding(t *testing.T, c *cluster, claimName, pvName string) {
	t.Helper()
	ctx := ctxFor(t)
	pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pvc.Spec.VolumeName = pvName
	metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, volume.AnnBindCompleted, "yes")
	metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, volume.AnnBoundByController, "yes")
	if pvc, err = c.client.CoreV1().PersistentVolumeClaims("default").Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("bind claim %s: %v", claimName, err)
	}
	pvc.Status.Phase = v1.ClaimBound
	pvc.Status.AccessModes = pvc.Spec.AccessModes
	pvc.Status.Capacity = pvc.Spec.Resources.Requests
	if _, err := c.client.CoreV1().PersistentVolumeClaims("default").UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("claim %s status Bound: %v", claimName, err)
	}
	pv, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv.Status.Phase = v1.VolumeBound
	if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pv %s status Bound: %v", pvName, err)
	}
}

// TestWaitForFirstConsumerStaticVolume: a claim of a WaitForFirstConsumer
// class whose only matching volume is a local volume on node-b: the pod
// goes to node-b, and the scheduler pre-binds the volume to the claim
// (claimRef, bound-by-controller) before binding the pod, which waits for
// the PV controller to complete the binding.
func TestWaitForFirstConsumerStaticVolume(t *testing.T) {
	c := startCluster(t)
	startScheduler(t, c)
	createNode(t, c, nodeSpec{name: "node-a"})
	createNode(t, c, nodeSpec{name: "node-b"})
	createClass(t, c, "local-storage", volume.NotSupportedProvisioner)
	createLocalPV(t, c, "local-b", "node-b", "local-storage", nil, nil)
	claim := createClaim(t, c, makeClaim("data", "local-storage"))
	createPodWithClaim(t, c, "db", "data")

	var pv *v1.PersistentVolume
	eventually(t, 30*time.Second, "volume local-b pre-bound to claim data", func() (bool, error) {
		var err error
		pv, err = c.client.CoreV1().PersistentVolumes().Get(context.Background(), "local-b", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pv.Spec.ClaimRef != nil, fmt.Errorf("claimRef %v", pv.Spec.ClaimRef)
	})
	if ref := pv.Spec.ClaimRef; ref.Namespace != "default" || ref.Name != "data" || ref.UID != claim.UID {
		t.Errorf("claimRef %+v, want default/data with the claim's UID %s", ref, claim.UID)
	}
	if pv.Annotations[volume.AnnBoundByController] != "yes" {
		t.Errorf("pv annotations %v, want %s", pv.Annotations, volume.AnnBoundByController)
	}
	// The pod waits for the binding to complete.
	stillPending(t, c, "default", "db", 500*time.Millisecond)

	completeBinding(t, c, "data", "local-b")
	if node := waitBound(t, c, "default", "db"); node != "node-b" {
		t.Fatalf("pod bound to %s, want node-b, where its volume is", node)
	}
	// A second pod of the same claim goes where the bound volume is.
	createPodWithClaim(t, c, "db-reader", "data")
	if node := waitBound(t, c, "default", "db-reader"); node != "node-b" {
		t.Fatalf("second pod bound to %s, want node-b", node)
	}
}

// TestWaitForFirstConsumerProvisioning: a claim of a class with a
// provisioner: the scheduler picks the node and names it on the claim
// (volume.kubernetes.io/selected-node); when the provisioner gives up (it
// removes the annotation) the pod is scheduled again and the claim gets a
// node again; once the provisioner has made a volume on that node and
// the PV controller has bound it, the pod is bound to that node.
func TestWaitForFirstConsumerProvisioning(t *testing.T) {
	c := startCluster(t)
	startScheduler(t, c)
	createNode(t, c, nodeSpec{name: "node-a"})
	createNode(t, c, nodeSpec{name: "node-b"})
	createClass(t, c, "local-path", "rancher.io/local-path")
	claim := createClaim(t, c, makeClaim("cache", "local-path"))
	createPodWithClaim(t, c, "app", "cache")

	selectedNode := func() string {
		t.Helper()
		var node string
		eventually(t, 30*time.Second, "claim cache given a selected node", func() (bool, error) {
			pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "cache", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			node = pvc.Annotations[volume.AnnSelectedNode]
			return node != "", fmt.Errorf("annotations %v", pvc.Annotations)
		})
		return node
	}
	node := selectedNode()
	if node != "node-a" && node != "node-b" {
		t.Fatalf("selected node %q", node)
	}
	stillPending(t, c, "default", "app", 500*time.Millisecond)

	// The provisioner fails and hands the claim back.
	pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctxFor(t), "cache", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(pvc.Annotations, volume.AnnSelectedNode)
	if _, err := c.client.CoreV1().PersistentVolumeClaims("default").Update(ctxFor(t), pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, "default", "app", "FailedScheduling", `provisioning failed for PVC "cache"`)
	node = selectedNode()

	// The provisioner makes the volume on the selected node, pre-bound
	// to the claim, and the PV controller binds the claim.
	createLocalPV(t, c, "pvc-"+string(claim.UID), node, "local-path", claim,
		map[string]string{volume.AnnDynamicallyProvisioned: "rancher.io/local-path"})
	completeBinding(t, c, "cache", "pvc-"+string(claim.UID))
	if got := waitBound(t, c, "default", "app"); got != node {
		t.Fatalf("pod bound to %s, want %s, the claim's selected node", got, node)
	}
}

// TestMissingClaim: a pod naming a claim that does not exist is
// unschedulable with Kubernetes' message, and is scheduled once the claim
// appears (bound to a volume on node-a).
func TestMissingClaim(t *testing.T) {
	c := startCluster(t)
	startScheduler(t, c)
	createNode(t, c, nodeSpec{name: "node-a"})
	createNode(t, c, nodeSpec{name: "node-b"})
	createClass(t, c, "local-storage", volume.NotSupportedProvisioner)
	createPodWithClaim(t, c, "orphan", "later")

	msg := waitUnschedulable(t, c, "default", "orphan")
	if want := `persistentvolumeclaim "later" not found`; !strings.Contains(msg, want) {
		t.Fatalf("PodScheduled message %q, want it to contain %q", msg, want)
	}
	waitEvent(t, c, "default", "orphan", "FailedScheduling", `persistentvolumeclaim "later" not found`)

	// The claim appears already bound (a volume and a claim naming each
	// other, as a restored backup would be).
	claim := makeClaim("later", "local-storage")
	claim.Spec.VolumeName = "local-a"
	claim.Annotations = map[string]string{volume.AnnBindCompleted: "yes"}
	claim = createClaim(t, c, claim)
	createLocalPV(t, c, "local-a", "node-a", "local-storage", claim, nil)
	if node := waitBound(t, c, "default", "orphan"); node != "node-a" {
		t.Fatalf("pod bound to %s, want node-a, where its volume is", node)
	}
}
