package volumebinding

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
)

// The classes of Kubernetes' tests: waitClass binds on first consumer
// and cannot provision (static volumes only); waitClassWithProvisioner
// can; topoMismatchClass can only on nodes no test node is in.
const (
	immediateClass           = "immediateClass"
	waitClass                = "waitClass"
	waitClassWithProvisioner = "waitClassWithProvisioner"
	topoMismatchClass        = "topoMismatchClass"
	provisioner              = "test-provisioner"
	nodeLabelKey             = "nodeKey"
)

func makeClass(name string, mode storagev1.VolumeBindingMode, prov string, topo ...v1.TopologySelectorTerm) *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Provisioner:       prov,
		VolumeBindingMode: &mode,
		AllowedTopologies: topo,
	}
}

func topologyTerm(key string, values ...string) v1.TopologySelectorTerm {
	return v1.TopologySelectorTerm{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: key, Values: values}}}
}

// testClasses are the classes every test cluster has.
func testClasses() []runtime.Object {
	return []runtime.Object{
		makeClass(immediateClass, storagev1.VolumeBindingImmediate, provisioner),
		makeClass(waitClass, storagev1.VolumeBindingWaitForFirstConsumer, volume.NotSupportedProvisioner),
		makeClass(waitClassWithProvisioner, storagev1.VolumeBindingWaitForFirstConsumer, provisioner,
			topologyTerm(nodeLabelKey, "node1", "node2")),
		makeClass(topoMismatchClass, storagev1.VolumeBindingWaitForFirstConsumer, provisioner,
			topologyTerm(nodeLabelKey, "node-elsewhere")),
	}
}

func makeNode(name string, labels ...string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name, nodeLabelKey: name}}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

type pvcWrapper struct{ *v1.PersistentVolumeClaim }

// makePVC is a Pending claim in namespace testns asking for size of class.
func makePVC(name, size, class string) pvcWrapper {
	return pvcWrapper{&v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "testns", UID: types.UID("pvc-uid-" + name), ResourceVersion: "1"},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}},
			StorageClassName: &class,
		},
		Status: v1.PersistentVolumeClaimStatus{Phase: v1.ClaimPending},
	}}
}

// bound: the PV controller has bound the claim to pv.
func (w pvcWrapper) bound(pv string) pvcWrapper {
	w.Spec.VolumeName = pv
	metav1.SetMetaDataAnnotation(&w.ObjectMeta, volume.AnnBindCompleted, "yes")
	w.Status.Phase = v1.ClaimBound
	return w
}

// prebound: the user named the volume; the PV controller has not bound it.
func (w pvcWrapper) prebound(pv string) pvcWrapper { w.Spec.VolumeName = pv; return w }

func (w pvcWrapper) selectedNode(node string) pvcWrapper {
	metav1.SetMetaDataAnnotation(&w.ObjectMeta, volume.AnnSelectedNode, node)
	return w
}

func (w pvcWrapper) phase(p v1.PersistentVolumeClaimPhase) pvcWrapper { w.Status.Phase = p; return w }

func (w pvcWrapper) deleting() pvcWrapper {
	now := metav1.Now()
	w.DeletionTimestamp = &now
	return w
}

func (w pvcWrapper) version(rv string) pvcWrapper { w.ResourceVersion = rv; return w }

type pvWrapper struct{ *v1.PersistentVolume }

// makePV is an Available local volume of class and size; node, when set,
// is the only node its nodeAffinity admits.
func makePV(name, node, size, class string) pvWrapper {
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/mnt/" + name}},
		},
		Status: v1.PersistentVolumeStatus{Phase: v1.VolumeAvailable},
	}
	if node != "" {
		pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: nodeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
		}}}}
	}
	return pvWrapper{pv}
}

// boundTo: the volume's claimRef names pvc and it is Bound.
func (w pvWrapper) boundTo(pvc *v1.PersistentVolumeClaim) pvWrapper {
	w.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID}
	w.Status.Phase = v1.VolumeBound
	return w
}

func (w pvWrapper) version(rv string) pvWrapper { w.ResourceVersion = rv; return w }

// makePod is a pod in testns with a volume per claim.
func makePod(name string, claims ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "testns", UID: types.UID(name)}}
	for i, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{
			Name:         "vol" + string(rune('a'+i)),
			VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}},
		})
	}
	return p
}

// withEphemeral adds a generic ephemeral volume, whose claim is named
// <pod>-<volume>.
func withEphemeral(p *v1.Pod, volumeName string) *v1.Pod {
	p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{
		Name:         volumeName,
		VolumeSource: v1.VolumeSource{Ephemeral: &v1.EphemeralVolumeSource{}},
	})
	return p
}

// ephemeralPVC is the claim of pod's generic ephemeral volume, owned by
// the pod or not.
func ephemeralPVC(pod *v1.Pod, volumeName string, owned bool) *v1.PersistentVolumeClaim {
	pvc := makePVC(pod.Name+"-"+volumeName, "1G", waitClass).bound("pv-ephemeral").PersistentVolumeClaim
	if owned {
		pvc.OwnerReferences = []metav1.OwnerReference{{Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptr.To(true)}}
	}
	return pvc
}

// env is a plugin over a fake client and informer stores filled directly
// (the informers are not run: the tests decide what the scheduler sees).
type env struct {
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	pl      *VolumeBinding
	nodes   []*framework.NodeInfo
}

func newEnv(t *testing.T, args Args, nodes []*v1.Node, objs ...runtime.Object) *env {
	t.Helper()
	objs = append(objs, testClasses()...)
	for _, n := range nodes {
		objs = append(objs, n)
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	fwk, err := framework.New(framework.NewRegistry(), framework.Options{
		Snapshot: cache.NewSnapshot(nil, nodes), Client: client, InformerFactory: factory,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewWithArgs(args)(fwk)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{client: client, factory: factory, pl: p.(*VolumeBinding), nodes: fwk.SnapshotSharedLister().List()}
	for _, o := range objs {
		e.store(t, o)
	}
	return e
}

// store puts o in its informer's store, as if the informer had seen it.
func (e *env) store(t *testing.T, o runtime.Object) {
	t.Helper()
	var err error
	switch o := o.(type) {
	case *v1.PersistentVolumeClaim:
		err = e.factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(o)
	case *v1.PersistentVolume:
		err = e.factory.Core().V1().PersistentVolumes().Informer().GetIndexer().Update(o)
	case *storagev1.StorageClass:
		err = e.factory.Storage().V1().StorageClasses().Informer().GetIndexer().Update(o)
	case *v1.Node:
		err = e.factory.Core().V1().Nodes().Informer().GetIndexer().Update(o)
	case *v1.Pod:
		err = e.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
	default:
		t.Fatalf("store: unexpected %T", o)
	}
	if err != nil {
		t.Fatal(err)
	}
}
