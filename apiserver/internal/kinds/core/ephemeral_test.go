package core

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// debugger is the ephemeral container kubectl debug adds.
func debugger(name string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "busybox", Stdin: true, TTY: true},
		TargetContainerName:      "app",
	}
}

// createdPod is a pod as stored after create.
func createdPod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := defaultedPod(mutate)
	podStrategy{}.PrepareForCreate(pod)
	return pod
}

// throughEphemeralContainers writes pod over old through the
// ephemeralcontainers subresource, as the store does: prepare, then
// validate.
func throughEphemeralContainers(pod, old *corev1.Pod) []string {
	s := podStrategy{}
	s.PrepareForSubresourceUpdate(apiresource.EphemeralContainers, pod, old)
	var got []string
	for _, e := range s.ValidateSubresourceUpdate(apiresource.EphemeralContainers, pod, old) {
		got = append(got, e.Field+": "+e.Type.String())
	}
	return got
}

func TestEphemeralContainersUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Pod)
		update func(*corev1.Pod)
		want   []string
	}{
		{"one may be added", nil, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, debugger("debug"))
		}, nil},
		{"another may be added, in any order", func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("one")} }, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("two"), p.Spec.EphemeralContainers[0]}
		}, nil},
		{"none may be removed", func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("one")} }, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = nil
		}, []string{"spec.ephemeralContainers: Forbidden"}},
		{"none may be changed", func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("one")} }, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers[0].Image = "alpine"
		}, []string{"spec.ephemeralContainers: Forbidden"}},
		{"names are unique among all containers", nil, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("app")}
		}, []string{"spec.ephemeralContainers[0].name: Duplicate value"}},
		{"names are unique among ephemeral containers", nil, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("debug"), debugger("debug")}
		}, []string{"spec.ephemeralContainers[1].name: Duplicate value"}},
		{"the target must be one of the pod's containers", nil, func(p *corev1.Pod) {
			d := debugger("debug")
			d.TargetContainerName = "nope"
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{d}
		}, []string{"spec.ephemeralContainers[0].targetContainerName: Not found"}},
		{"ports, probes, lifecycle and resources are refused", nil, func(p *corev1.Pod) {
			d := debugger("debug")
			d.Ports = []corev1.ContainerPort{{ContainerPort: 80}}
			d.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
			d.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}}
			d.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			d.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{d}
		}, []string{"spec.ephemeralContainers[0].ports: Forbidden", "spec.ephemeralContainers[0].readinessProbe: Forbidden",
			"spec.ephemeralContainers[0].lifecycle: Forbidden", "spec.ephemeralContainers[0].resources: Forbidden",
			"spec.ephemeralContainers[0].restartPolicy: Forbidden"}},
		{"a subPath mount is refused", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, func(p *corev1.Pod) {
			d := debugger("debug")
			d.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "x"}}
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{d}
		}, []string{"spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden"}},
		{"an invalid container is refused", nil, func(p *corev1.Pod) {
			d := debugger("Debug")
			d.Image = ""
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{d}
		}, []string{"spec.ephemeralContainers[0].name: Invalid value", "spec.ephemeralContainers[0].image: Required value"}},
		{"other changes are dropped, not refused", nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "nginx:2"
			p.Labels = map[string]string{"changed": "yes"}
			p.Status.Phase = corev1.PodFailed
		}, nil},
		{"a static pod's mirror takes none", func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		}, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("debug")}
		}, []string{"[]: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := createdPod(tt.old)
			pod := old.DeepCopy()
			if tt.update != nil {
				tt.update(pod)
			}
			got := throughEphemeralContainers(pod, old)
			if !sameSet(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestEphemeralContainersMessages(t *testing.T) {
	old := createdPod(func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("one")} })
	pod := old.DeepCopy()
	pod.Spec.EphemeralContainers = nil
	errs := podStrategy{}.ValidateSubresourceUpdate(apiresource.EphemeralContainers, pod, old)
	if len(errs) != 1 || errs[0].Detail != "existing ephemeral containers \"one\" may not be removed\n" {
		t.Errorf("removing: %v", errs)
	}
	pod = old.DeepCopy()
	pod.Spec.EphemeralContainers[0].Image = "alpine"
	errs = podStrategy{}.ValidateSubresourceUpdate(apiresource.EphemeralContainers, pod, old)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Detail, "existing ephemeral containers \"one\" may not be changed\n") || !strings.Contains(errs[0].Detail, "alpine") {
		t.Errorf("changing: %v", errs)
	}
}

func TestEphemeralContainersKeepTheRestAndCountGenerations(t *testing.T) {
	old := createdPod(func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} })
	eq(t, old.Generation, int64(1))
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "nginx:2"
	pod.Labels["app"] = "other"
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("debug")}
	podStrategy{}.PrepareForSubresourceUpdate(apiresource.EphemeralContainers, pod, old)
	eq(t, pod.Spec.Containers[0].Image, "nginx:1.25")
	eq(t, pod.Labels["app"], "web")
	eq(t, pod.Generation, int64(2))
	// The new container gets a container's defaults.
	eq(t, pod.Spec.EphemeralContainers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	eq(t, pod.Spec.EphemeralContainers[0].ImagePullPolicy, corev1.PullAlways)

	// Nothing new: the same generation.
	again := pod.DeepCopy()
	podStrategy{}.PrepareForSubresourceUpdate(apiresource.EphemeralContainers, again, pod)
	eq(t, again.Generation, int64(2))
}

func TestPodGeneration(t *testing.T) {
	old := createdPod(nil)
	eq(t, old.Generation, int64(1))
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "nginx:2"
	podStrategy{}.PrepareForUpdate(pod, old)
	eq(t, pod.Generation, int64(2))
	same := pod.DeepCopy()
	same.Labels = map[string]string{"a": "b"}
	podStrategy{}.PrepareForUpdate(same, pod)
	eq(t, same.Generation, int64(2))
}

func TestEphemeralContainersNotOnCreate(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("debug")} })
	checkErrs(t, podStrategy{}.Validate(pod), "spec.ephemeralContainers: Forbidden")
}

func TestPodSubresourcesOtherThanEphemeralContainers(t *testing.T) {
	old := createdPod(nil)
	pod := old.DeepCopy()
	pod.Spec.NodeName = "n1"
	// Binding's own handler sets the node: the strategy leaves it.
	podStrategy{}.PrepareForSubresourceUpdate(apiresource.Binding, pod, old)
	eq(t, pod.Spec.NodeName, "n1")
	checkErrs(t, podStrategy{}.ValidateSubresourceUpdate(apiresource.Binding, pod, old))
	// Status writes are judged as before.
	st := old.DeepCopy()
	st.Status.Phase = "Bogus"
	checkErrs(t, podStrategy{}.ValidateSubresourceUpdate(apiresource.Status, st, old), "status.phase: Unsupported value")
}
