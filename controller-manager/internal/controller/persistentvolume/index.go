package persistentvolume

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// accessModesIndex names the index of volumes by their set of access
// modes.
const accessModesIndex = "accessmodes"

// volumeIndex holds the controller's last known version of every volume,
// indexed by its set of access modes, as Kubernetes' ordered index does:
// a claim is matched against the volumes of the smallest sets of modes
// that hold all it asks for first, so that it gets the volume closest to
// what it asked for (a ReadWriteOnce claim takes a ReadWriteOnce volume
// before a ReadWriteMany one of the same size).
type volumeIndex struct {
	store cache.Indexer
}

func newVolumeIndex() volumeIndex {
	return volumeIndex{store: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{accessModesIndex: indexAccessModes})}
}

func indexAccessModes(obj any) ([]string, error) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil, fmt.Errorf("object is not a persistent volume: %T", obj)
	}
	return []string{accessModesString(pv.Spec.AccessModes)}, nil
}

// modeAbbreviations are the access modes in Kubernetes' order, with the
// short names kubectl prints.
var modeAbbreviations = []struct {
	mode  corev1.PersistentVolumeAccessMode
	short string
}{
	{corev1.ReadWriteOnce, "RWO"},
	{corev1.ReadOnlyMany, "ROX"},
	{corev1.ReadWriteMany, "RWX"},
	{corev1.ReadWriteOncePod, "RWOP"},
}

// accessModesString is the set of modes as one string, in a fixed order
// and without duplicates, so that equal sets index alike.
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range modeAbbreviations {
		if slices.Contains(modes, m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

func accessModesFromString(s string) []corev1.PersistentVolumeAccessMode {
	var out []corev1.PersistentVolumeAccessMode
	for _, part := range strings.Split(s, ",") {
		for _, m := range modeAbbreviations {
			if part == m.short {
				out = append(out, m.mode)
			}
		}
	}
	return out
}

// matchingModeSets returns the indexed sets of access modes that hold
// every mode requested, fewest modes first (and, among sets of one size,
// in a fixed order, so matching is deterministic).
func (x volumeIndex) matchingModeSets(requested []corev1.PersistentVolumeAccessMode) []string {
	var sets []string
	for _, key := range x.store.ListIndexFuncValues(accessModesIndex) {
		indexed := accessModesFromString(key)
		if containsAll(indexed, requested) {
			sets = append(sets, key)
		}
	}
	slices.SortFunc(sets, func(a, b string) int {
		if c := cmp.Compare(len(accessModesFromString(a)), len(accessModesFromString(b))); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return sets
}

func containsAll(have, want []corev1.PersistentVolumeAccessMode) bool {
	for _, m := range want {
		if !slices.Contains(have, m) {
			return false
		}
	}
	return true
}

// listByModes returns the volumes whose set of access modes is key,
// sorted by name: FindMatchingVolume keeps the first of equally small
// volumes, so a fixed order makes the choice the same on every run.
func (x volumeIndex) listByModes(key string) ([]*corev1.PersistentVolume, error) {
	objs, err := x.store.ByIndex(accessModesIndex, key)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.PersistentVolume, 0, len(objs))
	for _, obj := range objs {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			out = append(out, pv)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.PersistentVolume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// findBestMatch returns the volume claim should bind to, or nil: a
// volume pre-bound to the claim if there is one, otherwise the smallest
// Available volume that satisfies its class, size, access modes, volume
// mode, volume attributes class and selector, searched in the sets of
// access modes closest to the claim's first. With delayBinding (the
// claim's class is WaitForFirstConsumer) only a volume pre-bound to the
// claim is returned: the scheduler picks the others, for the node the
// pod goes to. The matching itself is Kubernetes' own
// (component-helpers' FindMatchingVolume, shared with the scheduler).
func (x volumeIndex) findBestMatch(claim *corev1.PersistentVolumeClaim, delayBinding bool) (*corev1.PersistentVolume, error) {
	for _, key := range x.matchingModeSets(claim.Spec.AccessModes) {
		volumes, err := x.listByModes(key)
		if err != nil {
			return nil, err
		}
		best, err := storagehelpers.FindMatchingVolume(claim, volumes, nil, nil, delayBinding, true)
		if err != nil {
			return nil, err
		}
		if best != nil {
			return best, nil
		}
	}
	return nil, nil
}

// get returns the cached volume named name.
func (x volumeIndex) get(name string) (*corev1.PersistentVolume, bool, error) {
	obj, ok, err := x.store.GetByKey(name)
	if err != nil || !ok {
		return nil, false, err
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil, false, fmt.Errorf("volume cache holds a %T under %q", obj, name)
	}
	return pv, true, nil
}
