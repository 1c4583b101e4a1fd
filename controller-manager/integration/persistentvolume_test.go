package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/persistentvolume"
	"coracle.dev/controller-manager/internal/controller/pvcprotection"
	"coracle.dev/controller-manager/internal/controller/pvprotection"
)

// The PV controller and the two protection controllers against the real
// apiserver. Objects are created with the protection finalizers the
// apiserver's admission would add, so that these tests do not depend on
// it. Each subtest uses its own storage class name, so that the claims
// of one never match the (cluster-wide) volumes of another. The
// controllers run as make up runs them, each with its ServiceAccount's
// credentials: the bootstrap policy's roles must be enough.
func TestPersistentVolumes(t *testing.T) {
	e := startServer(t)
	e.cm = e.startManager(e.withServiceAccountCredentials(), withControllers(persistentvolume.Name, pvcprotection.Name, pvprotection.Name))
	ns := e.namespace("storage")

	// A claim is matched only against Available volumes, and a volume
	// becoming Available does not look for claims: a claim made before
	// its volume is synced with it at the next resync (15s), as in
	// Kubernetes. The subtests wait for their volumes to be Available.
	t.Run("a static volume binds a claim", func(t *testing.T) {
		e.createPV("static-big", "static", "10Gi", corev1.PersistentVolumeReclaimRetain, nil)
		e.createPV("static-fit", "static", "2Gi", corev1.PersistentVolumeReclaimRetain, nil)
		e.createPV("static-small", "static", "512Mi", corev1.PersistentVolumeReclaimRetain, nil)
		e.waitPVPhase("static-fit", corev1.VolumeAvailable)
		e.createPVC(ns, "data", "static", "1Gi", nil)

		pvc := e.waitPVCPhase(ns, "data", corev1.ClaimBound)
		if pvc.Spec.VolumeName != "static-fit" {
			t.Fatalf("claim bound to %q, want the smallest that fits, static-fit", pvc.Spec.VolumeName)
		}
		if pvc.Annotations[storagehelpers.AnnBindCompleted] != "yes" || pvc.Annotations[storagehelpers.AnnBoundByController] != "yes" {
			t.Errorf("claim annotations %v", pvc.Annotations)
		}
		if c := pvc.Status.Capacity[corev1.ResourceStorage]; c.String() != "2Gi" {
			t.Errorf("claim capacity %s, want the volume's 2Gi", c.String())
		}
		pv := e.waitPVPhase("static-fit", corev1.VolumeBound)
		if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != ns || ref.Name != "data" || ref.UID != pvc.UID {
			t.Errorf("volume claimRef %+v, want the claim", ref)
		}
		for _, name := range []string{"static-big", "static-small"} {
			if e.getPV(name).Spec.ClaimRef != nil {
				t.Errorf("volume %s bound too", name)
			}
		}
	})

	t.Run("a Retain volume is released and not bound again", func(t *testing.T) {
		e.createPV("retained", "retain", "1Gi", corev1.PersistentVolumeReclaimRetain, nil)
		e.waitPVPhase("retained", corev1.VolumeAvailable)
		e.createPVC(ns, "first", "retain", "1Gi", nil)
		first := e.waitPVCPhase(ns, "first", corev1.ClaimBound)
		e.deletePVC(ns, "first")
		e.waitPVCGone(ns, "first")
		pv := e.waitPVPhase("retained", corev1.VolumeReleased)
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != first.UID {
			t.Errorf("released volume's claimRef %+v, want the deleted claim's, kept", pv.Spec.ClaimRef)
		}
		// A new claim that the volume would fit: synced, and finds
		// nothing.
		e.createPVC(ns, "second", "retain", "1Gi", nil)
		e.waitEvent(ns, "second", "ProvisioningFailed")
		if got := e.getPVC(ns, "second"); got.Status.Phase != corev1.ClaimPending || got.Spec.VolumeName != "" {
			t.Errorf("new claim %s bound to %q, want Pending", got.Status.Phase, got.Spec.VolumeName)
		}
		if got := e.getPV("retained"); got.Status.Phase != corev1.VolumeReleased || got.Spec.ClaimRef.UID != first.UID {
			t.Errorf("volume %s bound to %+v, want still Released to the old claim", got.Status.Phase, got.Spec.ClaimRef)
		}
	})

	t.Run("a Delete volume is left to the provisioner that made it", func(t *testing.T) {
		provisioned := func(pv *corev1.PersistentVolume) {
			metav1.SetMetaDataAnnotation(&pv.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned, "rancher.io/local-path")
		}
		e.createPV("provisioned", "reclaim-provisioned", "1Gi", corev1.PersistentVolumeReclaimDelete, provisioned)
		e.createPV("static-delete", "reclaim-static", "1Gi", corev1.PersistentVolumeReclaimDelete, nil)
		e.waitPVPhase("provisioned", corev1.VolumeAvailable)
		e.waitPVPhase("static-delete", corev1.VolumeAvailable)
		e.createPVC(ns, "provisioned", "reclaim-provisioned", "1Gi", nil)
		e.createPVC(ns, "static-delete", "reclaim-static", "1Gi", nil)
		e.waitPVCPhase(ns, "provisioned", corev1.ClaimBound)
		e.waitPVCPhase(ns, "static-delete", corev1.ClaimBound)
		e.deletePVC(ns, "provisioned")
		e.deletePVC(ns, "static-delete")
		// A static volume with Delete has no deleter: Failed, with
		// Kubernetes' event.
		e.waitPVPhase("static-delete", corev1.VolumeFailed)
		e.waitEventMessage("", "static-delete", "VolumeFailedDelete", `error getting deleter volume plugin for volume "static-delete": no volume plugin matched`)
		// The provisioned one is Released, and stays so for its
		// provisioner to delete: not Failed, not deleted.
		e.waitPVPhase("provisioned", corev1.VolumeReleased)
		if got := e.eventReasons("", "provisioned"); got["VolumeFailedDelete"] > 0 {
			t.Errorf("events on the provisioned volume: %v", got)
		}
		if got := e.getPV("provisioned"); got.Status.Phase != corev1.VolumeReleased {
			t.Errorf("provisioned volume %s, want Released", got.Status.Phase)
		}
	})

	t.Run("a claim of a class that does not exist", func(t *testing.T) {
		e.createPVC(ns, "no-class", "does-not-exist", "1Gi", nil)
		e.waitEventMessage(ns, "no-class", "ProvisioningFailed", `storageclass.storage.k8s.io "does-not-exist" not found`)
		if got := e.getPVC(ns, "no-class"); got.Status.Phase != corev1.ClaimPending || got.Annotations[storagehelpers.AnnStorageProvisioner] != "" {
			t.Errorf("claim %s, annotations %v; want Pending, no provisioner", got.Status.Phase, got.Annotations)
		}
	})

	t.Run("wait for first consumer: provisioning asked for once a node is chosen", func(t *testing.T) {
		wffc := storagev1.VolumeBindingWaitForFirstConsumer
		_, err := e.client.StorageV1().StorageClasses().Create(context.Background(), &storagev1.StorageClass{
			ObjectMeta:        metav1.ObjectMeta{Name: "wffc-local"},
			Provisioner:       "rancher.io/local-path",
			ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
			VolumeBindingMode: &wffc,
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A free volume of the class: the controller leaves it to the
		// scheduler.
		e.createPV("wffc-free", "wffc-local", "1Gi", corev1.PersistentVolumeReclaimDelete, nil)
		e.waitPVPhase("wffc-free", corev1.VolumeAvailable)
		e.createPVC(ns, "wffc", "wffc-local", "1Gi", nil)
		e.waitEventMessage(ns, "wffc", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
		pvc := e.getPVC(ns, "wffc")
		if pvc.Annotations[storagehelpers.AnnStorageProvisioner] != "" || pvc.Spec.VolumeName != "" {
			t.Fatalf("before a node is chosen: annotations %v, volume %q", pvc.Annotations, pvc.Spec.VolumeName)
		}

		// The scheduler chooses a node.
		metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, storagehelpers.AnnSelectedNode, "node-1")
		if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Update(context.Background(), pvc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the provisioner annotations", func() (bool, error) {
			a := e.getPVC(ns, "wffc").Annotations
			return a[storagehelpers.AnnStorageProvisioner] == "rancher.io/local-path" && a[storagehelpers.AnnBetaStorageProvisioner] == "rancher.io/local-path", fmt.Errorf("annotations %v", a)
		})
		e.waitEventMessage(ns, "wffc", "ExternalProvisioning", "Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path'")

		// The provisioner makes the volume, pointing at the claim: the
		// controller completes the binding.
		pvc = e.getPVC(ns, "wffc")
		e.createPV("pvc-"+string(pvc.UID), "wffc-local", "1Gi", corev1.PersistentVolumeReclaimDelete, func(pv *corev1.PersistentVolume) {
			metav1.SetMetaDataAnnotation(&pv.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned, "rancher.io/local-path")
			pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: "wffc", UID: pvc.UID}
			pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}},
			}}}}
		})
		bound := e.waitPVCPhase(ns, "wffc", corev1.ClaimBound)
		if bound.Spec.VolumeName != "pvc-"+string(pvc.UID) {
			t.Errorf("claim bound to %q, want the provisioned volume", bound.Spec.VolumeName)
		}
		e.waitPVPhase("pvc-"+string(pvc.UID), corev1.VolumeBound)
		if got := e.getPV("wffc-free"); got.Spec.ClaimRef != nil {
			t.Errorf("the free volume got bound to %+v", got.Spec.ClaimRef)
		}
	})

	t.Run("pvc protection keeps a claim while a running pod uses it", func(t *testing.T) {
		e.createPVC(ns, "in-use", "protect", "1Gi", nil)
		e.createPVC(ns, "in-use-2", "protect", "1Gi", nil)
		e.createPVC(ns, "unused", "protect", "1Gi", nil)
		e.createClaimPod(ns, "user", "in-use", corev1.PodRunning)
		e.createClaimPod(ns, "user-2", "in-use-2", corev1.PodRunning)
		// A pod that is not scheduled does not hold its claim.
		e.createClaimPod(ns, "unscheduled", "unused", "")

		e.deletePVC(ns, "in-use")
		e.deletePVC(ns, "in-use-2")
		e.deletePVC(ns, "unused")
		// The unused claim goes; by then the others were looked at too,
		// and they stay, Terminating.
		e.waitPVCGone(ns, "unused")
		for _, name := range []string{"in-use", "in-use-2"} {
			if got := e.getPVC(ns, name); got.DeletionTimestamp == nil || !hasString(got.Finalizers, pvcprotection.Finalizer) {
				t.Fatalf("claim %s: deletion %v, finalizers %v; want Terminating with the finalizer", name, got.DeletionTimestamp, got.Finalizers)
			}
		}
		// A pod that finished still holds it (as upstream: until the pod
		// is deleted, the kubelet may still have it mounted).
		p := e.getPod(ns, "user-2")
		p.Status.Phase = corev1.PodSucceeded
		if _, err := e.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		zero := int64(0)
		if err := e.client.CoreV1().Pods(ns).Delete(context.Background(), "user-2", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		e.waitPVCGone(ns, "in-use-2")
		if got := e.getPVC(ns, "in-use"); got.DeletionTimestamp == nil {
			t.Fatal("claim in-use gone while its pod runs")
		}
		// Deleting the running pod frees the other.
		if err := e.client.CoreV1().Pods(ns).Delete(context.Background(), "user", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		e.waitPVCGone(ns, "in-use")
	})

	t.Run("pv protection keeps a volume while it is bound", func(t *testing.T) {
		e.createPV("protected", "pv-protect", "1Gi", corev1.PersistentVolumeReclaimRetain, nil)
		e.createPV("unprotected", "pv-protect-none", "1Gi", corev1.PersistentVolumeReclaimRetain, nil)
		e.waitPVPhase("protected", corev1.VolumeAvailable)
		e.createPVC(ns, "holder", "pv-protect", "1Gi", nil)
		e.waitPVCPhase(ns, "holder", corev1.ClaimBound)
		e.waitPVPhase("unprotected", corev1.VolumeAvailable)

		e.deletePV("protected")
		e.deletePV("unprotected")
		e.waitPVGone("unprotected")
		if got := e.getPV("protected"); got.DeletionTimestamp == nil || !hasString(got.Finalizers, pvprotection.Finalizer) {
			t.Fatalf("bound volume: deletion %v, finalizers %v; want Terminating with the finalizer", got.DeletionTimestamp, got.Finalizers)
		}
		// Its claim goes: the volume is Released, then removed.
		e.deletePVC(ns, "holder")
		e.waitPVGone("protected")
	})
}

// Ten claims race for three volumes, with two PV controllers binding at
// once (two managers, no leader election: Kubernetes' controller is
// built to survive that): the versioned writes let exactly three claims
// bind, each to its own volume, and the losers of every race notice and
// undo their half of it.
func TestPersistentVolumeBindingRace(t *testing.T) {
	e := start(t, withControllers(persistentvolume.Name))
	e.startManager(withControllers(persistentvolume.Name))
	ns := e.namespace("storage-race")
	for i := range 3 {
		e.createPV(fmt.Sprintf("race-%d", i), "race", "1Gi", corev1.PersistentVolumeReclaimRetain, nil)
	}
	for i := range 3 {
		e.waitPVPhase(fmt.Sprintf("race-%d", i), corev1.VolumeAvailable)
	}
	for i := range 10 {
		e.createPVC(ns, fmt.Sprintf("race-%d", i), "race", "1Gi", nil)
	}
	// Every claim gets synced: bound, or told that nothing is left.
	eventually(t, 60*time.Second, "three claims bound, seven told there is no volume", func() (bool, error) {
		bound, waiting := 0, 0
		for i := range 10 {
			name := fmt.Sprintf("race-%d", i)
			if e.getPVC(ns, name).Status.Phase == corev1.ClaimBound {
				bound++
			} else if e.eventReasons(ns, name)["ProvisioningFailed"] > 0 {
				waiting++
			}
		}
		return bound == 3 && waiting == 7, fmt.Errorf("%d bound, %d told", bound, waiting)
	})
	// Each volume is bound to exactly one claim, which points back.
	claimOf := map[string]string{}
	for i := range 10 {
		pvc := e.getPVC(ns, fmt.Sprintf("race-%d", i))
		if pvc.Spec.VolumeName == "" {
			continue
		}
		if other, dup := claimOf[pvc.Spec.VolumeName]; dup {
			t.Fatalf("volume %s bound by %s and %s", pvc.Spec.VolumeName, other, pvc.Name)
		}
		claimOf[pvc.Spec.VolumeName] = pvc.Name
		pv := e.getPV(pvc.Spec.VolumeName)
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != pvc.Name || pv.Spec.ClaimRef.UID != pvc.UID || pv.Status.Phase != corev1.VolumeBound {
			t.Errorf("volume %s: claimRef %+v, phase %s; want %s", pv.Name, pv.Spec.ClaimRef, pv.Status.Phase, pvc.Name)
		}
	}
	if len(claimOf) != 3 {
		t.Errorf("volumes bound: %v, want all three", claimOf)
	}
	// And no volume is left pointing at a claim that is not its.
	for i := range 3 {
		pv := e.getPV(fmt.Sprintf("race-%d", i))
		if pv.Spec.ClaimRef == nil || claimOf[pv.Name] != pv.Spec.ClaimRef.Name {
			t.Errorf("volume %s points at %+v, its claim is %q", pv.Name, pv.Spec.ClaimRef, claimOf[pv.Name])
		}
	}
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// createPV creates a hostPath volume of class with the pv-protection
// finalizer.
func (e *env) createPV(name, class, size string, policy corev1.PersistentVolumeReclaimPolicy, mod func(*corev1.PersistentVolume)) {
	e.t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{pvprotection.Finalizer}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/coracle-test/" + name}},
		},
	}
	if mod != nil {
		mod(pv)
	}
	if _, err := e.client.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create volume %s: %v", name, err)
	}
}

// createPVC creates a ReadWriteOnce claim of class with the
// pvc-protection finalizer.
func (e *env) createPVC(ns, name, class, size string, mod func(*corev1.PersistentVolumeClaim)) {
	e.t.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: []string{pvcprotection.Finalizer}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			StorageClassName: &class,
		},
	}
	if mod != nil {
		mod(pvc)
	}
	if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), pvc, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create claim %s: %v", name, err)
	}
}

// createClaimPod creates a pod using claim; with a phase it is on a node
// and has that status, as a kubelet would have written it.
func (e *env) createClaimPod(ns, name, claim string, phase corev1.PodPhase) {
	e.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
			}}},
		},
	}
	if phase != "" {
		p.Spec.NodeName = "node-1"
	}
	created, err := e.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
	if phase == "" {
		return
	}
	created.Status.Phase = phase
	if _, err := e.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("pod %s status: %v", name, err)
	}
}

func (e *env) getPV(name string) *corev1.PersistentVolume {
	e.t.Helper()
	pv, err := e.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get volume %s: %v", name, err)
	}
	return pv
}

func (e *env) getPVC(ns, name string) *corev1.PersistentVolumeClaim {
	e.t.Helper()
	pvc, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get claim %s: %v", name, err)
	}
	return pvc
}

func (e *env) getPod(ns, name string) *corev1.Pod {
	e.t.Helper()
	p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func (e *env) deletePV(name string) {
	e.t.Helper()
	if err := e.client.CoreV1().PersistentVolumes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("delete volume %s: %v", name, err)
	}
}

func (e *env) deletePVC(ns, name string) {
	e.t.Helper()
	if err := e.client.CoreV1().PersistentVolumeClaims(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("delete claim %s: %v", name, err)
	}
}

func (e *env) waitPVPhase(name string, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	e.t.Helper()
	var pv *corev1.PersistentVolume
	eventually(e.t, 30*time.Second, fmt.Sprintf("volume %s %s", name, phase), func() (bool, error) {
		pv = e.getPV(name)
		return pv.Status.Phase == phase, fmt.Errorf("phase %q", pv.Status.Phase)
	})
	return pv
}

func (e *env) waitPVCPhase(ns, name string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	e.t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	eventually(e.t, 30*time.Second, fmt.Sprintf("claim %s %s", name, phase), func() (bool, error) {
		pvc = e.getPVC(ns, name)
		return pvc.Status.Phase == phase, fmt.Errorf("phase %q", pvc.Status.Phase)
	})
	return pvc
}

func (e *env) waitPVCGone(ns, name string) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, "claim "+name+" deleted", func() (bool, error) {
		_, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func (e *env) waitPVGone(name string) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, "volume "+name+" deleted", func() (bool, error) {
		_, err := e.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

// waitEventMessage waits for an event with reason about the object
// name in ns ("": in any, for cluster-scoped objects) whose message
// starts with message.
func (e *env) waitEventMessage(ns, name, reason, message string) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, fmt.Sprintf("event %s %q on %s", reason, message, name), func() (bool, error) {
		list, err := e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.InvolvedObject.Name != name {
				continue
			}
			if ev.Reason == reason && strings.HasPrefix(ev.Message, message) {
				return true, nil
			}
			seen = append(seen, ev.Reason+": "+ev.Message)
		}
		return false, fmt.Errorf("events seen: %q", seen)
	})
}
