package runc

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/network/cni"
)

func TestNamespaces(t *testing.T) {
	sb := &cni.Sandbox{NetNS: "/ns/net", IPCNS: "/ns/ipc", UTSNS: "/ns/uts"}
	hostNet := &cni.Sandbox{IPCNS: "/ns/ipc"}
	own := []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.IPCNamespace, Path: "/ns/ipc"},
		{Type: specs.NetworkNamespace, Path: "/ns/net"}, {Type: specs.UTSNamespace, Path: "/ns/uts"}}
	tests := []struct {
		name  string
		sb    *cni.Sandbox
		spec  v1.PodSpec
		pidNS string
		want  []specs.LinuxNamespace
	}{
		{name: "a PID namespace of its own, the pod's others", sb: sb, want: own},
		{name: "the pod's shared or a target's PID namespace is joined", sb: sb, pidNS: "/proc/7/ns/pid",
			want: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace, Path: "/proc/7/ns/pid"}, {Type: specs.IPCNamespace, Path: "/ns/ipc"},
				{Type: specs.NetworkNamespace, Path: "/ns/net"}, {Type: specs.UTSNamespace, Path: "/ns/uts"}}},
		{name: "hostPID and hostIPC stay in the node's", sb: sb, spec: v1.PodSpec{HostPID: true, HostIPC: true},
			want: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: "/ns/net"}, {Type: specs.UTSNamespace, Path: "/ns/uts"}}},
		{name: "hostNetwork: the pod's IPC only", sb: hostNet, spec: v1.PodSpec{HostNetwork: true},
			want: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.IPCNamespace, Path: "/ns/ipc"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := namespaces(tt.sb, &v1.Pod{Spec: tt.spec}, tt.pidNS)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("namespaces\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
