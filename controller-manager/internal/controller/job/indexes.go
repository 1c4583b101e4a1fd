package job

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"coracle.dev/controller-manager/internal/controllerkit/podcontrol"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Index is an Indexed Job pod's completion index, -1 if none.
func Index(p *corev1.Pod) int {
	v, ok := p.Annotations[IndexAnnotation]
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// validIndex reports whether p is a pod of one of the Job's indexes:
// pods of an unknown index, or of an index beyond completions (after a
// scale down), count for nothing.
func validIndex(p *corev1.Pod, completions int) bool {
	i := Index(p)
	return i >= 0 && i < completions
}

// ParseIndexes reads an indexes string ("1,3-5"), as completedIndexes,
// failedIndexes and a success policy rule's succeededIndexes hold them;
// with completions > 0 the indexes from completions on are dropped.
func ParseIndexes(s string, completions int) sets.Set[int] {
	out := sets.New[int]()
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b && (completions <= 0 || i < completions); i++ {
			out.Insert(i)
		}
	}
	return out
}

// FormatIndexes writes indexes as Kubernetes writes completedIndexes:
// sorted, runs of three or more as ranges, two neighbours as a pair
// ("1,2,4-6").
func FormatIndexes(idx sets.Set[int]) string {
	list := sets.List(idx)
	var b strings.Builder
	for i := 0; i < len(list); {
		j := i
		for j+1 < len(list) && list[j+1] == list[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(list[i]))
		switch {
		case j == i+1:
			b.WriteString("," + strconv.Itoa(list[j]))
		case j > i+1:
			b.WriteString("-" + strconv.Itoa(list[j]))
		}
		i = j + 1
	}
	return b.String()
}

// indexesOf are the indexes of pods.
func indexesOf(pods []*corev1.Pod) sets.Set[int] {
	out := sets.New[int]()
	for _, p := range pods {
		if i := Index(p); i >= 0 {
			out.Insert(i)
		}
	}
	return out
}

// firstPending are the lowest count indexes below completions that are
// not in taken.
func firstPending(taken sets.Set[int], count, completions int) []int {
	var out []int
	for i := 0; i < completions && len(out) < count; i++ {
		if !taken.Has(i) {
			out = append(out, i)
		}
	}
	return out
}

// failureCounts read a pod's failure-count and ignored-failure-count
// annotations: how many pods of its index failed, counted against
// backoffLimitPerIndex or ignored by the pod failure policy, before it.
func failureCounts(p *corev1.Pod) (counted, ignored int32) {
	return annotationInt(p, batchv1.JobIndexFailureCountAnnotation), annotationInt(p, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

func annotationInt(p *corev1.Pod, key string) int32 {
	v, err := strconv.Atoi(p.Annotations[key])
	if err != nil || v < 0 || v > math.MaxInt32 {
		return 0
	}
	return int32(v)
}

// indexFailed reports whether failed pod p fails its index for good:
// the pod failure policy says FailIndex, or the failure counts and the
// index has used its backoffLimitPerIndex.
func indexFailed(j *batchv1.Job, p *corev1.Pod) bool {
	if !isPodFailed(p, j) {
		return false
	}
	m := MatchPodFailurePolicy(j.Spec.PodFailurePolicy, p)
	if m.Action == batchv1.PodFailurePolicyActionFailIndex {
		return true
	}
	counted, _ := failureCounts(p)
	return m.Count && counted >= *j.Spec.BackoffLimitPerIndex
}

// replacementCounts are the failure counts the pod that replaces failed
// pod p (nil: the index's first pod) carries.
func replacementCounts(j *batchv1.Job, p *corev1.Pod) (counted, ignored int32) {
	if p == nil {
		return 0, 0
	}
	counted, ignored = failureCounts(p)
	if MatchPodFailurePolicy(j.Spec.PodFailurePolicy, p).Count {
		counted++
	} else {
		ignored++
	}
	return counted, ignored
}

// activePodsForRemoval picks the active pods to delete: for an Indexed
// Job first those of no index or an index past completions, and all but
// the most advanced pod of an index that has several; then, if that is
// fewer than atLeast, the first ones in Kubernetes' scale-down order.
func activePodsForRemoval(j *batchv1.Job, pods []*corev1.Pod, atLeast int) []*corev1.Pod {
	var rm []*corev1.Pod
	left := append([]*corev1.Pod(nil), pods...)
	if isIndexed(j) {
		left = nil
		byIndex := map[int][]*corev1.Pod{}
		for _, p := range pods {
			if !validIndex(p, completionsOf(j)) {
				rm = append(rm, p)
				continue
			}
			byIndex[Index(p)] = append(byIndex[Index(p)], p)
		}
		for _, i := range sortedKeys(byIndex) {
			same := byIndex[i]
			podstate.SortForDeletion(same)
			rm = append(rm, same[:len(same)-1]...)
			left = append(left, same[len(same)-1])
		}
	}
	if len(rm) < atLeast {
		podstate.SortForDeletion(left)
		rm = append(rm, left[:atLeast-len(rm)]...)
	}
	return rm
}

func sortedKeys(m map[int][]*corev1.Pod) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// setIndex makes p the pod of an Indexed Job's index: name, hostname,
// annotation, label and JOB_COMPLETION_INDEX.
func setIndex(p *corev1.Pod, j *batchv1.Job, index int) {
	v := strconv.Itoa(index)
	p.GenerateName = podcontrol.GenerateNamePrefix(j.Name + "-" + v)
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[IndexAnnotation] = v
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[IndexLabel] = v
	if p.Spec.Hostname == "" {
		p.Spec.Hostname = j.Name + "-" + v
	}
	env := corev1.EnvVar{Name: IndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", IndexAnnotation),
	}}}
	for i := range p.Spec.Containers {
		addEnv(&p.Spec.Containers[i], env)
	}
	for i := range p.Spec.InitContainers {
		addEnv(&p.Spec.InitContainers[i], env)
	}
}

// addEnv adds env to c unless c sets a variable of that name itself.
func addEnv(c *corev1.Container, env corev1.EnvVar) {
	for _, e := range c.Env {
		if e.Name == env.Name {
			return
		}
	}
	c.Env = append(c.Env, env)
}
