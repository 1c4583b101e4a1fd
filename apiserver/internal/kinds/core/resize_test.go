package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// res builds a resource list from name/quantity pairs.
func res(pairs ...string) corev1.ResourceList {
	list := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		list[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return list
}

// burstable makes the pod's app container ask for 100m cpu and 100Mi of
// memory, limited to 200m and 200Mi, and run, reporting its resources as
// a kubelet that can resize does.
func burstable(p *corev1.Pod) {
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: res("cpu", "100m", "memory", "100Mi"),
		Limits:   res("cpu", "200m", "memory", "200Mi"),
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:      "app",
		State:     corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		Resources: p.Spec.Containers[0].Resources.DeepCopy(),
	}}
}

// throughResize writes pod over old through the resize subresource, as
// the store does: prepare, then validate.
func throughResize(pod, old *corev1.Pod) []string {
	s := podStrategy{}
	s.PrepareForSubresourceUpdate(apiresource.Resize, pod, old)
	var got []string
	for _, e := range s.ValidateSubresourceUpdate(apiresource.Resize, pod, old) {
		got = append(got, e.Field+": "+e.Type.String()+": "+e.Detail)
	}
	return got
}

// storedPod is a created pod whose status the kubelet then wrote as
// mutate sets it.
func storedPod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := createdPod(mutate)
	if mutate != nil {
		written := newPod()
		mutate(written)
		written.Status.Phase, written.Status.QOSClass = pod.Status.Phase, pod.Status.QOSClass
		pod.Status = written.Status
	}
	return pod
}

func TestResizeValidation(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Pod)
		update func(*corev1.Pod)
		want   []string
	}{
		{"cpu and memory requests and limits may change", burstable, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: res("cpu", "150m", "memory", "50Mi"),
				Limits:   res("cpu", "300m", "memory", "150Mi"),
			}
		}, nil},
		{"limits may be added", func(p *corev1.Pod) {
			burstable(p)
			p.Spec.Containers[0].Resources.Limits = nil
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = res("cpu", "500m")
		}, nil},
		// Kubernetes keeps a changed resizePolicy, then refuses it: only
		// resources change.
		{"the resize policy may not change", burstable, func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer}}
		}, []string{"spec: Forbidden: only cpu and memory resources are mutable"}},
		{"a BestEffort pod may not ask for memory", nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = res("memory", "100Mi")
		}, []string{"spec: Invalid value: Pod QOS Class may not change as a result of resizing"}},
		{"a Burstable pod may not become Guaranteed", burstable, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = res("cpu", "200m", "memory", "200Mi")
		}, []string{"spec: Invalid value: Pod QOS Class may not change as a result of resizing"}},
		{"limits may not be removed", func(p *corev1.Pod) {
			burstable(p)
			p.Spec.Containers[0].Resources.Requests = res("cpu", "200m", "memory", "200Mi")
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = nil
		}, []string{
			"spec: Invalid value: Pod QOS Class may not change as a result of resizing",
			"spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed",
		}},
		{"requests may not be removed", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = res("cpu", "100m")
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = nil
			p.Spec.Containers[0].Resources.Limits = nil
		}, []string{
			"spec: Invalid value: Pod QOS Class may not change as a result of resizing",
			"spec.containers[0].resources.requests: Forbidden: resource requests cannot be removed",
		}},
		{"ephemeral storage may not change", func(p *corev1.Pod) {
			burstable(p)
			p.Spec.Containers[0].Resources.Requests["ephemeral-storage"] = resource.MustParse("1")
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["ephemeral-storage"] = resource.MustParse("3")
		}, []string{"spec: Forbidden: only cpu and memory resources are mutable"}},
		{"containers may not be reordered", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0], p.Spec.Containers[1] = p.Spec.Containers[1], p.Spec.Containers[0]
		}, []string{
			"spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize",
			"spec.containers[1].name: Forbidden: containers may not be renamed or reordered on resize",
		}},
		{"containers may not be added", nil, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox",
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: "File", ImagePullPolicy: "Always"})
		}, []string{"spec.containers: Forbidden: containers may not be added or removed on resize"}},
		{"an init container's resources may change", func(p *corev1.Pod) {
			burstable(p)
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: res("cpu", "100m")}}}
		}, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Resources.Requests = res("cpu", "50m")
		}, nil},
		{"static pods cannot be resized", func(p *corev1.Pod) {
			burstable(p)
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = res("cpu", "150m", "memory", "100Mi")
		}, []string{"[]: Forbidden: static pods cannot be resized"}},
		{"windows pods cannot be resized", func(p *corev1.Pod) {
			burstable(p)
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = res("cpu", "150m", "memory", "100Mi")
		}, []string{"[]: Forbidden: windows pods cannot be resized"}},
		{"a pod on a node that reports no container resources cannot be resized", func(p *corev1.Pod) {
			burstable(p)
			p.Status.ContainerStatuses[0].Resources = nil
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = res("cpu", "150m", "memory", "100Mi")
		}, []string{"spec: Forbidden: Pod running on node without support for resize"}},
		{"pods with pod-level resources cannot be resized", func(p *corev1.Pod) {
			burstable(p)
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: res("cpu", "1")}
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = res("cpu", "150m", "memory", "100Mi")
		}, []string{"[]: Forbidden: resize of pods with pod-level resources is forbidden when InPlacePodLevelResourcesVerticalScalingEnabled feature gate is disabled"}},
		{"resize policy RestartContainer is refused when the pod never restarts", func(p *corev1.Pod) {
			burstable(p)
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.RestartContainer}}
		}, []string{"spec.containers[0].resizePolicy: Invalid value: must be 'NotRequired' when pod `restartPolicy` is 'Never'",
			"spec: Forbidden: only cpu and memory resources are mutable"}},
		{"resize policy names only cpu and memory", burstable, func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: "ephemeral-storage", RestartPolicy: corev1.NotRequired}}
		}, []string{`spec.containers[0].resizePolicy: Unsupported value: supported values: "cpu", "memory"`,
			"spec: Forbidden: only cpu and memory resources are mutable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := storedPod(tt.old)
			pod := old.DeepCopy()
			tt.update(pod)
			eq(t, throughResize(pod, old), tt.want)
		})
	}
}

// A resize changes the containers' resources and nothing else it is
// sent, and is a new generation.
func TestResizeKeepsAllButResources(t *testing.T) {
	old := storedPod(burstable)
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "nginx:1.26"
	pod.Spec.Containers[0].Resources.Limits = res("cpu", "300m", "memory", "300Mi")
	pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(5))
	pod.Status.Phase = corev1.PodFailed
	pod.Labels = map[string]string{"changed": "yes"}
	pod.Finalizers = []string{"example.com/keep"}
	if got := throughResize(pod, old); got != nil {
		t.Fatalf("resize refused: %v", got)
	}
	eq(t, pod.Spec.Containers[0].Image, "nginx:1.25")
	eq(t, pod.Spec.ActiveDeadlineSeconds, (*int64)(nil))
	eq(t, pod.Status.Phase, corev1.PodPending)
	eq(t, pod.Finalizers, []string(nil))
	eq(t, pod.Spec.Containers[0].Resources.Limits, res("cpu", "300m", "memory", "300Mi"))
	eq(t, pod.Generation, old.Generation+1)

	// Sending the pod back unchanged is no new generation.
	again := pod.DeepCopy()
	if got := throughResize(again, pod); got != nil {
		t.Fatalf("resize refused: %v", got)
	}
	eq(t, again.Generation, pod.Generation)
}

// A limit sent without its request is also the request, as the pod's
// defaults make it on every write.
func TestResizeDefaultsRequestsFromLimits(t *testing.T) {
	old := storedPod(func(p *corev1.Pod) {
		burstable(p)
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: res("cpu", "100m")}
		p.Status.ContainerStatuses[0].Resources = p.Spec.Containers[0].Resources.DeepCopy()
	})
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Resources.Limits = res("cpu", "500m", "memory", "64Mi")
	if got := throughResize(pod, old); got != nil {
		t.Fatalf("resize refused: %v", got)
	}
	eq(t, pod.Spec.Containers[0].Resources.Requests, res("cpu", "100m", "memory", "64Mi"))
}

func TestResizePolicyOnCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"cpu and memory policies", func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{
				{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
				{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer},
			}
		}, nil},
		{"a resource twice", func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{
				{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
				{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
			}
		}, []string{"spec.containers[0].resizePolicy[1]: Duplicate value"}},
		{"an unknown restart policy", func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: "Sometimes"}}
		}, []string{"spec.containers[0].resizePolicy: Unsupported value"}},
		{"no restart policy", func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU}}
		}, []string{"spec.containers[0].resizePolicy: Required value"}},
		{"RestartContainer on a non-sidecar init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox",
				ResizePolicy: []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.RestartContainer}}}}
		}, []string{"spec.initContainers[0].resizePolicy[0].restartPolicy: Invalid value"}},
		{"RestartContainer on a sidecar", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "side", Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				ResizePolicy: []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.RestartContainer}}}}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, podStrategy{}.Validate(defaultedPod(tt.mutate)), tt.want...)
		})
	}
}
