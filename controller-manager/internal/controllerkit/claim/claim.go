// Package claim decides which objects (pods, ReplicaSets) a controller
// object owns, as Kubernetes' ControllerRefManager does: it adopts
// orphans its selector matches, releases the objects it controls that the
// selector no longer matches, and leaves alone what another controller
// owns. Adoption and release are strategic merge patches of
// metadata.ownerReferences guarded by the object's UID.
package claim

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// PatchFunc sends a strategic merge patch to the object namespace/name.
type PatchFunc func(ctx context.Context, namespace, name string, patch []byte) error

// PodPatcher is the PatchFunc of pods.
func PodPatcher(client kubernetes.Interface) PatchFunc {
	return func(ctx context.Context, namespace, name string, patch []byte) error {
		_, err := client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
}

// Manager claims objects for one controller object.
type Manager struct {
	owner    metav1.Object
	kind     schema.GroupVersionKind
	selector labels.Selector
	patch    PatchFunc
	// recheck fetches the owner afresh before the first adoption.
	recheck func(ctx context.Context) (metav1.Object, error)

	once     sync.Once
	adoptErr error
}

// NewManager returns a manager for owner, of kind kind, selecting with
// selector. recheck must read the owner from the apiserver, not a cache:
// an owner being deleted must not adopt.
func NewManager(owner metav1.Object, kind schema.GroupVersionKind, selector labels.Selector, patch PatchFunc, recheck func(ctx context.Context) (metav1.Object, error)) *Manager {
	return &Manager{owner: owner, kind: kind, selector: selector, patch: patch, recheck: recheck}
}

// Decision is what Claim does with one object.
type Decision int

// Decisions.
const (
	Ignore  Decision = iota // not ours, and not to be adopted
	Keep                    // ours already
	Adopt                   // an orphan to adopt
	Release                 // ours, no longer selected
)

// Decide is the pure part of claiming: what to do with obj.
func Decide(owner, obj metav1.Object, selector labels.Selector) Decision {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref != nil {
		if ref.UID != owner.GetUID() {
			return Ignore
		}
		if selector.Matches(labels.Set(obj.GetLabels())) {
			return Keep
		}
		if owner.GetDeletionTimestamp() != nil {
			// Being deleted: let the garbage collector see what is ours.
			return Keep
		}
		return Release
	}
	if owner.GetDeletionTimestamp() != nil || obj.GetDeletionTimestamp() != nil {
		return Ignore
	}
	if obj.GetNamespace() != owner.GetNamespace() || !selector.Matches(labels.Set(obj.GetLabels())) {
		return Ignore
	}
	return Adopt
}

// Claim returns the objects of objs the owner owns after adopting and
// releasing. It returns the claimed ones and the first error.
func Claim[T metav1.Object](ctx context.Context, m *Manager, objs []T) ([]T, error) {
	var claimed []T
	var firstErr error
	for _, obj := range objs {
		switch Decide(m.owner, obj, m.selector) {
		case Keep:
			claimed = append(claimed, obj)
		case Adopt:
			if err := m.canAdopt(ctx); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			err := m.patch(ctx, obj.GetNamespace(), obj.GetName(), m.adoptPatch(obj.GetUID()))
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("adopt %s: %w", obj.GetName(), err)
				}
				continue
			}
			claimed = append(claimed, obj)
		case Release:
			err := m.patch(ctx, obj.GetNamespace(), obj.GetName(), ReleasePatch(m.owner.GetUID(), obj.GetUID()))
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
				if firstErr == nil {
					firstErr = fmt.Errorf("release %s: %w", obj.GetName(), err)
				}
			}
		}
	}
	return claimed, firstErr
}

func (m *Manager) canAdopt(ctx context.Context) error {
	m.once.Do(func() {
		fresh, err := m.recheck(ctx)
		if err != nil {
			m.adoptErr = err
			return
		}
		if fresh.GetUID() != m.owner.GetUID() {
			m.adoptErr = fmt.Errorf("original %s %s/%s is gone: got uid %v, wanted %v", m.kind.Kind, m.owner.GetNamespace(), m.owner.GetName(), fresh.GetUID(), m.owner.GetUID())
			return
		}
		if fresh.GetDeletionTimestamp() != nil {
			m.adoptErr = fmt.Errorf("%s %s/%s has just been deleted at %v", m.kind.Kind, m.owner.GetNamespace(), m.owner.GetName(), fresh.GetDeletionTimestamp())
		}
	})
	return m.adoptErr
}

type refPatch struct {
	Metadata refMeta `json:"metadata"`
}

type refMeta struct {
	OwnerReferences []map[string]any `json:"ownerReferences"`
	UID             types.UID        `json:"uid"`
}

func (m *Manager) adoptPatch(uid types.UID) []byte {
	b, _ := json.Marshal(refPatch{Metadata: refMeta{
		OwnerReferences: []map[string]any{{
			"apiVersion":         m.kind.GroupVersion().String(),
			"kind":               m.kind.Kind,
			"name":               m.owner.GetName(),
			"uid":                m.owner.GetUID(),
			"controller":         true,
			"blockOwnerDeletion": true,
		}},
		UID: uid,
	}})
	return b
}

// ReleasePatch is the strategic merge patch that removes the owner
// reference to ownerUID from the object with uid.
func ReleasePatch(ownerUID, uid types.UID) []byte {
	b, _ := json.Marshal(refPatch{Metadata: refMeta{
		OwnerReferences: []map[string]any{{"$patch": "delete", "uid": ownerUID}},
		UID:             uid,
	}})
	return b
}
