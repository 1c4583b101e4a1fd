package framework

import (
	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// TolerationsTolerateTaint reports whether any toleration tolerates taint,
// by the API's own rules (k8s.io/api's Toleration.ToleratesTaint).
func TolerationsTolerateTaint(tolerations []v1.Toleration, taint *v1.Taint) bool {
	return corev1helpers.TolerationsTolerateTaint(logr.Discard(), tolerations, taint, false)
}

// FindUntoleratedTaint returns the first taint that passes filter and that
// no toleration tolerates.
func FindUntoleratedTaint(taints []v1.Taint, tolerations []v1.Toleration, filter func(*v1.Taint) bool) (v1.Taint, bool) {
	for i := range taints {
		if filter != nil && !filter(&taints[i]) {
			continue
		}
		if !TolerationsTolerateTaint(tolerations, &taints[i]) {
			return taints[i], true
		}
	}
	return v1.Taint{}, false
}

// DefaultNormalizeScore rescales scores so the highest becomes maxPriority
// (reversed: the highest becomes 0 and 0 becomes maxPriority), as
// Kubernetes' helper of the same name.
func DefaultNormalizeScore(maxPriority int64, reverse bool, scores []NodeScore) {
	var maxCount int64
	for i := range scores {
		maxCount = max(maxCount, scores[i].Score)
	}
	if maxCount == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return
	}
	for i := range scores {
		s := maxPriority * scores[i].Score / maxCount
		if reverse {
			s = maxPriority - s
		}
		scores[i].Score = s
	}
}
