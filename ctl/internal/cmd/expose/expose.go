// Package expose is `ctl expose`: a Service selecting the pods of a
// deployment, replica set, stateful set, daemon set, replication
// controller, pod or service, on the ports they declare.
package expose

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/creator"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/workload"
)

// New is the expose command.
func New(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var files objects.Files
	var port, targetPort, protocol, svcType, name, selector, clusterIP, labelSpec string
	cmd := &cobra.Command{
		Use:   "expose (-f FILENAME | TYPE NAME) [--port=port] [--protocol=TCP|UDP|SCTP] [--target-port=number-or-name] [--name=name] [--type=type]",
		Short: "Take a replication controller, service, deployment or pod and expose it as a new Kubernetes service",
		Long: `Expose a resource as a new Kubernetes service.

The service selects the pods of the resource: a deployment's or replica set's
selector, a pod's labels. The port defaults to the first container port.`,
		Example: helptext.Examples(`
# Create a service for a deployment, which serves on port 80 and connects to the containers on port 8000
ctl expose deployment web --port=80 --target-port=8000

# Create a service for a pod, serving on the port its container exposes
ctl expose pod web-1 --name=web-1

# Expose a deployment on every node's port
ctl expose deploy web --port=80 --type=NodePort`),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, err := objects.Select(cmd.Context(), env, objects.Selection{Args: args, Files: &files})
			if err != nil {
				return err
			}
			if len(infos) != 1 {
				return cmderr.Usage(cmd.CommandPath(), "exactly one resource is required")
			}
			obj := infos[0].Object
			sel := selector
			if sel == "" {
				if sel, err = workload.Selector(obj); err != nil {
					return err
				}
			}
			selMap, err := labels.ConvertSelectorToLabelsMap(sel)
			if err != nil {
				return fmt.Errorf("couldn't convert expose selector %q to a map: %w", sel, err)
			}
			ports, err := servicePorts(obj, port, targetPort, protocol)
			if err != nil {
				return err
			}
			svcName := name
			if svcName == "" {
				svcName = obj.GetName()
			}
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: svcName, Labels: obj.GetLabels()},
				Spec:       corev1.ServiceSpec{Selector: selMap, Ports: ports, Type: corev1.ServiceType(svcType), ClusterIP: clusterIP},
			}
			if labelSpec != "" {
				if svc.Labels, err = labels.ConvertSelectorToLabelsMap(labelSpec); err != nil {
					return err
				}
			}
			c, err := creator.New(env, &w)
			if err != nil {
				return err
			}
			return c.CreateTyped(cmd.Context(), svc, obj.GetNamespace(), "exposed")
		},
	}
	files.Add(cmd, "identifying the resource to expose a service")
	f := cmd.Flags()
	f.StringVar(&port, "port", "", "The port that the service should serve on. Copied from the resource being exposed, if unspecified")
	f.StringVar(&targetPort, "target-port", "", "Name or number for the port on the container that the service should direct traffic to. Optional.")
	f.StringVar(&protocol, "protocol", "", "The network protocol for the service to be created. Default is 'TCP'.")
	f.StringVar(&svcType, "type", "", "Type for this service: ClusterIP, NodePort, LoadBalancer, or ExternalName. Default is 'ClusterIP'.")
	f.StringVar(&name, "name", "", "The name for the newly created object.")
	f.StringVar(&selector, "selector", "", "A label selector to use for this service. Only equality-based selector requirements are supported.")
	f.StringVar(&clusterIP, "cluster-ip", "", "ClusterIP to be assigned to the service. Leave empty to auto-allocate, or set to 'None' to create a headless service.")
	f.StringVarP(&labelSpec, "labels", "l", "", "Labels to apply to the service created by this call.")
	w.Add(cmd)
	return cmd
}

// containerPorts lists the container ports of an object's pod template.
func containerPorts(obj *unstructured.Unstructured) []map[string]any {
	path, ok := workload.PodSpecPath(obj.GetKind())
	if !ok {
		return nil
	}
	containers, _, _ := unstructured.NestedSlice(obj.Object, append(path, "containers")...)
	var out []map[string]any
	for _, c := range containers {
		cm, _ := c.(map[string]any)
		ps, _ := cm["ports"].([]any)
		for _, p := range ps {
			if pm, ok := p.(map[string]any); ok {
				out = append(out, pm)
			}
		}
	}
	return out
}

func servicePorts(obj *unstructured.Unstructured, portFlag, target, protocol string) ([]corev1.ServicePort, error) {
	var ports []corev1.ServicePort
	if portFlag != "" {
		for i, p := range strings.Split(portFlag, ",") {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("invalid port %q: %w", p, err)
			}
			sp := corev1.ServicePort{Port: int32(n), Protocol: corev1.Protocol(protocol)}
			if strings.Contains(portFlag, ",") {
				sp.Name = fmt.Sprintf("port-%d", i+1)
			}
			ports = append(ports, sp)
		}
	} else if obj.GetKind() == "Service" {
		ps, _, _ := unstructured.NestedSlice(obj.Object, "spec", "ports")
		for i, p := range ps {
			pm, _ := p.(map[string]any)
			n, _ := pm["port"].(int64)
			sp := corev1.ServicePort{Port: int32(n), Protocol: corev1.Protocol(protocol)}
			if len(ps) > 1 {
				sp.Name = fmt.Sprintf("port-%d", i+1)
			}
			ports = append(ports, sp)
		}
	} else {
		cps := containerPorts(obj)
		for i, cp := range cps {
			n, _ := cp["containerPort"].(int64)
			proto := protocol
			if p, ok := cp["protocol"].(string); ok && proto == "" {
				proto = p
			}
			sp := corev1.ServicePort{Port: int32(n), Protocol: corev1.Protocol(proto)}
			if len(cps) > 1 {
				sp.Name = fmt.Sprintf("port-%d", i+1)
			}
			ports = append(ports, sp)
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("couldn't find port via --port flag or introspection")
	}
	for i := range ports {
		switch {
		case target != "":
			ports[i].TargetPort = intstr.Parse(target)
		default:
			ports[i].TargetPort = intstr.FromInt32(ports[i].Port)
		}
	}
	return ports, nil
}
