package drain

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func pod(name, ownerKind string, emptyDir bool, phase corev1.PodPhase) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Status: corev1.PodStatus{Phase: phase}}
	if ownerKind != "" {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: ownerKind, Name: "owner", Controller: ptr.To(true)}}
	}
	if emptyDir {
		p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	return p
}

func TestDecide(t *testing.T) {
	pods := []corev1.Pod{
		pod("managed", "ReplicaSet", false, corev1.PodRunning),
		pod("daemon", "DaemonSet", false, corev1.PodRunning),
		pod("bare", "", false, corev1.PodRunning),
		pod("scratch", "ReplicaSet", true, corev1.PodRunning),
		pod("done", "", false, corev1.PodSucceeded),
	}
	mirror := pod("static", "", false, corev1.PodRunning)
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
	pods = append(pods, mirror)
	cases := []struct {
		name     string
		opts     Options
		evict    []string
		errors   []string
		warnings []string
	}{
		{"without flags only the safe pods go, the rest block", Options{}, []string{"managed", "done"},
			[]string{
				"cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ns/daemon",
				"cannot delete Pods that declare no controller (use --force to override): ns/bare",
				"cannot delete Pods with local storage (use --delete-emptydir-data to override): ns/scratch",
			},
			[]string{"ignoring mirror pods: ns/static"}},
		{"flags let every pod go but DaemonSet and mirror pods", Options{IgnoreDaemonSets: true, Force: true, DeleteEmptyDirData: true},
			[]string{"managed", "bare", "scratch", "done"}, nil,
			[]string{"deleting Pods that declare no controller: ns/bare", "ignoring DaemonSet-managed Pods: ns/daemon", "ignoring mirror pods: ns/static"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(pods, tc.opts)
			var evict []string
			for _, e := range p.Evict {
				evict = append(evict, e.Name)
			}
			if !slices.Equal(evict, tc.evict) {
				t.Errorf("evict %v, want %v", evict, tc.evict)
			}
			if got := Messages(p.Errors); !slices.Equal(got, tc.errors) {
				t.Errorf("errors %q, want %q", got, tc.errors)
			}
			if got := Messages(p.Warnings); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings %q, want %q", got, tc.warnings)
			}
		})
	}
}
