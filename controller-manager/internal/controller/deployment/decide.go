package deployment

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
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

// Condition reasons and messages, as Kubernetes writes them.
const (
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewRSAvailable             = "NewReplicaSetAvailable"
	ReasonTimedOut                   = "ProgressDeadlineExceeded"
	ReasonPaused                     = "DeploymentPaused"
	ReasonResumed                    = "DeploymentResumed"
	ReasonFailedRSCreate             = "ReplicaSetCreateError"
	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	// ReasonScaling is the event of every ReplicaSet scale.
	ReasonScaling = "ScalingReplicaSet"
)

// skipped are the Deployment annotations not copied to its ReplicaSets.
var skipped = map[string]bool{
	lastApplied: true, RevisionAnnotation: true, RevisionHistoryAnnotation: true,
	DesiredReplicasAnnotation: true, MaxReplicasAnnotation: true,
	"deprecated.deployment.rollback.to": true,
}

// ComputeHash is the pod-template-hash of template: a stable hash of its
// content and of the Deployment's collision count.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(template)
	h.Write(b)
	if collisionCount != nil {
		var buf [4]byte
		binary.LittleEndian.PutUint32(buf[:], uint32(*collisionCount))
		h.Write(buf[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
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

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func desired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
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

// ResolveFenceposts turns maxSurge and maxUnavailable into numbers for
// replicas: surge rounds up, unavailability down, and both zero means
// one unavailable so the rollout can move.
func ResolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, replicas int32) (int32, int32) {
	zero := intstr.FromInt32(0)
	if maxSurge == nil {
		maxSurge = &zero
	}
	if maxUnavailable == nil {
		maxUnavailable = &zero
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(maxSurge, int(replicas), true)
	if err != nil {
		surge = 0
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(replicas), false)
	if err != nil {
		unavailable = 0
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable)
}

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.Type == ""
}

func rollingParams(d *appsv1.Deployment) (*intstr.IntOrString, *intstr.IntOrString) {
	def := intstr.FromString("25%")
	if d.Spec.Strategy.RollingUpdate == nil {
		return &def, &def
	}
	s, u := d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable
	if s == nil {
		s = &def
	}
	if u == nil {
		u = &def
	}
	return s, u
}

// MaxSurge is how many pods above replicas a rolling update may run.
func MaxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	s, u := rollingParams(d)
	surge, _ := ResolveFenceposts(s, u, desired(d))
	return surge
}

// MaxUnavailable is how many pods below replicas may be unavailable.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	if !isRolling(d) || desired(d) == 0 {
		return 0
	}
	s, u := rollingParams(d)
	_, unavailable := ResolveFenceposts(s, u, desired(d))
	return min(unavailable, desired(d))
}

// podCount is the most pods a ReplicaSet may have now: its spec, or its
// last observed count while a scale-down is not yet carried out.
func podCount(rs *appsv1.ReplicaSet) int32 {
	return max(replicasOf(rs), rs.Status.Replicas)
}

// availableCount is the pods of a ReplicaSet surely available: at most
// its spec, since a scale-down may already be deleting the others.
func availableCount(rs *appsv1.ReplicaSet) int32 {
	return min(replicasOf(rs), rs.Status.AvailableReplicas)
}

// NewRSReplicas is the size the new ReplicaSet may grow to now. During a
// rolling update the pods of every ReplicaSet, counted as the most they
// may have (podCount), never exceed replicas + maxSurge.
func NewRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRolling(d) {
		return desired(d)
	}
	var current int32
	for _, rs := range all {
		if rs != nil {
			current += podCount(rs)
		}
	}
	maxTotal := desired(d) + MaxSurge(d)
	if current >= maxTotal {
		return replicasOf(newRS)
	}
	up := min(maxTotal-current, desired(d)-replicasOf(newRS))
	return replicasOf(newRS) + max(up, 0)
}

// ScaleDownOld is how far the old ReplicaSets may shrink now, as a map of
// name to new size (only the ones that change): first their unhealthy
// pods, then healthy ones, oldest ReplicaSet first, never leaving fewer
// than replicas - maxUnavailable pods available.
func ScaleDownOld(d *appsv1.Deployment, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) map[string]int32 {
	out := map[string]int32{}
	size := func(rs *appsv1.ReplicaSet) int32 {
		if v, ok := out[rs.Name]; ok {
			return v
		}
		return replicasOf(rs)
	}
	var oldCount, allCount int32
	for _, rs := range old {
		oldCount += replicasOf(rs)
	}
	if oldCount == 0 {
		return out
	}
	for _, rs := range all {
		allCount += replicasOf(rs)
	}
	minAvailable := desired(d) - MaxUnavailable(d)
	newUnavailable := replicasOf(newRS) - availableCount(newRS)
	maxScaledDown := allCount - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return out
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	// Unhealthy pods first: they hold the rollout back and serve nothing.
	var cleaned int32
	for _, rs := range sorted {
		if cleaned >= maxScaledDown {
			break
		}
		unhealthy := replicasOf(rs) - availableCount(rs)
		if replicasOf(rs) == 0 || unhealthy <= 0 {
			continue
		}
		n := min(maxScaledDown-cleaned, unhealthy)
		out[rs.Name] = replicasOf(rs) - n
		cleaned += n
	}
	// Then healthy pods, as far as availability allows.
	var available int32
	for _, rs := range all {
		if rs == nil {
			continue
		}
		available += min(size(rs), rs.Status.AvailableReplicas)
	}
	if available <= minAvailable {
		return out
	}
	total := available - minAvailable
	var done int32
	for _, rs := range sorted {
		if done >= total {
			break
		}
		cur := size(rs)
		if cur == 0 {
			continue
		}
		n := min(cur, total-done)
		out[rs.Name] = cur - n
		done += n
	}
	return out
}

// isActive reports whether rs should have pods.
func isActive(rs *appsv1.ReplicaSet) bool { return rs != nil && replicasOf(rs) > 0 }

func annotationInt(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// IsScalingEvent reports whether replicas changed since the active
// ReplicaSets were sized (their desired-replicas annotation).
func IsScalingEvent(d *appsv1.Deployment, all []*appsv1.ReplicaSet) bool {
	for _, rs := range all {
		if !isActive(rs) {
			continue
		}
		if v, ok := annotationInt(rs, DesiredReplicasAnnotation); ok && v != desired(d) {
			return true
		}
	}
	return false
}

// Scale is how a scaling event resizes the ReplicaSets: one active (or
// none: the newest) takes all replicas; a saturated new one leaves the
// old at zero; otherwise a rolling Deployment's ReplicaSets grow or shrink
// in proportion to their size. It returns the new size of each
// ReplicaSet to change, and "up" or "down" for the events.
func Scale(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (map[string]int32, string) {
	out := map[string]int32{}
	if rs := activeOrLatest(newRS, old); rs != nil {
		if replicasOf(rs) != desired(d) {
			out[rs.Name] = desired(d)
		}
		return out, ""
	}
	if isSaturated(d, newRS) {
		for _, rs := range old {
			if isActive(rs) {
				out[rs.Name] = 0
			}
		}
		return out, ""
	}
	if !isRolling(d) {
		return out, ""
	}
	var all []*appsv1.ReplicaSet
	for _, rs := range append(append([]*appsv1.ReplicaSet(nil), old...), newRS) {
		if isActive(rs) {
			all = append(all, rs)
		}
	}
	var current int32
	for _, rs := range all {
		current += replicasOf(rs)
	}
	allowed := int32(0)
	if desired(d) > 0 {
		allowed = desired(d) + MaxSurge(d)
	}
	toAdd := allowed - current
	op := ""
	switch {
	case toAdd > 0:
		// Larger first; among equals, newer first.
		sort.SliceStable(all, func(i, j int) bool {
			if replicasOf(all[i]) != replicasOf(all[j]) {
				return replicasOf(all[i]) > replicasOf(all[j])
			}
			return all[j].CreationTimestamp.Before(&all[i].CreationTimestamp)
		})
		op = "up"
	case toAdd < 0:
		// Larger first; among equals, older first.
		sort.SliceStable(all, func(i, j int) bool {
			if replicasOf(all[i]) != replicasOf(all[j]) {
				return replicasOf(all[i]) > replicasOf(all[j])
			}
			return all[i].CreationTimestamp.Before(&all[j].CreationTimestamp)
		})
		op = "down"
	default:
		return out, ""
	}
	var added int32
	sizes := make([]int32, len(all))
	for i, rs := range all {
		p := proportion(rs, d, toAdd, added)
		sizes[i] = replicasOf(rs) + p
		added += p
	}
	if len(all) > 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		if sizes[i] != replicasOf(rs) {
			out[rs.Name] = sizes[i]
		}
	}
	return out, op
}

func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if replicasOf(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	var fraction int32
	if desired(d) == 0 {
		fraction = -replicasOf(rs)
	} else {
		maxNow := desired(d) + MaxSurge(d)
		maxBefore, ok := annotationInt(rs, MaxReplicasAnnotation)
		if !ok || maxBefore == 0 {
			maxBefore = d.Status.Replicas
		}
		if maxBefore == 0 {
			maxBefore = maxNow
		}
		fraction = int32(math.Round(float64(replicasOf(rs)*maxNow)/float64(maxBefore))) - replicasOf(rs)
	}
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	var active []*appsv1.ReplicaSet
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, sorted...) {
		if isActive(rs) {
			active = append(active, rs)
		}
	}
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	v, ok := annotationInt(rs, DesiredReplicasAnnotation)
	return ok && v == desired(d) && replicasOf(rs) == desired(d) && rs.Status.AvailableReplicas == desired(d)
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

// Condition returns the condition of type t, or nil.
func Condition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func newCondition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) appsv1.DeploymentCondition {
	n := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: n, LastTransitionTime: n}
}

// SetCondition sets c, keeping the existing one when only its times
// would change, and its transition time when its status stays.
func SetCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := Condition(*st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	RemoveCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

// RemoveCondition removes the condition of type t.
func RemoveCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var keep []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			keep = append(keep, c)
		}
	}
	st.Conditions = keep
}

// CalculateStatus is the Deployment's status from its ReplicaSets, with
// the Available condition.
func CalculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	var replicas, spec, ready, available int32
	for _, rs := range all {
		if rs == nil {
			continue
		}
		replicas += rs.Status.Replicas
		spec += replicasOf(rs)
		ready += rs.Status.ReadyReplicas
		available += rs.Status.AvailableReplicas
	}
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            replicas,
		ReadyReplicas:       ready,
		AvailableReplicas:   available,
		UnavailableReplicas: max(spec-available, 0),
		CollisionCount:      d.Status.CollisionCount,
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.Conditions = append(st.Conditions, d.Status.Conditions...)
	if available >= desired(d)-MaxUnavailable(d) {
		SetCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", now))
	} else {
		SetCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", now))
	}
	return st
}

// complete reports whether the rollout is done: every pod updated and
// available, none old.
func complete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	return st.UpdatedReplicas == desired(d) && st.Replicas == desired(d) &&
		st.AvailableReplicas == desired(d) && st.ObservedGeneration >= d.Generation
}

// progressing reports whether st moved forward from the Deployment's
// recorded status.
func progressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// timedOut reports whether the rollout made no progress within
// progressDeadlineSeconds of the Progressing condition's last update.
func timedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := Condition(*st, appsv1.DeploymentProgressing)
	if c == nil {
		return false
	}
	switch c.Reason {
	case ReasonNewRSAvailable:
		return false
	case ReasonTimedOut:
		return true
	}
	deadline := time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	return c.LastUpdateTime.Add(deadline).Before(now)
}

// RolloutStatus adds to st, computed by CalculateStatus, the Progressing
// condition: NewReplicaSetAvailable when complete, ReplicaSetUpdated when
// the rollout moved, ProgressDeadlineExceeded when it stood still past
// the deadline.
func RolloutStatus(d *appsv1.Deployment, st appsv1.DeploymentStatus, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	if !hasProgressDeadline(d) {
		RemoveCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := Condition(d.Status, appsv1.DeploymentProgressing)
	done := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if !hasProgressDeadline(d) || done {
		return st
	}
	name := fmt.Sprintf("Deployment %q", d.Name)
	if newRS != nil {
		name = fmt.Sprintf("ReplicaSet %q", newRS.Name)
	}
	switch {
	case complete(d, &st):
		SetCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable, name+" has successfully progressed.", now))
	case progressing(d, &st):
		c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated, name+" is progressing.", now)
		// Progress refreshes the condition's update time, the start
		// of the deadline, even with the same reason.
		if cur != nil {
			if cur.Status == corev1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			RemoveCondition(&st, appsv1.DeploymentProgressing)
		}
		SetCondition(&st, c)
	case timedOut(d, &st, now):
		SetCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonTimedOut, name+" has timed out progressing.", now))
	}
	return st
}

// RecheckIn is when a rollout that has not progressed must be looked at
// again to notice its deadline passing; 0 if it need not be.
func RecheckIn(d *appsv1.Deployment, st appsv1.DeploymentStatus, now time.Time) time.Duration {
	c := Condition(st, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || c == nil || complete(d, &st) || c.Reason == ReasonTimedOut || c.Reason == ReasonNewRSAvailable {
		return 0
	}
	after := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	if after < time.Second {
		return time.Second
	}
	return after
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
