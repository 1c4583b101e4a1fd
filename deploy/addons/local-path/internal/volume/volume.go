// Package volume holds the provisioner's decisions, as pure functions of
// API objects: which claims it provisions and when, what is wrong with a
// claim it cannot serve, which node an Immediate claim goes to, the
// PersistentVolume it creates (named and laid out as the external
// provisioner library and k3s's local-path-provisioner do), which volumes
// it deletes, and the claim status of an expansion (as external-resizer
// writes it for a volume that needs no node expansion).
package volume

import (
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// ProvisionerName is the provisioner of the StorageClasses it serves, as
// k3s ships it.
const ProvisionerName = "rancher.io/local-path"

// Annotations besides Kubernetes' own (storagehelpers.Ann*).
const (
	// AnnNodeName on a PV names the node its directory is on (k3s's).
	AnnNodeName = "local.path.provisioner/selected-node"
	// AnnNodeExpansionNotRequired on a claim tells the kubelet an
	// expansion is complete without it (external-resizer's).
	AnnNodeExpansionNotRequired = "volume.kubernetes.io/node-expansion-not-required"
)

// NodeAffinityKey is the node label a volume's node affinity selects.
const NodeAffinityKey = v1.LabelHostname

// Name is the PersistentVolume provisioned for claim: deterministic, so
// a provisioner that restarts half-way finds what it began.
func Name(claim *v1.PersistentVolumeClaim) string { return "pvc-" + string(claim.UID) }

// Path is the volume's directory under root: <root>/<pv>_<namespace>_<claim>,
// k3s's layout, which tells an administrator whose data a directory holds.
func Path(root string, claim *v1.PersistentVolumeClaim) string {
	return filepath.Join(root, strings.Join([]string{Name(claim), claim.Namespace, claim.Name}, "_"))
}

// Wanted says whether claim asks provisioner for a volume now, as the
// external provisioner library's shouldProvision does: the PV controller
// named provisioner in the storage-provisioner annotation, the claim is
// not bound yet, its class is provisioner's, and, for a class that waits
// for the first consumer, the scheduler has chosen a node. class is the
// claim's StorageClass, nil if it does not exist.
func Wanted(claim *v1.PersistentVolumeClaim, class *storagev1.StorageClass, provisioner string) bool {
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil {
		return false
	}
	p, ok := claim.Annotations[storagehelpers.AnnStorageProvisioner]
	if !ok {
		p, ok = claim.Annotations[storagehelpers.AnnBetaStorageProvisioner]
	}
	if !ok || p != provisioner || class == nil || class.Provisioner != provisioner {
		return false
	}
	if WaitsForConsumer(class) {
		return claim.Annotations[storagehelpers.AnnSelectedNode] != ""
	}
	return true
}

// WaitsForConsumer reports whether class binds only once a pod is
// scheduled (volumeBindingMode WaitForFirstConsumer).
func WaitsForConsumer(class *storagev1.StorageClass) bool {
	return class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// CheckMode is the library's own check, before anything else: a
// directory is no block device.
func CheckMode(claim *v1.PersistentVolumeClaim, provisioner string) error {
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == v1.PersistentVolumeBlock {
		return fmt.Errorf("%s does not support block volume provisioning", provisioner)
	}
	return nil
}

// Check says why a directory cannot serve claim, if it cannot, as k3s's
// provisioner refuses: a selector over existing volumes, a data source to
// copy, or ReadWriteMany (a directory is on one node). Retrying does not
// help until the claim changes.
func Check(claim *v1.PersistentVolumeClaim) error {
	if claim.Spec.Selector != nil {
		return errors.New("claim.Spec.Selector is not supported")
	}
	if claim.Spec.DataSource != nil || claim.Spec.DataSourceRef != nil {
		return errors.New("claim.Spec.DataSource is not supported")
	}
	for _, m := range claim.Spec.AccessModes {
		if m != v1.ReadWriteOnce && m != v1.ReadOnlyMany && m != v1.ReadWriteOncePod {
			return errors.New("NodePath only supports ReadWriteOnce, ReadOnlyMany and ReadWriteOncePod access modes")
		}
	}
	if _, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]; !ok {
		return errors.New("claim requests no storage")
	}
	return nil
}

// PickNode chooses the node of a claim no scheduler placed (an Immediate
// class). k3s's provisioner refuses such claims ("no node was
// specified"); here, so that Immediate works as the issue asks, the
// provisioner picks as a scheduler would for a pod with no constraints:
// among the nodes that are Ready, schedulable, without NoSchedule or
// NoExecute taints, and allowed by the class's allowedTopologies, the
// one holding the fewest volumes of this provisioner (used), ties broken
// by a hash of key (the claim's UID) so that a retry picks the same.
func PickNode(nodes []*v1.Node, class *storagev1.StorageClass, used map[string]int, key string) (string, error) {
	var fit []*v1.Node
	for _, n := range nodes {
		if schedulable(n) && AllowedByTopology(n, class.AllowedTopologies) {
			fit = append(fit, n)
		}
	}
	if len(fit) == 0 {
		if len(class.AllowedTopologies) > 0 {
			return "", fmt.Errorf("no Ready, schedulable node matches the allowedTopologies of storage class %q", class.Name)
		}
		return "", errors.New("no Ready, schedulable node to provision on")
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	salt := h.Sum32()
	rank := func(n *v1.Node) uint32 {
		g := fnv.New32a()
		g.Write([]byte(n.Name))
		return g.Sum32() ^ salt
	}
	best := slices.MinFunc(fit, func(a, b *v1.Node) int {
		if d := used[a.Name] - used[b.Name]; d != 0 {
			return d
		}
		if ra, rb := rank(a), rank(b); ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return best.Name, nil
}

func schedulable(n *v1.Node) bool {
	if n.Spec.Unschedulable || n.DeletionTimestamp != nil {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// AllowedByTopology reports whether node is in one of terms (a class's
// allowedTopologies); no terms allow every node. A term's expressions
// must all match: the node's label is one of the values.
func AllowedByTopology(node *v1.Node, terms []v1.TopologySelectorTerm) bool {
	if len(terms) == 0 {
		return true
	}
	for _, term := range terms {
		ok := true
		for _, e := range term.MatchLabelExpressions {
			v, has := node.Labels[e.Key]
			if !has || !slices.Contains(e.Values, v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Build is the PersistentVolume of claim in class, a directory at path on
// node: hostPath DirectoryOrCreate, the claim's size and access modes,
// node affinity to the node, bound ahead to the claim (claimRef, which
// the PV controller completes), the class's reclaim policy (Delete when
// unset, as Kubernetes defaults classes) and mount options, and the
// annotations that say who made it and where.
func Build(claim *v1.PersistentVolumeClaim, claimRef *v1.ObjectReference, class *storagev1.StorageClass, node *v1.Node, path, provisioner string) *v1.PersistentVolume {
	reclaim := v1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	// k3s selects the node by its label's value, which is the node's
	// name unless the kubelet was told another hostname.
	hostname, ok := node.Labels[NodeAffinityKey]
	if !ok {
		hostname = node.Name
	}
	fs := v1.PersistentVolumeFilesystem
	dirOrCreate := v1.HostPathDirectoryOrCreate
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name: Name(claim),
			Annotations: map[string]string{
				storagehelpers.AnnDynamicallyProvisioned: provisioner,
				AnnNodeName:                              node.Name,
			},
		},
		Spec: v1.PersistentVolumeSpec{
			Capacity:    v1.ResourceList{v1.ResourceStorage: claim.Spec.Resources.Requests[v1.ResourceStorage]},
			AccessModes: slices.Clone(claim.Spec.AccessModes),
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: path, Type: &dirOrCreate},
			},
			ClaimRef:                      claimRef,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              storagehelpers.GetPersistentVolumeClaimClass(claim),
			MountOptions:                  slices.Clone(class.MountOptions),
			VolumeMode:                    &fs,
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{
					Key: NodeAffinityKey, Operator: v1.NodeSelectorOpIn, Values: []string{hostname},
				}}}},
			}},
		},
	}
}

// Ours reports whether provisioner made pv.
func Ours(pv *v1.PersistentVolume, provisioner string) bool {
	return pv.Annotations[storagehelpers.AnnDynamicallyProvisioned] == provisioner
}

// ShouldDelete reports whether pv's directory is to be removed and pv
// deleted, as the library decides: provisioner made it, its claim is gone
// (Released), its reclaim policy is Delete and nobody is deleting it yet.
func ShouldDelete(pv *v1.PersistentVolume, provisioner string) bool {
	return Ours(pv, provisioner) && pv.DeletionTimestamp == nil &&
		pv.Status.Phase == v1.VolumeReleased &&
		pv.Spec.PersistentVolumeReclaimPolicy == v1.PersistentVolumeReclaimDelete
}

// OwnsPath reports whether path is a directory the provisioner makes for
// pv (its base name begins with the volume's name and "_", as Path makes
// it): a guard against removing a directory an edited PersistentVolume
// points at.
func OwnsPath(pv *v1.PersistentVolume, path string) bool {
	return filepath.IsAbs(path) && filepath.Clean(path) == path && strings.HasPrefix(filepath.Base(path), pv.Name+"_")
}

// Location is where pv's directory is: its path, and its node from the
// provisioner's annotation or, as k3s reads it, the one value of the
// node affinity's In expression.
func Location(pv *v1.PersistentVolume) (node, path string, err error) {
	src := pv.Spec.PersistentVolumeSource
	switch {
	case src.HostPath != nil && src.Local == nil:
		path = src.HostPath.Path
	case src.Local != nil && src.HostPath == nil:
		path = src.Local.Path
	default:
		return "", "", errors.New("no path set")
	}
	if node = pv.Annotations[AnnNodeName]; node != "" {
		return node, path, nil
	}
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return "", "", errors.New("no NodeAffinity set")
	}
	for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Operator != v1.NodeSelectorOpIn {
				continue
			}
			if len(e.Values) != 1 {
				return "", "", errors.New("multiple values for the node affinity")
			}
			return e.Values[0], path, nil
		}
	}
	return "", "", errors.New("cannot find affinited node")
}

// ResizeTarget is the size claim's volume pv is to grow to, and whether
// it is to grow: the claim is bound to pv (which provisioner made), its
// class allows expansion, and it requests more than its status says it
// has. class may be nil (deleted): then nothing grows.
func ResizeTarget(claim *v1.PersistentVolumeClaim, pv *v1.PersistentVolume, class *storagev1.StorageClass, provisioner string) (resource.Quantity, bool) {
	if class == nil || class.AllowVolumeExpansion == nil || !*class.AllowVolumeExpansion || !Ours(pv, provisioner) {
		return resource.Quantity{}, false
	}
	if claim.Status.Phase != v1.ClaimBound || claim.Spec.VolumeName != pv.Name ||
		pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID {
		return resource.Quantity{}, false
	}
	want, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		return resource.Quantity{}, false
	}
	have := claim.Status.Capacity[v1.ResourceStorage]
	if want.Cmp(have) <= 0 {
		return resource.Quantity{}, false
	}
	return want, true
}

// resizeConditions are the claim conditions an expansion owns
// (external-resizer's knownResizeConditions).
var resizeConditions = []v1.PersistentVolumeClaimConditionType{
	v1.PersistentVolumeClaimResizing,
	v1.PersistentVolumeClaimFileSystemResizePending,
	v1.PersistentVolumeClaimControllerResizeError,
	v1.PersistentVolumeClaimNodeResizeError,
}

// ResizeStarted is claim's status while its volume grows to size, as
// external-resizer marks it: condition Resizing, the size allocated, the
// resize status ControllerResizeInProgress. It returns a copy.
func ResizeStarted(claim *v1.PersistentVolumeClaim, size resource.Quantity, now metav1.Time) *v1.PersistentVolumeClaim {
	c := claim.DeepCopy()
	var conds []v1.PersistentVolumeClaimCondition
	for _, cond := range c.Status.Conditions {
		if !slices.Contains(resizeConditions, cond.Type) {
			conds = append(conds, cond)
		}
	}
	c.Status.Conditions = append(conds, v1.PersistentVolumeClaimCondition{
		Type: v1.PersistentVolumeClaimResizing, Status: v1.ConditionTrue, LastTransitionTime: now,
	})
	if c.Status.AllocatedResources == nil {
		c.Status.AllocatedResources = v1.ResourceList{}
	}
	c.Status.AllocatedResources[v1.ResourceStorage] = size
	if c.Status.AllocatedResourceStatuses == nil {
		c.Status.AllocatedResourceStatuses = map[v1.ResourceName]v1.ClaimResourceStatus{}
	}
	c.Status.AllocatedResourceStatuses[v1.ResourceStorage] = v1.PersistentVolumeClaimControllerResizeInProgress
	delete(c.Annotations, AnnNodeExpansionNotRequired)
	return c
}

// ResizeFinished is claim's status once its volume has size, as
// external-resizer leaves it when no node expansion is needed: the new
// capacity, no resize conditions or resize status, and the annotation
// that keeps the kubelet from expanding again. It returns a copy.
func ResizeFinished(claim *v1.PersistentVolumeClaim, size resource.Quantity) *v1.PersistentVolumeClaim {
	c := claim.DeepCopy()
	if c.Status.Capacity == nil {
		c.Status.Capacity = v1.ResourceList{}
	}
	c.Status.Capacity[v1.ResourceStorage] = size
	var conds []v1.PersistentVolumeClaimCondition
	for _, cond := range c.Status.Conditions {
		if !slices.Contains(resizeConditions, cond.Type) {
			conds = append(conds, cond)
		}
	}
	c.Status.Conditions = conds
	delete(c.Status.AllocatedResourceStatuses, v1.ResourceStorage)
	if len(c.Status.AllocatedResourceStatuses) == 0 {
		c.Status.AllocatedResourceStatuses = nil
	}
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[AnnNodeExpansionNotRequired] = "true"
	return c
}
