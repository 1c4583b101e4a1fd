// Package history keeps a workload's pod templates as
// ControllerRevisions, as Kubernetes' controller history does for
// StatefulSets and DaemonSets: one revision per template the owner has
// had, numbered by .revision in the order the owner took them on, named
// owner-hash, owned by the owner. A revision's data is the strategic
// merge patch that restores its template onto the owner:
//
//	{"spec":{"template":{"$patch":"replace", …the template…}}}
package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/controller-manager/internal/controllerkit/templatehash"
)

// Data is the canonical data of a revision of template: JSON with
// sorted keys, byte for byte what Kubernetes' controllers write, so the
// same template always gives the same bytes whichever encoder wrote
// them.
func Data(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, err
	}
	var t map[string]any
	if err := decodeJSON(raw, &t); err != nil {
		return nil, err
	}
	t["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": t}})
}

func decodeJSON(raw []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(into)
}

// canonical re-encodes JSON with sorted keys and no spaces; nil if raw
// is not JSON.
func canonical(raw []byte) []byte {
	var v any
	if err := decodeJSON(raw, &v); err != nil {
		return nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return out
}

// Name is the name of owner's revision with hash: owner-hash, the
// owner's name cut so that the whole fits a name.
func Name(owner, hash string) string {
	if len(owner) > 223 {
		owner = owner[:223]
	}
	return owner + "-" + hash
}

// Owner is what keeps a history.
type Owner struct {
	Object   metav1.Object
	Kind     schema.GroupVersionKind
	Template *corev1.PodTemplateSpec
	// HashLabel is the label that carries a revision's hash.
	HashLabel string
}

// Hash is the hash that names a revision of template for the owner's
// collision count. The count enters the hash only once there was a
// collision, so the revision of a template keeps the hash its pods were
// labelled with before revisions were kept.
func Hash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	if collisionCount != nil && *collisionCount == 0 {
		collisionCount = nil
	}
	return templatehash.Hash(template, collisionCount)
}

// New is owner's template as revision number revision, named for its
// Hash with collisionCount: labelled with the template's labels and the
// hash, carrying the owner's annotations, owned by the owner.
func New(owner Owner, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	hash := Hash(owner.Template, collisionCount)
	data, err := Data(owner.Template)
	if err != nil {
		return nil, fmt.Errorf("encode template of %s %s/%s: %w", owner.Kind.Kind, owner.Object.GetNamespace(), owner.Object.GetName(), err)
	}
	lbls := map[string]string{}
	for k, v := range owner.Template.Labels {
		lbls[k] = v
	}
	lbls[owner.HashLabel] = hash
	var annotations map[string]string
	if a := owner.Object.GetAnnotations(); len(a) > 0 {
		annotations = map[string]string{}
		for k, v := range a {
			annotations[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: Name(owner.Object.GetName(), hash), Namespace: owner.Object.GetNamespace(),
			Labels: lbls, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner.Object, owner.Kind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}, nil
}

// Equal reports whether two revisions hold the same template: their
// data is the same JSON, whatever its key order or spacing.
func Equal(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	ca, cb := canonical(a.Data.Raw), canonical(b.Data.Raw)
	return ca != nil && bytes.Equal(ca, cb)
}

// Sort sorts revisions oldest first: by .revision, then by creation,
// then by name.
func Sort(revisions []*appsv1.ControllerRevision) {
	sort.SliceStable(revisions, func(i, j int) bool {
		a, b := revisions[i], revisions[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// Next is the number after the highest of revisions.
func Next(revisions []*appsv1.ControllerRevision) int64 {
	var highest int64
	for _, r := range revisions {
		highest = max(highest, r.Revision)
	}
	return highest + 1
}

// TemplateOf is the pod template revision restores: the template in its
// data. (Kubernetes applies the data as a strategic merge patch to the
// owner; with "$patch":"replace" on the template that is the template
// itself.)
func TemplateOf(revision *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var data struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(revision.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("decode controllerrevision %s/%s: %w", revision.Namespace, revision.Name, err)
	}
	if data.Spec.Template == nil {
		return nil, fmt.Errorf("controllerrevision %s/%s holds no pod template", revision.Namespace, revision.Name)
	}
	return data.Spec.Template, nil
}

// Create creates the revision propose makes for the owner's collision
// count; when its name is taken by another template it raises
// collisionCount and tries the name that makes, as Kubernetes does. An
// existing revision with the same template is returned as is.
func Create(ctx context.Context, client kubernetes.Interface, namespace string, collisionCount *int32, propose func(collisionCount *int32) (*appsv1.ControllerRevision, error)) (*appsv1.ControllerRevision, error) {
	revisions := client.AppsV1().ControllerRevisions(namespace)
	for {
		proposed, err := propose(collisionCount)
		if err != nil {
			return nil, err
		}
		created, err := revisions.Create(ctx, proposed, metav1.CreateOptions{})
		if err == nil {
			return created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create controllerrevision %s/%s: %w", namespace, proposed.Name, err)
		}
		existing, err := revisions.Get(ctx, proposed.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if Equal(existing, proposed) {
			return existing, nil
		}
		*collisionCount++
	}
}

// Renumber gives revision the number, making it the newest (a roll
// back, or a template taken on again).
func Renumber(ctx context.Context, client kubernetes.Interface, revision *appsv1.ControllerRevision, number int64) (*appsv1.ControllerRevision, error) {
	next := revision.DeepCopy()
	revisions := client.AppsV1().ControllerRevisions(next.Namespace)
	for attempt := 0; ; attempt++ {
		if next.Revision == number {
			return next, nil
		}
		next.Revision = number
		updated, err := revisions.Update(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			return updated, nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return nil, fmt.Errorf("update controllerrevision %s/%s: %w", next.Namespace, next.Name, err)
		}
		if next, err = revisions.Get(ctx, next.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
}

// Delete deletes revision, if it is still the one seen.
func Delete(ctx context.Context, client kubernetes.Interface, revision *appsv1.ControllerRevision) error {
	err := client.AppsV1().ControllerRevisions(revision.Namespace).Delete(ctx, revision.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &revision.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete controllerrevision %s/%s: %w", revision.Namespace, revision.Name, err)
	}
	return nil
}
