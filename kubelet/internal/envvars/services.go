package envvars

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// MasterService is the Service in the default namespace whose variables
// every container gets (KUBERNETES_SERVICE_HOST, which
// rest.InClusterConfig reads), links or not.
const MasterService = "kubernetes"

// ErrServicesNotSynced is what a container's environment fails with
// before the Services were listed once: starting it without
// KUBERNETES_SERVICE_HOST would break its in-cluster clients.
var ErrServicesNotSynced = errors.New("services have not yet been read at least once, cannot construct envvars")

// ServiceSource lists Services for the service environment variables. A
// Source that is also a ServiceSource gives containers those variables
// (Resolve).
type ServiceSource interface {
	// ListServices lists the Services of a namespace; an error means
	// they are not known (yet).
	ListServices(namespace string) ([]*v1.Service, error)
}

// ListServices implements ServiceSource from the Services informer's
// lister; without one, there are no service variables (as a kubelet
// without an apiserver).
func (s APISource) ListServices(namespace string) ([]*v1.Service, error) {
	if s.Services == nil {
		return nil, nil
	}
	if s.ServicesSynced != nil && !s.ServicesSynced() {
		return nil, ErrServicesNotSynced
	}
	return s.Services.Services(namespace).List(labels.Everything())
}

// ServiceEnv returns the service variables of a pod in namespace: those
// of default/kubernetes always, and with links (the pod's
// enableServiceLinks, true unless set false) those of every Service of
// the namespace that has a cluster IP. A Service of the namespace named
// like the master service replaces it, as in Kubernetes.
func ServiceEnv(src ServiceSource, namespace string, links bool) (map[string]string, error) {
	chosen := map[string]*v1.Service{}
	defaults, err := src.ListServices(metav1.NamespaceDefault)
	if err != nil {
		return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
	}
	for _, s := range defaults {
		if s.Name == MasterService && hasClusterIP(s) {
			chosen[s.Name] = s
		}
	}
	if links {
		own := defaults
		if namespace != metav1.NamespaceDefault {
			if own, err = src.ListServices(namespace); err != nil {
				return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
			}
		}
		for _, s := range own {
			if hasClusterIP(s) {
				chosen[s.Name] = s
			}
		}
	}
	services := make([]*v1.Service, 0, len(chosen))
	for _, s := range chosen {
		services = append(services, s)
	}
	out := map[string]string{}
	for _, v := range FromServices(services) {
		out[v.Name] = v.Value
	}
	return out, nil
}

// hasClusterIP reports whether the Service has a virtual IP: not
// headless ("None") and not an ExternalName (none at all).
func hasClusterIP(s *v1.Service) bool {
	return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != v1.ClusterIPNone
}

// FromServices returns the variables that tell a container where the
// Services are, as Kubernetes (and Docker links before it) name them,
// for a Service "redis-primary" at 10.0.0.11 with port 6379/TCP named
// "redis":
//
//	REDIS_PRIMARY_SERVICE_HOST=10.0.0.11
//	REDIS_PRIMARY_SERVICE_PORT=6379
//	REDIS_PRIMARY_SERVICE_PORT_REDIS=6379      one per named port
//	REDIS_PRIMARY_PORT=tcp://10.0.0.11:6379    the first port
//	REDIS_PRIMARY_PORT_6379_TCP=tcp://10.0.0.11:6379
//	REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp
//	REDIS_PRIMARY_PORT_6379_TCP_PORT=6379
//	REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.0.0.11
//
// Services without a cluster IP or ports give none.
func FromServices(services []*v1.Service) []Var {
	var out []Var
	for _, s := range services {
		if !hasClusterIP(s) || len(s.Spec.Ports) == 0 {
			continue
		}
		prefix := envName(s.Name)
		ip := s.Spec.ClusterIP
		out = append(out,
			Var{prefix + "_SERVICE_HOST", ip},
			Var{prefix + "_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port))})
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out = append(out, Var{prefix + "_SERVICE_PORT_" + envName(p.Name), strconv.Itoa(int(p.Port))})
			}
		}
		for i, p := range s.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			lower := strings.ToLower(string(proto))
			port := strconv.Itoa(int(p.Port))
			url := lower + "://" + net.JoinHostPort(ip, port)
			if i == 0 {
				out = append(out, Var{prefix + "_PORT", url})
			}
			pp := prefix + "_PORT_" + port + "_" + strings.ToUpper(string(proto))
			out = append(out, Var{pp, url}, Var{pp + "_PROTO", lower}, Var{pp + "_PORT", port}, Var{pp + "_ADDR", ip})
		}
	}
	return out
}

// envName makes a Service or port name a variable name: upper case,
// dashes as underscores.
func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

// sortedNames returns the map's keys in order.
func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
