package deployment

import (
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/controller-manager/internal/controllerkit/templatehash"
)

// Annotations and labels, as Kubernetes names them.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	// HashLabel tells the pods of one template from another's.
	HashLabel = appsv1.DefaultDeploymentUniqueLabelKey
	// lastApplied is kubectl's, and never copied to ReplicaSets.
	lastApplied = corev1.LastAppliedConfigAnnotation
)

// skipped are the Deployment annotations not copied to its ReplicaSets.
var skipped = map[string]bool{
	lastApplied: true, RevisionAnnotation: true, RevisionHistoryAnnotation: true,
	DesiredReplicasAnnotation: true, MaxReplicasAnnotation: true,
	"deprecated.deployment.rollback.to": true,
}

// EqualIgnoreHash reports whether two templates are the same but for the
// pod-template-hash label.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, HashLabel)
	delete(b.Labels, HashLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// byCreation sorts ReplicaSets oldest first, by name on ties.
func byCreation(list []*appsv1.ReplicaSet) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// byCreationCopy is list sorted oldest first, list left as it is.
func byCreationCopy(list []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), list...)
	byCreation(out)
	return out
}

// FindNewReplicaSet returns the oldest ReplicaSet whose template is the
// Deployment's, or nil.
func FindNewReplicaSet(d *appsv1.Deployment, list []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), list...)
	byCreation(sorted)
	for _, rs := range sorted {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// FindOldReplicaSets returns every ReplicaSet but newRS.
func FindOldReplicaSets(list []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range list {
		if newRS == nil || rs.UID != newRS.UID {
			out = append(out, rs)
		}
	}
	return out
}

// Revision is a ReplicaSet's revision annotation, 0 if none.
func Revision(obj metav1.Object) int64 {
	v, _ := strconv.ParseInt(obj.GetAnnotations()[RevisionAnnotation], 10, 64)
	return v
}

// MaxRevision is the highest revision among list.
func MaxRevision(list []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range list {
		m = max(m, Revision(rs))
	}
	return m
}

// NewReplicaSet is the ReplicaSet to create for the Deployment's
// template when there is none: named and selected by the template's
// hash, sized as a rollout beside old allows, with the revision after
// theirs.
func NewReplicaSet(d *appsv1.Deployment, old []*appsv1.ReplicaSet, revision int64) *appsv1.ReplicaSet {
	hash := templatehash.Hash(&d.Spec.Template, d.Status.CollisionCount)
	template := *d.Spec.Template.DeepCopy()
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[HashLabel] = hash
	selector := d.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[HashLabel] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, kind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	size := NewRSReplicas(d, append(append([]*appsv1.ReplicaSet(nil), old...), rs), rs)
	rs.Spec.Replicas = &size
	ReplicaSetAnnotations(d, rs, revision, false)
	return rs
}

// ReplicaSetAnnotations sets on rs the annotations it carries as the
// Deployment's new ReplicaSet: the Deployment's own (less kubectl's and
// the controller's), the revision (the previous one moves to the
// revision history), and, for a ReplicaSet being created, the sizes. It
// reports whether anything changed.
func ReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipped[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	old := rs.Annotations[RevisionAnnotation]
	oldRev, _ := strconv.ParseInt(old, 10, 64)
	if old == "" || oldRev < newRevision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if old != "" {
			history := rs.Annotations[RevisionHistoryAnnotation]
			if history == "" {
				history = old
			} else {
				history += "," + old
			}
			rs.Annotations[RevisionHistoryAnnotation] = history
		}
	}
	if !exists && setSizeAnnotations(rs, desired(d), desired(d)+MaxSurge(d)) {
		changed = true
	}
	return changed
}

// setSizeAnnotations records the Deployment sizes a ReplicaSet was
// scaled for; proportional scaling reads them back.
func setSizeAnnotations(rs *appsv1.ReplicaSet, want, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	w, m := strconv.Itoa(int(want)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == w && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = w
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

// ToCleanUp returns the old ReplicaSets to delete beyond
// revisionHistoryLimit: the lowest revisions first, and only those
// scaled to zero with no pods left.
func ToCleanUp(d *appsv1.Deployment, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := Revision(alive[i]), Revision(alive[j])
		if ri != rj {
			return ri < rj
		}
		return alive[i].CreationTimestamp.Before(&alive[j].CreationTimestamp)
	})
	var out []*appsv1.ReplicaSet
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		out = append(out, rs)
	}
	return out
}

// revisionHistory is for tests and messages: the revisions rs held.
func revisionHistory(rs *appsv1.ReplicaSet) []string {
	h := rs.Annotations[RevisionHistoryAnnotation]
	if h == "" {
		return nil
	}
	return strings.Split(h, ",")
}
