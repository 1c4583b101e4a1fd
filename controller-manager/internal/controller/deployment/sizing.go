package deployment

import (
	"math"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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

// activeOnly are the ReplicaSets of list that should have pods.
func activeOnly(list []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range list {
		if isActive(rs) {
			out = append(out, rs)
		}
	}
	return out
}

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
