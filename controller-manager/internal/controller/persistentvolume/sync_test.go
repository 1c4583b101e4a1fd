package persistentvolume

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/pvcprotection"
)

// fixture is a controller on a fake clientset whose caches hold objs, as
// after the informers synced. The syncs' writes go to the fake API and
// the controller's own caches; the tests read the results from the API.
type fixture struct {
	t        *testing.T
	ctl      *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	for i, o := range objs {
		// Versions as the API would have them, for the caches.
		o.(metav1.Object).SetResourceVersion(itoa(i + 1))
	}
	client := fake.NewClientset(objs...)
	recorder := record.NewFakeRecorder(100)
	volumes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	claims := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	classes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	pods, err := pvcprotection.NewPodIndex(informers.NewSharedInformerFactory(client, 0).Core().V1().Pods().Informer())
	if err != nil {
		t.Fatal(err)
	}
	ctl := &Controller{
		client:       client,
		recorder:     recorder,
		log:          zap.NewNop(),
		volumeLister: corelisters.NewPersistentVolumeLister(volumes),
		claimLister:  corelisters.NewPersistentVolumeClaimLister(claims),
		classLister:  storagelisters.NewStorageClassLister(classes),
		pods:         pods,
		volumes:      newVolumeIndex(),
		claims:       cache.NewStore(cache.DeletionHandlingMetaNamespaceKeyFunc),
	}
	c := controller.Context{Name: "test", Log: zap.NewNop()}
	ctl.Base = controller.NewBase(c, ctl.syncClaimByKey)
	ctl.volumeQueue = ctl.AddQueue(c, "test-volumes", ctl.syncVolumeByKey)
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.PersistentVolume:
			must(t, volumes.Add(o))
			must(t, ctl.volumes.store.Add(o))
		case *corev1.PersistentVolumeClaim:
			must(t, claims.Add(o))
			must(t, ctl.claims.Add(o))
		case *storagev1.StorageClass:
			must(t, classes.Add(o))
		}
	}
	return &fixture{t: t, ctl: ctl, client: client, recorder: recorder}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func (f *fixture) syncClaim(name string) error {
	pvc, err := f.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), name, metav1.GetOptions{})
	must(f.t, err)
	return f.ctl.syncClaim(context.Background(), pvc)
}

func (f *fixture) syncVolume(name string) error {
	pv, err := f.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	must(f.t, err)
	return f.ctl.syncVolume(context.Background(), pv)
}

func (f *fixture) claim(name string) *corev1.PersistentVolumeClaim {
	pvc, err := f.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), name, metav1.GetOptions{})
	must(f.t, err)
	return pvc
}

func (f *fixture) volume(name string) *corev1.PersistentVolume {
	pv, err := f.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	must(f.t, err)
	return pv
}

// events drains the events recorded so far, as "Type Reason Message".
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) wantEvent(prefix string) {
	f.t.Helper()
	events := f.events()
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return
		}
	}
	f.t.Errorf("no event %q among %q", prefix, events)
}

func claimNamed(name, size string, mod func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	pvc := testPVC(size, func(pvc *corev1.PersistentVolumeClaim) {
		pvc.Name, pvc.Namespace, pvc.UID = name, "ns", types.UID("uid-"+name)
		pvc.Spec.AccessModes = modes(rwo)
		pvc.Spec.StorageClassName = ptr.To("")
		pvc.Status.Phase = corev1.ClaimPending
	})
	if mod != nil {
		mod(pvc)
	}
	return pvc
}

func volumeNamed(name, size string, mod func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	pv := testPV(name, name, size, modes(rwo), func(pv *corev1.PersistentVolume) {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	})
	if mod != nil {
		mod(pv)
	}
	return pv
}

func boundTo(claim *corev1.PersistentVolumeClaim) func(*corev1.PersistentVolume) {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID}
		pv.Status.Phase = corev1.VolumeBound
		metav1.SetMetaDataAnnotation(&pv.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
	}
}

func class(name, provisioner string, mode storagev1.VolumeBindingMode, mod func(*storagev1.StorageClass)) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name},
		Provisioner:       provisioner,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: &mode,
	}
	if mod != nil {
		mod(sc)
	}
	return sc
}

func TestSyncClaimBindsTheBestVolume(t *testing.T) {
	claim := claimNamed("c1", "1Gi", nil)
	f := newFixture(t, claim,
		volumeNamed("big", "10Gi", nil),
		volumeNamed("small", "2Gi", nil),
		volumeNamed("too-small", "512Mi", nil),
	)
	must(t, f.syncClaim("c1"))

	pv := f.volume("small")
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Name != "c1" || ref.Namespace != "ns" || ref.UID != claim.UID {
		t.Fatalf("volume's claimRef = %+v, want ns/c1 with the claim's UID", ref)
	}
	if pv.Status.Phase != corev1.VolumeBound || pv.Annotations[storagehelpers.AnnBoundByController] != "yes" {
		t.Errorf("volume phase %q, annotations %v; want Bound, bound by the controller", pv.Status.Phase, pv.Annotations)
	}
	got := f.claim("c1")
	if got.Spec.VolumeName != "small" || got.Status.Phase != corev1.ClaimBound {
		t.Errorf("claim bound to %q in phase %q, want small and Bound", got.Spec.VolumeName, got.Status.Phase)
	}
	if got.Annotations[storagehelpers.AnnBindCompleted] != "yes" || got.Annotations[storagehelpers.AnnBoundByController] != "yes" {
		t.Errorf("claim annotations %v, want bind-completed and bound-by-controller", got.Annotations)
	}
	if c := got.Status.Capacity[corev1.ResourceStorage]; c.String() != "2Gi" || len(got.Status.AccessModes) != 1 {
		t.Errorf("claim status capacity %s, modes %v; want the volume's 2Gi and RWO", c.String(), got.Status.AccessModes)
	}
	for _, name := range []string{"big", "too-small"} {
		if f.volume(name).Spec.ClaimRef != nil {
			t.Errorf("volume %s bound too", name)
		}
	}
	// Syncing again changes nothing.
	before := len(f.client.Actions())
	must(t, f.ctl.syncClaim(context.Background(), got))
	for _, a := range f.client.Actions()[before:] {
		if a.GetVerb() != "get" {
			t.Errorf("second sync wrote: %v", a)
		}
	}
}

func TestSyncClaimUserPreBinding(t *testing.T) {
	t.Run("a volume pre-bound by the user to the claim", func(t *testing.T) {
		claim := claimNamed("c1", "1Gi", nil)
		f := newFixture(t, claim,
			volumeNamed("exact", "1Gi", nil),
			volumeNamed("reserved", "5Gi", func(pv *corev1.PersistentVolume) {
				pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "c1"}
			}),
		)
		must(t, f.syncClaim("c1"))
		pv := f.volume("reserved")
		if pv.Spec.ClaimRef.UID != claim.UID || metav1.HasAnnotation(pv.ObjectMeta, storagehelpers.AnnBoundByController) {
			t.Errorf("reserved volume: claimRef %+v, annotations %v; want the claim's UID, no bound-by-controller", pv.Spec.ClaimRef, pv.Annotations)
		}
		if got := f.claim("c1"); got.Spec.VolumeName != "reserved" {
			t.Errorf("claim bound to %q, want reserved", got.Spec.VolumeName)
		}
	})
	t.Run("a claim naming a volume that does not fit", func(t *testing.T) {
		f := newFixture(t, claimNamed("c1", "5Gi", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "small" }),
			volumeNamed("small", "1Gi", nil))
		must(t, f.syncClaim("c1"))
		f.wantEvent(`Warning VolumeMismatch Cannot bind to requested volume "small": requested PV is too small`)
		if f.volume("small").Spec.ClaimRef != nil || f.claim("c1").Status.Phase != corev1.ClaimPending {
			t.Error("bound anyway")
		}
	})
	t.Run("a claim naming a volume that fits", func(t *testing.T) {
		f := newFixture(t, claimNamed("c1", "1Gi", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "big" }),
			volumeNamed("big", "10Gi", nil), volumeNamed("exact", "1Gi", nil))
		must(t, f.syncClaim("c1"))
		got := f.claim("c1")
		if got.Status.Phase != corev1.ClaimBound || f.volume("big").Spec.ClaimRef == nil || metav1.HasAnnotation(got.ObjectMeta, storagehelpers.AnnBoundByController) {
			t.Errorf("claim %q, annotations %v: want Bound to big, not marked bound by the controller", got.Status.Phase, got.Annotations)
		}
	})
	t.Run("a claim naming a volume that is another claim's", func(t *testing.T) {
		other := claimNamed("other", "1Gi", nil)
		f := newFixture(t, claimNamed("c1", "1Gi", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "taken" }),
			volumeNamed("taken", "1Gi", boundTo(other)))
		must(t, f.syncClaim("c1"))
		f.wantEvent(`Warning FailedBinding volume "taken" already bound to a different claim.`)
	})
}

func TestSyncClaimWithoutVolume(t *testing.T) {
	immediate, wffc := storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer
	tests := []struct {
		name            string
		claimClass      *string
		annotations     map[string]string
		class           *storagev1.StorageClass
		wantEvent       string
		wantProvisioner string
	}{
		{
			name:       "no class: nothing will come",
			claimClass: ptr.To(""),
			wantEvent:  "Normal FailedBinding no persistent volumes available for this claim and no storage class is set",
		},
		{
			name:       "a class that does not exist",
			claimClass: ptr.To("gold"),
			wantEvent:  `Warning ProvisioningFailed storageclass.storage.k8s.io "gold" not found`,
		},
		{
			name:            "an external provisioner, immediate",
			claimClass:      ptr.To("fast"),
			class:           class("fast", "rancher.io/local-path", immediate, nil),
			wantEvent:       "Normal ExternalProvisioning Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
			wantProvisioner: "rancher.io/local-path",
		},
		{
			name:       "wait for first consumer, no node chosen yet",
			claimClass: ptr.To("local-path"),
			class:      class("local-path", "rancher.io/local-path", wffc, nil),
			wantEvent:  "Normal WaitForFirstConsumer waiting for first consumer to be created before binding",
		},
		{
			name:            "wait for first consumer, node chosen",
			claimClass:      ptr.To("local-path"),
			annotations:     map[string]string{storagehelpers.AnnSelectedNode: "node-1"},
			class:           class("local-path", "rancher.io/local-path", wffc, nil),
			wantEvent:       "Normal ExternalProvisioning Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path'",
			wantProvisioner: "rancher.io/local-path",
		},
		{
			name:       "an in-tree provisioner Coracle does not have",
			claimClass: ptr.To("local"),
			class:      class("local", "kubernetes.io/no-provisioner", immediate, nil),
			wantEvent:  "Warning ProvisioningFailed no volume plugin matched name: kubernetes.io/no-provisioner",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{
				claimNamed("c1", "1Gi", func(pvc *corev1.PersistentVolumeClaim) {
					pvc.Spec.StorageClassName = tt.claimClass
					pvc.Annotations = tt.annotations
				}),
				// A volume that would fit but for its class.
				volumeNamed("other-class", "1Gi", withClass("other")),
			}
			if tt.class != nil {
				objs = append(objs, tt.class)
			}
			f := newFixture(t, objs...)
			must(t, f.syncClaim("c1"))
			f.wantEvent(tt.wantEvent)
			got := f.claim("c1")
			if got.Annotations[storagehelpers.AnnStorageProvisioner] != tt.wantProvisioner || got.Annotations[storagehelpers.AnnBetaStorageProvisioner] != tt.wantProvisioner {
				t.Errorf("claim annotations %v, want storage provisioner %q (and beta)", got.Annotations, tt.wantProvisioner)
			}
			if got.Status.Phase != corev1.ClaimPending || got.Spec.VolumeName != "" || f.volume("other-class").Spec.ClaimRef != nil {
				t.Errorf("claim %q bound to %q, want Pending and unbound", got.Status.Phase, got.Spec.VolumeName)
			}
		})
	}
}

func TestSyncClaimAssignsTheDefaultClass(t *testing.T) {
	old := metav1.NewTime(metav1.Now().Add(-3600e9))
	def := func(name string, created metav1.Time) *storagev1.StorageClass {
		return class(name, "rancher.io/local-path", storagev1.VolumeBindingWaitForFirstConsumer, func(sc *storagev1.StorageClass) {
			sc.Annotations = map[string]string{annDefaultClass: "true"}
			sc.CreationTimestamp = created
		})
	}
	f := newFixture(t,
		claimNamed("no-class", "1Gi", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.StorageClassName = nil }),
		claimNamed("empty-class", "1Gi", nil),
		def("older-default", old), def("newest-default", metav1.Now()),
		class("not-default", "x.io/y", storagev1.VolumeBindingImmediate, nil),
	)
	must(t, f.syncClaim("no-class"))
	must(t, f.syncClaim("empty-class"))
	if got := f.claim("no-class").Spec.StorageClassName; got == nil || *got != "newest-default" {
		t.Errorf("claim with no class got class %v, want the newest default", got)
	}
	if got := f.claim("empty-class").Spec.StorageClassName; got == nil || *got != "" {
		t.Errorf(`claim asking for class "" got %v`, got)
	}
}

func TestSyncBoundClaim(t *testing.T) {
	t.Run("its volume is gone", func(t *testing.T) {
		f := newFixture(t, claimNamed("c1", "1Gi", func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.VolumeName = "gone"
			pvc.Annotations = map[string]string{storagehelpers.AnnBindCompleted: "yes"}
			pvc.Status.Phase = corev1.ClaimBound
		}))
		must(t, f.syncClaim("c1"))
		f.wantEvent("Warning ClaimLost Bound claim has lost its PersistentVolume. Data on the volume is lost!")
		if got := f.claim("c1"); got.Status.Phase != corev1.ClaimLost {
			t.Errorf("phase %q, want Lost", got.Status.Phase)
		}
	})
	t.Run("its volume is another claim's", func(t *testing.T) {
		other := claimNamed("other", "1Gi", nil)
		f := newFixture(t, claimNamed("c1", "1Gi", func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.VolumeName = "pv"
			pvc.Annotations = map[string]string{storagehelpers.AnnBindCompleted: "yes"}
			pvc.Status.Phase = corev1.ClaimBound
		}), volumeNamed("pv", "1Gi", boundTo(other)))
		must(t, f.syncClaim("c1"))
		f.wantEvent("Warning ClaimMisbound Two claims are bound to the same volume, this one is bound incorrectly")
	})
	t.Run("its volume lost the claimRef: bound again", func(t *testing.T) {
		claim := claimNamed("c1", "1Gi", func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.VolumeName = "pv"
			pvc.Annotations = map[string]string{storagehelpers.AnnBindCompleted: "yes", storagehelpers.AnnBoundByController: "yes"}
			pvc.Status.Phase = corev1.ClaimBound
		})
		f := newFixture(t, claim, volumeNamed("pv", "1Gi", nil))
		must(t, f.syncClaim("c1"))
		if pv := f.volume("pv"); pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID || pv.Status.Phase != corev1.VolumeBound {
			t.Errorf("volume %+v %q, want bound to the claim again", pv.Spec.ClaimRef, pv.Status.Phase)
		}
	})
}

func TestSyncVolumeReleased(t *testing.T) {
	deleted := claimNamed("deleted", "1Gi", nil) // never stored: it is gone
	tests := []struct {
		name      string
		policy    corev1.PersistentVolumeReclaimPolicy
		mod       func(*corev1.PersistentVolume)
		wantPhase corev1.PersistentVolumePhase
		wantEvent string
	}{
		{name: "retain", policy: corev1.PersistentVolumeReclaimRetain, wantPhase: corev1.VolumeReleased},
		{
			name: "delete, provisioned by an external provisioner: left to it", policy: corev1.PersistentVolumeReclaimDelete,
			mod: func(pv *corev1.PersistentVolume) {
				metav1.SetMetaDataAnnotation(&pv.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned, "rancher.io/local-path")
			},
			wantPhase: corev1.VolumeReleased,
		},
		{
			name: "delete, a CSI volume: left to its driver", policy: corev1.PersistentVolumeReclaimDelete,
			mod: func(pv *corev1.PersistentVolume) {
				pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "d", VolumeHandle: "h"}}
			},
			wantPhase: corev1.VolumeReleased,
		},
		{
			name: "delete, static: no plugin deletes it", policy: corev1.PersistentVolumeReclaimDelete,
			wantPhase: corev1.VolumeFailed,
			wantEvent: `Warning VolumeFailedDelete error getting deleter volume plugin for volume "pv": no volume plugin matched`,
		},
		{
			name: "delete, provisioned by an in-tree plugin Coracle does not have", policy: corev1.PersistentVolumeReclaimDelete,
			mod: func(pv *corev1.PersistentVolume) {
				metav1.SetMetaDataAnnotation(&pv.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned, "kubernetes.io/gce-pd")
			},
			wantPhase: corev1.VolumeFailed,
			wantEvent: "Warning VolumeFailedDelete no volume plugin matched name: kubernetes.io/gce-pd",
		},
		{
			name: "recycle: no recycler", policy: corev1.PersistentVolumeReclaimRecycle,
			wantPhase: corev1.VolumeFailed,
			wantEvent: "Warning VolumeFailedRecycle No recycler plugin found for the volume!",
		},
		{
			name: "an unknown policy", policy: "Shred",
			wantPhase: corev1.VolumeFailed,
			wantEvent: "Warning VolumeUnknownReclaimPolicy Volume has unrecognized PersistentVolumeReclaimPolicy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, volumeNamed("pv", "1Gi", func(pv *corev1.PersistentVolume) {
				boundTo(deleted)(pv)
				pv.Spec.PersistentVolumeReclaimPolicy = tt.policy
				if tt.mod != nil {
					tt.mod(pv)
				}
			}))
			must(t, f.syncVolume("pv"))
			pv := f.volume("pv")
			if pv.Status.Phase != tt.wantPhase {
				t.Errorf("phase %q, want %q", pv.Status.Phase, tt.wantPhase)
			}
			if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != deleted.UID {
				t.Errorf("claimRef %+v: a released volume keeps it", pv.Spec.ClaimRef)
			}
			if tt.wantEvent != "" {
				f.wantEvent(tt.wantEvent)
			} else if ev := f.events(); len(ev) > 0 {
				t.Errorf("events %q, want none", ev)
			}
			// Later syncs keep the phase: Released and Failed are not
			// turned back.
			must(t, f.syncVolume("pv"))
			if got := f.volume("pv").Status.Phase; got != tt.wantPhase {
				t.Errorf("after a resync: phase %q, want %q", got, tt.wantPhase)
			}
		})
	}
}

func TestSyncVolume(t *testing.T) {
	claim := claimNamed("c1", "1Gi", nil)
	t.Run("unused volume becomes Available", func(t *testing.T) {
		f := newFixture(t, volumeNamed("pv", "1Gi", func(pv *corev1.PersistentVolume) { pv.Status.Phase = corev1.VolumePending }))
		must(t, f.syncVolume("pv"))
		if got := f.volume("pv").Status.Phase; got != corev1.VolumeAvailable {
			t.Errorf("phase %q, want Available", got)
		}
	})
	t.Run("a claim of the same name but another UID: released", func(t *testing.T) {
		newer := claimNamed("c1", "1Gi", func(pvc *corev1.PersistentVolumeClaim) { pvc.UID = "newer" })
		f := newFixture(t, newer, volumeNamed("pv", "1Gi", boundTo(claim)))
		must(t, f.syncVolume("pv"))
		if got := f.volume("pv").Status.Phase; got != corev1.VolumeReleased {
			t.Errorf("phase %q, want Released", got)
		}
	})
	t.Run("bound by the controller to a claim bound elsewhere: unbound", func(t *testing.T) {
		elsewhere := claim.DeepCopy()
		elsewhere.Spec.VolumeName = "other"
		f := newFixture(t, elsewhere, volumeNamed("pv", "1Gi", boundTo(claim)))
		must(t, f.syncVolume("pv"))
		pv := f.volume("pv")
		if pv.Spec.ClaimRef != nil || pv.Status.Phase != corev1.VolumeAvailable || metav1.HasAnnotation(pv.ObjectMeta, storagehelpers.AnnBoundByController) {
			t.Errorf("volume %+v %q %v, want unbound and Available", pv.Spec.ClaimRef, pv.Status.Phase, pv.Annotations)
		}
	})
	t.Run("pre-bound by the user to a claim bound elsewhere: stays reserved", func(t *testing.T) {
		elsewhere := claim.DeepCopy()
		elsewhere.Spec.VolumeName = "other"
		f := newFixture(t, elsewhere, volumeNamed("pv", "1Gi", func(pv *corev1.PersistentVolume) {
			boundTo(claim)(pv)
			delete(pv.Annotations, storagehelpers.AnnBoundByController)
		}))
		must(t, f.syncVolume("pv"))
		pv := f.volume("pv")
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "c1" || pv.Spec.ClaimRef.UID != "" || pv.Status.Phase != corev1.VolumeAvailable {
			t.Errorf("volume %+v %q, want reserved for ns/c1 without a UID, Available", pv.Spec.ClaimRef, pv.Status.Phase)
		}
	})
	t.Run("provisioned for a claim: the claim binds to it", func(t *testing.T) {
		f := newFixture(t, claim, volumeNamed("smaller", "1Gi", nil), volumeNamed("pv", "2Gi", func(pv *corev1.PersistentVolume) {
			boundTo(claim)(pv)
			metav1.SetMetaDataAnnotation(&pv.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned, "rancher.io/local-path")
		}))
		must(t, f.syncVolume("pv"))
		if got := f.volume("pv").Status.Phase; got != corev1.VolumeBound {
			t.Errorf("phase %q, want Bound while the claim catches up", got)
		}
		must(t, f.syncClaim("c1"))
		if got := f.claim("c1"); got.Spec.VolumeName != "pv" || got.Status.Phase != corev1.ClaimBound {
			t.Errorf("claim bound to %q, %q; want the provisioned volume", got.Spec.VolumeName, got.Status.Phase)
		}
	})
}
