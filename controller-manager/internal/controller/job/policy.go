package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// PolicyMatch is what a Job's podFailurePolicy says of one failed pod.
type PolicyMatch struct {
	// Action is the action of the first rule the pod matched, "" if none
	// did (the failure then counts, as with no policy).
	Action batchv1.PodFailurePolicyAction
	// Count reports whether the failure counts against the backoff
	// limits: every action but Ignore.
	Count bool
	// FailJobMessage, with the FailJob action, is the message of the
	// Job's failure condition.
	FailJobMessage string
}

// MatchPodFailurePolicy applies policy (nil: none) to a failed pod, as
// Kubernetes does: the rules in order, the first that matches decides.
// An onExitCodes rule matches the first container (then init container)
// that terminated with a non-zero code the operator accepts; an
// onPodConditions rule matches a condition of the pod with the pattern's
// type and status.
func MatchPodFailurePolicy(policy *batchv1.PodFailurePolicy, p *corev1.Pod) PolicyMatch {
	if policy == nil {
		return PolicyMatch{Count: true}
	}
	for i, rule := range policy.Rules {
		var failJob string
		switch {
		case rule.OnExitCodes != nil:
			cs := matchOnExitCodes(&p.Status, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			failJob = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				cs.Name, p.Namespace, p.Name, cs.State.Terminated.ExitCode, rule.Action, i)
		case rule.OnPodConditions != nil:
			cond := matchOnPodConditions(&p.Status, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			failJob = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
				p.Namespace, p.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		switch rule.Action {
		case batchv1.PodFailurePolicyActionIgnore:
			return PolicyMatch{Action: rule.Action}
		case batchv1.PodFailurePolicyActionFailJob:
			return PolicyMatch{Action: rule.Action, Count: true, FailJobMessage: failJob}
		case batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionCount:
			return PolicyMatch{Action: rule.Action, Count: true}
		}
		// An action this controller does not know (a newer API's) is no
		// match: the next rules decide.
	}
	return PolicyMatch{Count: true}
}

func matchOnExitCodes(st *corev1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	if cs := matchingContainer(st.ContainerStatuses, req); cs != nil {
		return cs
	}
	return matchingContainer(st.InitContainerStatuses, req)
}

// matchingContainer is the first container of list that terminated with
// a non-zero exit code req accepts: a zero code never matches, whatever
// the operator, so a container that succeeded is no reason to act.
func matchingContainer(list []corev1.ContainerStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for i := range list {
		cs := &list[i]
		term := cs.State.Terminated
		if term == nil || term.ExitCode == 0 {
			continue
		}
		if req.ContainerName != nil && *req.ContainerName != cs.Name {
			continue
		}
		in := slices.Contains(req.Values, term.ExitCode)
		switch req.Operator {
		case batchv1.PodFailurePolicyOnExitCodesOpIn:
			if in {
				return cs
			}
		case batchv1.PodFailurePolicyOnExitCodesOpNotIn:
			if !in {
				return cs
			}
		}
	}
	return nil
}

func matchOnPodConditions(st *corev1.PodStatus, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range st.Conditions {
		for _, pat := range patterns {
			if st.Conditions[i].Type == pat.Type && st.Conditions[i].Status == pat.Status {
				return &st.Conditions[i]
			}
		}
	}
	return nil
}

// MatchSuccessPolicy reports whether the succeeded indexes of an Indexed
// Job meet one of policy's rules (nil: none) and, if so, the condition's
// message naming the first rule met. A succeededIndexes rule needs all
// its indexes done, or succeededCount of them if it also sets that; a
// rule with succeededCount alone needs that many indexes, any of them.
func MatchSuccessPolicy(policy *batchv1.SuccessPolicy, completions int, succeeded sets.Set[int]) (string, bool) {
	if policy == nil || succeeded.Len() == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		met := false
		switch {
		case rule.SucceededIndexes != nil:
			required := ParseIndexes(*rule.SucceededIndexes, completions)
			if required.Len() == 0 {
				continue
			}
			done := required.Intersection(succeeded).Len()
			met = done == required.Len() || (rule.SucceededCount != nil && done >= int(*rule.SucceededCount))
		case rule.SucceededCount != nil:
			met = succeeded.Len() >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}
