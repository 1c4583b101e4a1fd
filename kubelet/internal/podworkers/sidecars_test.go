package podworkers

import (
	"reflect"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// initPod has init containers (a name ending in "-sc" is a sidecar) and
// regular containers.
func initPod(policy v1.RestartPolicy, inits []string, regular ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: v1.PodSpec{RestartPolicy: policy}}
	always := v1.ContainerRestartPolicyAlways
	for _, n := range inits {
		c := v1.Container{Name: n}
		if len(n) > 3 && n[len(n)-3:] == "-sc" {
			c.RestartPolicy = &always
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	}
	for _, n := range regular {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: n})
	}
	return p
}

func ctr(name string, state kruntime.ContainerState, exit int) kruntime.Container {
	return kruntime.Container{Name: name, ID: name + "-0", State: state, ExitCode: exit, PID: 10}
}

func TestComputeInitActions(t *testing.T) {
	run, exit := kruntime.StateRunning, kruntime.StateExited
	tests := []struct {
		name        string
		pod         *v1.Pod
		have        []kruntime.Container
		start       []string
		initialized bool
		failed      bool
		// notStarted are running sidecars whose startup probe has not
		// succeeded.
		notStarted []string
	}{
		{name: "no init containers: initialized", pod: initPod(v1.RestartPolicyAlways, nil, "c"), initialized: true},
		{name: "the first init container starts first", pod: initPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "c"), start: []string{"i1"}},
		{name: "a running init container holds the next back", pod: initPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "c"),
			have: []kruntime.Container{ctr("i1", run, 0)}},
		{name: "a completed init container lets the next start", pod: initPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "c"),
			have: []kruntime.Container{ctr("i1", exit, 0)}, start: []string{"i2"}},
		{name: "every init container completed: initialized", pod: initPod(v1.RestartPolicyNever, []string{"i1", "i2"}, "c"),
			have: []kruntime.Container{ctr("i1", exit, 0), ctr("i2", exit, 0)}, initialized: true},
		{name: "a failed init container restarts under Always", pod: initPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "c"),
			have: []kruntime.Container{ctr("i1", exit, 1)}, start: []string{"i1"}},
		{name: "a failed init container restarts under OnFailure", pod: initPod(v1.RestartPolicyOnFailure, []string{"i1"}, "c"),
			have: []kruntime.Container{ctr("i1", exit, 1)}, start: []string{"i1"}},
		{name: "a failed init container fails a Never pod", pod: initPod(v1.RestartPolicyNever, []string{"i1", "i2"}, "c"),
			have: []kruntime.Container{ctr("i1", exit, 0), ctr("i2", exit, 1)}, failed: true},
		{name: "a created init container is started", pod: initPod(v1.RestartPolicyAlways, []string{"i1"}, "c"),
			have: []kruntime.Container{ctr("i1", kruntime.StateCreated, 0)}, start: []string{"i1"}},
		{name: "a running sidecar lets the next init container start", pod: initPod(v1.RestartPolicyNever, []string{"a-sc", "i2"}, "c"),
			have: []kruntime.Container{ctr("a-sc", run, 0)}, start: []string{"i2"}},
		{name: "a running sidecar not yet started (startup probe) holds the next init container", pod: initPod(v1.RestartPolicyNever, []string{"a-sc", "i2"}, "c"),
			have: []kruntime.Container{ctr("a-sc", run, 0)}, notStarted: []string{"a-sc"}},
		{name: "a running sidecar not yet started holds the regular containers", pod: initPod(v1.RestartPolicyAlways, []string{"i1", "a-sc"}, "c"),
			have: []kruntime.Container{ctr("i1", exit, 0), ctr("a-sc", run, 0)}, notStarted: []string{"a-sc"}},
		{name: "a running sidecar as last init container: initialized", pod: initPod(v1.RestartPolicyNever, []string{"i1", "a-sc"}, "c"),
			have: []kruntime.Container{ctr("i1", exit, 0), ctr("a-sc", run, 0)}, initialized: true},
		{name: "a sidecar that exited before initialization runs again first", pod: initPod(v1.RestartPolicyNever, []string{"a-sc", "i2"}, "c"),
			have: []kruntime.Container{ctr("a-sc", exit, 0)}, start: []string{"a-sc"}},
		{name: "after initialization an exited sidecar restarts whatever the policy", pod: initPod(v1.RestartPolicyNever, []string{"a-sc", "i2", "b-sc"}, "c"),
			have:  []kruntime.Container{ctr("a-sc", exit, 1), ctr("i2", exit, 0), ctr("b-sc", run, 0), ctr("c", run, 0)},
			start: []string{"a-sc"}, initialized: true},
		{name: "after initialization completed init containers are not run again", pod: initPod(v1.RestartPolicyAlways, []string{"i1", "a-sc"}, "c"),
			have: []kruntime.Container{ctr("a-sc", run, 0), ctr("c", exit, 1)}, initialized: true},
		{name: "a sidecar the runtime lost after initialization starts again", pod: initPod(v1.RestartPolicyAlways, []string{"a-sc"}, "c"),
			have: []kruntime.Container{ctr("c", run, 0)}, start: []string{"a-sc"}, initialized: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := func(c *v1.Container, _ *kruntime.Container) bool { return !slices.Contains(tt.notStarted, c.Name) }
			a := computeInitActions(tt.pod, &kruntime.Pod{Containers: tt.have}, started)
			var names []string
			for _, c := range a.start {
				names = append(names, c.Name)
			}
			if !reflect.DeepEqual(names, tt.start) || a.initialized != tt.initialized || a.failed != tt.failed {
				t.Errorf("start %v initialized %v failed %v, want %v %v %v", names, a.initialized, a.failed, tt.start, tt.initialized, tt.failed)
			}
		})
	}
}

func TestRegularContainersDone(t *testing.T) {
	run, exit := kruntime.StateRunning, kruntime.StateExited
	tests := []struct {
		name string
		pod  *v1.Pod
		have []kruntime.Container
		want bool
	}{
		{name: "Never and every regular container exited, sidecar running", pod: initPod(v1.RestartPolicyNever, []string{"a-sc"}, "c", "d"),
			have: []kruntime.Container{ctr("a-sc", run, 0), ctr("c", exit, 0), ctr("d", exit, 3)}, want: true},
		{name: "one regular container still running", pod: initPod(v1.RestartPolicyNever, []string{"a-sc"}, "c", "d"),
			have: []kruntime.Container{ctr("a-sc", run, 0), ctr("c", exit, 0), ctr("d", run, 0)}},
		{name: "one regular container never ran", pod: initPod(v1.RestartPolicyNever, []string{"a-sc"}, "c", "d"),
			have: []kruntime.Container{ctr("a-sc", run, 0), ctr("c", exit, 0)}},
		{name: "OnFailure and a failure runs again", pod: initPod(v1.RestartPolicyOnFailure, []string{"a-sc"}, "c"),
			have: []kruntime.Container{ctr("a-sc", run, 0), ctr("c", exit, 1)}},
		{name: "OnFailure and success is done", pod: initPod(v1.RestartPolicyOnFailure, []string{"a-sc"}, "c"),
			have: []kruntime.Container{ctr("a-sc", run, 0), ctr("c", exit, 0)}, want: true},
		{name: "Always is never done", pod: initPod(v1.RestartPolicyAlways, []string{"a-sc"}, "c"),
			have: []kruntime.Container{ctr("a-sc", run, 0), ctr("c", exit, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := regularContainersDone(tt.pod, &kruntime.Pod{Containers: tt.have}); got != tt.want {
				t.Errorf("done %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStopAfter(t *testing.T) {
	pod := initPod(v1.RestartPolicyAlways, []string{"a-sc", "i1", "b-sc"}, "c", "d")
	tests := []struct {
		name string
		want []string
	}{
		{name: "c"},
		{name: "i1"},
		{name: "b-sc", want: []string{"c", "d"}},
		{name: "a-sc", want: []string{"c", "d", "b-sc"}},
	}
	for _, tt := range tests {
		if got := stopAfter(pod, tt.name); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s stops after %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEphemeralTarget(t *testing.T) {
	share := true
	pod := initPod(v1.RestartPolicyAlways, nil, "c")
	ec := &v1.EphemeralContainer{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "dbg"}, TargetContainerName: "c"}
	running := &kruntime.Pod{Containers: []kruntime.Container{ctr("c", kruntime.StateRunning, 0)}}
	if pid, err := ephemeralTarget(pod, running, ec); err != nil || pid != 10 {
		t.Errorf("running target: %d %v, want 10", pid, err)
	}
	if _, err := ephemeralTarget(pod, &kruntime.Pod{}, ec); err == nil {
		t.Error("a target not running yet should hold the container back")
	}
	shared := pod.DeepCopy()
	shared.Spec.ShareProcessNamespace = &share
	if pid, err := ephemeralTarget(shared, &kruntime.Pod{}, ec); err != nil || pid != 0 {
		t.Errorf("shared namespace: %d %v, want 0", pid, err)
	}
}
