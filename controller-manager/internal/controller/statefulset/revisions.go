package statefulset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/controller-manager/internal/controllerkit/templatehash"
)

// RevisionHashLabel is the label of a ControllerRevision that holds the
// hash in its name, as Kubernetes' controller history sets it.
const RevisionHashLabel = "controller.kubernetes.io/hash"

// A StatefulSet's history is a list of ControllerRevisions, each holding
// one pod template the set has had, numbered by .revision in the order
// the set took them on. The update revision is the set's template now;
// the current revision (status.currentRevision) the one the set's pods
// ran before the update began, which the pods below the partition keep
// and are recreated at. A revision's data is the strategic merge patch
// that restores its template onto the set, as in Kubernetes:
//
//	{"spec":{"template":{"$patch":"replace", …the template…}}}

// revisionData is the canonical data of set's template: JSON with
// sorted keys, so the same template always gives the same bytes,
// whichever encoder wrote them.
func revisionData(set *appsv1.StatefulSet) ([]byte, error) {
	raw, err := json.Marshal(&set.Spec.Template)
	if err != nil {
		return nil, err
	}
	var template map[string]any
	if err := decodeJSON(raw, &template); err != nil {
		return nil, err
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
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

// RevisionName is the name of set's revision with hash: set-hash, the
// set's name cut so that the whole fits a name.
func RevisionName(setName, hash string) string {
	if len(setName) > 223 {
		setName = setName[:223]
	}
	return setName + "-" + hash
}

// NewRevision is set's template as revision number revision, named for
// the template and collisionCount (which the set raises when the name it
// wants is taken by another template), labelled with the template's labels and
// carrying the set's annotations, and owned by set.
func NewRevision(set *appsv1.StatefulSet, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	data, err := revisionData(set)
	if err != nil {
		return nil, fmt.Errorf("encode template of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	// The template's hash, as pods' controller-revision-hash labels had
	// before revisions were kept (with no collision count, as then): an
	// unchanged set keeps its pods' revision.
	var probe *int32
	if collisionCount != nil && *collisionCount != 0 {
		probe = collisionCount
	}
	hash := templatehash.Hash(&set.Spec.Template, probe)
	lbls := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[RevisionHashLabel] = hash
	var annotations map[string]string
	if len(set.Annotations) > 0 {
		annotations = map[string]string{}
		for k, v := range set.Annotations {
			annotations[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: RevisionName(set.Name, hash), Namespace: set.Namespace,
			Labels: lbls, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, kind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}, nil
}

// EqualRevision reports whether two revisions hold the same template:
// their data is the same JSON, whatever its key order or spacing.
func EqualRevision(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	ca, cb := canonical(a.Data.Raw), canonical(b.Data.Raw)
	return ca != nil && bytes.Equal(ca, cb)
}

// SortRevisions sorts revisions oldest first: by .revision, then by
// creation, then by name.
func SortRevisions(revisions []*appsv1.ControllerRevision) {
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

// nextRevision is the number after the newest of sorted revisions.
func nextRevision(sorted []*appsv1.ControllerRevision) int64 {
	if len(sorted) == 0 {
		return 1
	}
	return sorted[len(sorted)-1].Revision + 1
}

// RevisionStep is how a sync comes by the update revision.
type RevisionStep int

// Revision steps.
const (
	// KeepRevision: the newest revision is the set's template already.
	KeepRevision RevisionStep = iota
	// RollBack: an older revision holds the template; it becomes the
	// newest by taking the next number.
	RollBack
	// CreateRevision: the template is new.
	CreateRevision
)

// ChooseUpdateRevision is the pure part of finding the update revision
// among sorted revisions for proposed, the set's template as the next
// revision: the revision to use and what to do with it (for RollBack,
// the existing revision to renumber to proposed.Revision; for
// CreateRevision, proposed itself).
func ChooseUpdateRevision(sorted []*appsv1.ControllerRevision, proposed *appsv1.ControllerRevision) (*appsv1.ControllerRevision, RevisionStep) {
	var latestEqual *appsv1.ControllerRevision
	for _, r := range sorted {
		if EqualRevision(r, proposed) {
			latestEqual = r
		}
	}
	switch {
	case latestEqual == nil:
		return proposed, CreateRevision
	case latestEqual == sorted[len(sorted)-1]:
		return latestEqual, KeepRevision
	default:
		return latestEqual, RollBack
	}
}

// CurrentRevision is the revision status.currentRevision names, or
// update when there is none (a new set, or a lost revision).
func CurrentRevision(set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision, update *appsv1.ControllerRevision) *appsv1.ControllerRevision {
	for _, r := range revisions {
		if r.Name == set.Status.CurrentRevision {
			return r
		}
	}
	return update
}

// TemplateOf is the pod template revision restores: the template in its
// data. (Kubernetes applies the data as a strategic merge patch to the
// set; with "$patch":"replace" on the template that is the template
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

// ExpiredRevisions are the revisions of sorted to delete to keep the
// set's revisionHistoryLimit: the oldest of those neither current, nor
// update, nor run by a pod.
func ExpiredRevisions(set *appsv1.StatefulSet, pods []*corev1.Pod, sorted []*appsv1.ControllerRevision, current, update string) []*appsv1.ControllerRevision {
	live := map[string]bool{current: true, update: true}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var history []*appsv1.ControllerRevision
	for _, r := range sorted {
		if !live[r.Name] {
			history = append(history, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if limit < 0 || len(history) <= limit {
		return nil
	}
	return history[:len(history)-limit]
}
