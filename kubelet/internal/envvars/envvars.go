// Package envvars resolves a container's environment from its pod spec:
// plain values, envFrom, and valueFrom references to ConfigMaps, Secrets,
// the pod's own fields (downward API) and its resources, plus the
// Services' variables (KUBERNETES_SERVICE_HOST and the Docker-links
// style ones), and expands $(VAR) references in values, commands and
// arguments as Kubernetes does.
package envvars

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Source reads the ConfigMaps and Secrets a pod refers to.
type Source interface {
	ConfigMap(ctx context.Context, namespace, name string) (*v1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*v1.Secret, error)
}

// APISource reads ConfigMaps and Secrets from the apiserver and, with
// Services set, Services from an informer's cache: it is a
// ServiceSource.
type APISource struct {
	Client kubernetes.Interface
	// Services lists the cluster's Services (those with a cluster IP
	// are enough); nil gives containers no service variables.
	Services corelisters.ServiceLister
	// ServicesSynced reports whether Services has listed them once.
	ServicesSynced func() bool
}

// ConfigMap implements Source.
func (s APISource) ConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	return s.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}

// Secret implements Source.
func (s APISource) Secret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	return s.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

// Var is one resolved variable.
type Var struct{ Name, Value string }

// Resolve returns the container's variables from its spec, in order, with
// later definitions of a name replacing earlier ones, then, when src is
// also a ServiceSource, the service variables the spec does not define
// (sorted by name). Values' $(VAR) references see the spec's variables
// defined before them and the service variables, as in Kubernetes. An
// unresolvable required reference is an error naming it
// (CreateContainerConfigError).
func Resolve(ctx context.Context, src Source, pod *v1.Pod, c *v1.Container, podIP, hostIP string) ([]Var, error) {
	var services map[string]string
	if ss, ok := src.(ServiceSource); ok {
		links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
		var err error
		if services, err = ServiceEnv(ss, pod.Namespace, links); err != nil {
			return nil, err
		}
	}
	var out []Var
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, Var{name, value})
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := src.ConfigMap(ctx, pod.Namespace, from.ConfigMapRef.Name)
			if err != nil {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				set(from.Prefix+k, v)
			}
		case from.SecretRef != nil:
			s, err := src.Secret(ctx, pod.Namespace, from.SecretRef.Name)
			if err != nil {
				if optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			for k, v := range s.Data {
				set(from.Prefix+k, string(v))
			}
		}
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		v, ok := services[name]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, Expand(e.Value, lookup))
			continue
		}
		v, skip, err := valueFrom(ctx, src, pod, c, e.ValueFrom, podIP, hostIP)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	for _, name := range sortedNames(services) {
		if _, ok := index[name]; !ok {
			set(name, services[name])
		}
	}
	return out, nil
}

func optional(b *bool) bool { return b != nil && *b }

func valueFrom(ctx context.Context, src Source, pod *v1.Pod, c *v1.Container, vf *v1.EnvVarSource, podIP, hostIP string) (string, bool, error) {
	switch {
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.ConfigMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if optional(ref.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if b, bok := cm.BinaryData[ref.Key]; bok {
				return string(b), false, nil
			}
			if optional(ref.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, false, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		s, err := src.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if optional(ref.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if sv, sok := s.StringData[ref.Key]; sok {
				return sv, false, nil
			}
			if optional(ref.Optional) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), false, nil
	case vf.FieldRef != nil:
		v, err := FieldValue(pod, vf.FieldRef.FieldPath, podIP, hostIP)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		v, err := ResourceValue(pod, c, vf.ResourceFieldRef)
		return v, false, err
	}
	return "", false, fmt.Errorf("valueFrom: no source")
}

// FieldValue reads a downward-API field path of the pod.
func FieldValue(pod *v1.Pod, path, podIP, hostIP string) (string, error) {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	key, ok := strings.CutSuffix(rest, "']")
	return key, ok
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k + "=" + strconv.Quote(m[k]))
	}
	return b.String()
}

// ResourceValue reads a container's request or limit, divided by the
// divisor and rounded up, as Kubernetes does.
func ResourceValue(pod *v1.Pod, c *v1.Container, ref *v1.ResourceFieldSelector) (string, error) {
	target := c
	if ref.ContainerName != "" {
		target = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				target = &pod.Spec.Containers[i]
			}
		}
		if target == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var q resource.Quantity
	var ok bool
	switch ref.Resource {
	case "limits.cpu":
		q, ok = target.Resources.Limits[v1.ResourceCPU]
		if !ok {
			return strconv.Itoa(runtime.NumCPU()), nil
		}
	case "limits.memory":
		q, ok = target.Resources.Limits[v1.ResourceMemory]
		if !ok {
			return strconv.FormatInt(int64(math.MaxInt64)/divisor.Value(), 10), nil
		}
	case "limits.ephemeral-storage":
		q = target.Resources.Limits[v1.ResourceEphemeralStorage]
	case "requests.cpu":
		q = target.Resources.Requests[v1.ResourceCPU]
	case "requests.memory":
		q = target.Resources.Requests[v1.ResourceMemory]
	case "requests.ephemeral-storage":
		q = target.Resources.Requests[v1.ResourceEphemeralStorage]
	default:
		return "", fmt.Errorf("resourceFieldRef: unsupported resource %q", ref.Resource)
	}
	if ref.Resource == "limits.cpu" || ref.Resource == "requests.cpu" {
		v := int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))
		return strconv.FormatInt(v, 10), nil
	}
	v := int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))
	return strconv.FormatInt(v, 10), nil
}

// Expand replaces $(NAME) with the variable's value; $$ is a literal $,
// and a reference to an unknown name is kept as written, as Kubernetes
// does.
func Expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
