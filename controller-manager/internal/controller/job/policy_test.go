package job

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

func TestMatchPodFailurePolicy(t *testing.T) {
	withContainers := func(codes map[string]int32, init map[string]int32) podOpt {
		return func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = nil
			for _, name := range sets.List(sets.KeySet(codes)) {
				p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: name,
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: codes[name]}}})
			}
			for name, code := range init {
				p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: name,
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}})
			}
		}
	}
	notIn := func(action batchv1.PodFailurePolicyAction, container *string, codes ...int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: container, Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: codes}}
	}
	condRule := func(action batchv1.PodFailurePolicyAction, ct corev1.PodConditionType, st corev1.ConditionStatus) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: ct, Status: st}}}
	}
	tests := []struct {
		name   string
		rules  []batchv1.PodFailurePolicyRule
		pod    *corev1.Pod
		action batchv1.PodFailurePolicyAction
		count  bool
		msg    string
	}{
		{"no policy counts", nil, pod("a", exited(1, 0)), "", true, ""},
		{"In matches the exit code", []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, 1, 2)}, pod("a", exited(2, 0)),
			batchv1.PodFailurePolicyActionFailJob, true, "Container c for pod ns/a failed with exit code 2 matching FailJob rule at index 0"},
		{"In does not match another code", []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, 1)}, pod("a", exited(3, 0)), "", true, ""},
		{"NotIn matches a code not listed", []batchv1.PodFailurePolicyRule{notIn(batchv1.PodFailurePolicyActionIgnore, nil, 1)}, pod("a", exited(3, 0)),
			batchv1.PodFailurePolicyActionIgnore, false, ""},
		{"exit code 0 never matches, even NotIn", []batchv1.PodFailurePolicyRule{notIn(batchv1.PodFailurePolicyActionFailJob, nil, 1)},
			pod("a", withContainers(map[string]int32{"c": 0, "d": 1}, nil)), "", true, ""},
		{"containerName limits the rule to that container", []batchv1.PodFailurePolicyRule{notIn(batchv1.PodFailurePolicyActionFailJob, ptr.To("d"), 0)},
			pod("a", withContainers(map[string]int32{"c": 5, "d": 7}, nil)), batchv1.PodFailurePolicyActionFailJob, true,
			"Container d for pod ns/a failed with exit code 7 matching FailJob rule at index 0"},
		{"init containers are looked at too", []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailIndex, 9)},
			pod("a", withContainers(nil, map[string]int32{"init": 9})), batchv1.PodFailurePolicyActionFailIndex, true, ""},
		{"a running container does not match", []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, 1)}, pod("a"), "", true, ""},
		{"the first matching rule decides", []batchv1.PodFailurePolicyRule{
			onExit(batchv1.PodFailurePolicyActionFailJob, 42), onExit(batchv1.PodFailurePolicyActionCount, 1), onExit(batchv1.PodFailurePolicyActionIgnore, 1)},
			pod("a", exited(1, 0)), batchv1.PodFailurePolicyActionCount, true, ""},
		{"onPodConditions matches type and status", []batchv1.PodFailurePolicyRule{condRule(batchv1.PodFailurePolicyActionFailJob, corev1.DisruptionTarget, corev1.ConditionTrue)},
			pod("a", disrupted, exited(137, 0)), batchv1.PodFailurePolicyActionFailJob, true,
			"Pod ns/a has condition DisruptionTarget matching FailJob rule at index 0"},
		{"onPodConditions needs the status", []batchv1.PodFailurePolicyRule{condRule(batchv1.PodFailurePolicyActionIgnore, corev1.DisruptionTarget, corev1.ConditionFalse)},
			pod("a", disrupted, exited(137, 0)), "", true, ""},
		{"an unknown action is no match", []batchv1.PodFailurePolicyRule{onExit("Retry", 1), onExit(batchv1.PodFailurePolicyActionIgnore, 1)},
			pod("a", exited(1, 0)), batchv1.PodFailurePolicyActionIgnore, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var policy *batchv1.PodFailurePolicy
			if tt.rules != nil {
				policy = &batchv1.PodFailurePolicy{Rules: tt.rules}
			}
			got := MatchPodFailurePolicy(policy, tt.pod)
			if got.Action != tt.action || got.Count != tt.count || got.FailJobMessage != tt.msg {
				t.Errorf("MatchPodFailurePolicy = %+v, want action %q count %v message %q", got, tt.action, tt.count, tt.msg)
			}
		})
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	rules := func(r ...batchv1.SuccessPolicyRule) *batchv1.SuccessPolicy { return &batchv1.SuccessPolicy{Rules: r} }
	tests := []struct {
		name      string
		policy    *batchv1.SuccessPolicy
		succeeded []int
		want      string
	}{
		{"no policy", nil, []int{0, 1}, ""},
		{"nothing succeeded", rules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](0)}), nil, ""},
		{"succeededIndexes all done", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0,2-3")}), []int{0, 2, 3}, "Matched rules at index 0"},
		{"succeededIndexes one missing", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0,2-3")}), []int{0, 1, 2}, ""},
		{"succeededIndexes with succeededCount", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-3"), SucceededCount: ptr.To[int32](2)}),
			[]int{1, 3, 4}, "Matched rules at index 0"},
		{"succeededCount among succeededIndexes only", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-1"), SucceededCount: ptr.To[int32](2)}),
			[]int{1, 3}, ""},
		{"succeededCount alone", rules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](2)}), []int{3, 4}, "Matched rules at index 0"},
		{"the first rule met is named", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("4")}, batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)}),
			[]int{0}, "Matched rules at index 1"},
		{"indexes past completions are dropped", rules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("7-9")}), []int{0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ok := MatchSuccessPolicy(tt.policy, 5, sets.New(tt.succeeded...))
			if msg != tt.want || ok != (tt.want != "") {
				t.Errorf("MatchSuccessPolicy = %q, %v; want %q", msg, ok, tt.want)
			}
		})
	}
}

func TestIndexes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {"0", "0"}, {"0,2-4", "0,2-4"}, {"1-2,5,7-9", "1,2,5,7-9"}, {"0-1", "0,1"}, {"3,1,2", "1-3"}, {"0-2,3", "0-3"},
	} {
		if got := FormatIndexes(ParseIndexes(tt.in, 10)); got != tt.want {
			t.Errorf("FormatIndexes(ParseIndexes(%q)) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := ParseIndexes("0-9", 3).Len(); got != 3 {
		t.Errorf("indexes beyond completions kept: %d", got)
	}
	if got := firstPending(sets.New(0, 2, 3), 3, 6); len(got) != 3 || got[0] != 1 || got[1] != 4 || got[2] != 5 {
		t.Errorf("firstPending = %v, want [1 4 5]", got)
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second}, {10, 6 * time.Minute}} {
		if got := Backoff(tt.failures, 10*time.Second, 6*time.Minute); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestBackoffRecord(t *testing.T) {
	start := BackoffRecord{FailuresAfterLastSuccess: 2, LastFailure: now.Add(-time.Hour)}
	tests := []struct {
		name              string
		succeeded, failed []*corev1.Pod
		want              BackoffRecord
	}{
		{"nothing new", nil, nil, start},
		{"failures add up", nil, []*corev1.Pod{pod("a", exited(1, 3*time.Second)), pod("b", exited(1, time.Second))},
			BackoffRecord{FailuresAfterLastSuccess: 4, LastFailure: now.Add(-time.Second)}},
		{"a success resets", []*corev1.Pod{pod("a", exited(0, time.Second))}, nil, BackoffRecord{}},
		{"only failures after the last success count", []*corev1.Pod{pod("s", exited(0, 5*time.Second))},
			[]*corev1.Pod{pod("a", exited(1, 9*time.Second)), pod("b", exited(1, 2*time.Second)), pod("c", exited(1, time.Second))},
			BackoffRecord{FailuresAfterLastSuccess: 2, LastFailure: now.Add(-time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := start.Next(tt.succeeded, tt.failed)
			if got.FailuresAfterLastSuccess != tt.want.FailuresAfterLastSuccess || !got.LastFailure.Equal(tt.want.LastFailure) {
				t.Errorf("Next = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := (BackoffRecord{FailuresAfterLastSuccess: 2, LastFailure: now.Add(-5 * time.Second)}).Remaining(now, base, maxB); got != 15*time.Second {
		t.Errorf("Remaining = %v, want 15s", got)
	}
}

func TestFinishedAt(t *testing.T) {
	notReadySince := now.Add(-2 * time.Minute)
	tests := []struct {
		name string
		pod  *corev1.Pod
		want time.Time
	}{
		{"the containers' finish", pod("a", exited(1, time.Minute)), now.Add(-time.Minute)},
		{"else when it turned not ready", pod("a", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metavNow(notReadySince)}}
		}), notReadySince},
		{"else when its deletion began", pod("a", func(p *corev1.Pod) {
			p.DeletionTimestamp = ptr.To(metavNow(now))
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
		}), now.Add(-30 * time.Second)},
		{"else its creation", pod("a"), now.Add(-time.Hour)},
	}
	for _, tt := range tests {
		if got := finishedAt(tt.pod); !got.Equal(tt.want) {
			t.Errorf("%s: finishedAt = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func metavNow(t time.Time) metav1.Time { return metav1.NewTime(t) }
