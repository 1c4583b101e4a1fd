package runc

import (
	"context"
	"strings"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/network/cni"
)

// attachNetwork gives the pod its network namespace on the pod network,
// with its hostPorts mapped (CNI ADD), and returns its IP; a pod on the
// host network stays in the node's.
func (r *Runtime) attachNetwork(ctx context.Context, rec podRecord, hostname string) (string, error) {
	sb, err := r.opts.Network.Setup(ctx, cni.Pod{
		UID: rec.UID, Namespace: rec.Namespace, Name: rec.Name, Hostname: hostname,
		Ports: rec.Ports, HostNetwork: rec.HostNetwork,
	})
	if err != nil {
		return "", err
	}
	return sb.IP, nil
}

// detachNetwork undoes attachNetwork (CNI DEL) from the pod's record: the
// pod object may be gone.
func (r *Runtime) detachNetwork(ctx context.Context, rec podRecord) error {
	return r.opts.Network.Teardown(ctx, cni.Pod{
		UID: rec.UID, Namespace: rec.Namespace, Name: rec.Name, Ports: rec.Ports, HostNetwork: rec.HostNetwork,
	})
}

// portMappings are the hostPorts of the pod's containers.
func portMappings(pod *v1.Pod) []cni.PortMapping {
	var out []cni.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, cni.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}
