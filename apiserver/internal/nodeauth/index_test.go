package nodeauth

import (
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func indexedPod(namespace, name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: corev1.PodSpec{NodeName: node}}
}

func podNames(t *testing.T, x *PodIndex, node string) []string {
	t.Helper()
	pods, err := x.PodsOnNode(node)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	slices.Sort(names)
	return names
}

func TestPodIndex(t *testing.T) {
	steps := []struct {
		name   string
		apply  func(*PodIndex)
		byNode map[string][]string
	}{
		{"an unscheduled pod is on no node", func(x *PodIndex) { x.Set(indexedPod("a", "p1", "")) },
			map[string][]string{"n1": nil, "": nil}},
		{"binding puts it on its node", func(x *PodIndex) { x.Set(indexedPod("a", "p1", "n1")) },
			map[string][]string{"n1": {"a/p1"}}},
		{"same name in another namespace is another pod", func(x *PodIndex) { x.Set(indexedPod("b", "p1", "n1")) },
			map[string][]string{"n1": {"a/p1", "b/p1"}}},
		{"a pod recreated on another node moves", func(x *PodIndex) { x.Set(indexedPod("a", "p1", "n2")) },
			map[string][]string{"n1": {"b/p1"}, "n2": {"a/p1"}}},
		{"a deleted pod goes", func(x *PodIndex) { x.Delete("b", "p1") },
			map[string][]string{"n1": nil, "n2": {"a/p1"}}},
		{"deleting an unknown pod changes nothing", func(x *PodIndex) { x.Delete("c", "p9") },
			map[string][]string{"n1": nil, "n2": {"a/p1"}}},
	}
	x := NewPodIndex()
	for _, s := range steps {
		s.apply(x)
		for node, want := range s.byNode {
			if got := podNames(t, x, node); !slices.Equal(got, want) {
				t.Errorf("%s: PodsOnNode(%q) = %v, want %v", s.name, node, got, want)
			}
		}
	}
	if p, err := x.Pod("a", "p1"); err != nil || p.Spec.NodeName != "n2" {
		t.Errorf("Pod(a, p1) = %v, %v", p, err)
	}
	if _, err := x.Pod("b", "p1"); !apierrors.IsNotFound(err) {
		t.Errorf("Pod of a deleted pod: err = %v, want NotFound", err)
	}
}

// TestPodIndexConcurrent is for the race detector: writers and readers
// at once.
func TestPodIndexConcurrent(t *testing.T) {
	x := NewPodIndex()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				node := []string{"n1", "n2"}[(w+i)%2]
				x.Set(indexedPod("ns", "p", node))
				_, _ = x.PodsOnNode(node)
				_, _ = x.Pod("ns", "p")
				if i%7 == 0 {
					x.Delete("ns", "p")
				}
			}
		}()
	}
	wg.Wait()
	total := len(podNames(t, x, "n1")) + len(podNames(t, x, "n2"))
	if total > 1 {
		t.Fatalf("one pod is on %d nodes", total)
	}
}
