package podworkers

import (
	"cmp"
	"context"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
)

// Admission: before a pod's first container is made, the node checks that
// it can run the pod next to the pods it already runs, as Kubernetes'
// kubelet does (lifecycle/predicate.go): a pod bound by nodeName, or one
// the scheduler placed on a stale view, may ask for a hostPort another
// pod holds, or for more than the node has. A pod that does not fit is
// never started: it is Failed with the failed check's reason, for good,
// and its controller makes another.
//
// Pods are admitted in creation order, so of two pods that want the same
// port the older one runs: when a newer pod's worker asks first, the
// older pods the node has not decided on yet count as if admitted (if
// they fit).

// Admission reasons and messages, as Kubernetes' kubelet gives them.
const (
	ReasonNodePorts       = "NodePorts"
	ReasonNodeAffinity    = "NodeAffinity"
	ReasonTaintToleration = "TaintToleration"
	// ReasonOSSelector and ReasonOSNotSupported: the pod's
	// kubernetes.io/os label, or its spec.os, names another OS.
	ReasonOSSelector     = "PodOSSelectorNodeLabelDoesNotMatch"
	ReasonOSNotSupported = "PodOSNotSupported"
	// reasonInsufficientPrefix makes OutOfcpu, OutOfmemory, OutOfpods, …
	reasonInsufficientPrefix = "OutOf"

	msgNodePorts    = "node(s) didn't have free ports for the requested pod ports"
	msgNodeAffinity = "node(s) didn't match Pod's node affinity/selector"
	msgTaints       = "node(s) had taints that the pod didn't tolerate"
)

// rejection is why a pod may not run on its node; the zero value admits.
type rejection struct {
	Reason, Message string
}

func predicateFailed(name, desc string) *rejection {
	return &rejection{Reason: name, Message: fmt.Sprintf("Predicate %s failed: %s", name, desc)}
}

// admission is what the node decided for a pod.
type admission int

const (
	// admitted: the pod holds its ports and resources on the node until
	// its containers have stopped.
	admitted admission = iota + 1
	// rejected: the pod never runs.
	rejected
)

// check returns why pod cannot run on node beside active (the pods that
// hold the node's ports and resources), or nil. node may be nil when the
// kubelet has no Node object to check against: then only the checks that
// need none are made. The first failure is the one reported, in
// Kubernetes' order: OS, resources, node affinity, ports, taints.
func check(pod *v1.Pod, node *v1.Node, active []*v1.Pod) *rejection {
	if os, ok := pod.Labels[v1.LabelOSStable]; ok && os != goruntime.GOOS {
		return &rejection{Reason: ReasonOSSelector, Message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"}
	}
	if pod.Spec.OS != nil && string(pod.Spec.OS.Name) != goruntime.GOOS {
		return &rejection{Reason: ReasonOSNotSupported, Message: "Failed to admit pod as the OS field doesn't match node OS"}
	}
	if node != nil {
		if r := fitsResources(pod, node, active); r != nil {
			return r
		}
		if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
			return predicateFailed(ReasonNodeAffinity, msgNodeAffinity)
		}
	}
	if want := hostPorts(pod); len(want) > 0 {
		used := portSet{}
		for _, p := range active {
			for _, cp := range hostPorts(p) {
				used.add(cp)
			}
		}
		for _, cp := range want {
			if used.conflicts(cp) {
				return predicateFailed(ReasonNodePorts, msgNodePorts)
			}
		}
	}
	if node != nil && !isStaticPod(pod) {
		// Only NoExecute taints: a pod bound past a NoSchedule taint may
		// run, as in Kubernetes.
		_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations,
			func(t *v1.Taint) bool { return t.Effect == v1.TaintEffectNoExecute }, false)
		if untolerated {
			return predicateFailed(ReasonTaintToleration, msgTaints)
		}
	}
	return nil
}

// fitsResources checks the pod's requests, and the pod count, against the
// node's allocatable less what active requests (the scheduler's
// NodeResourcesFit, as the kubelet runs it).
func fitsResources(pod *v1.Pod, node *v1.Node, active []*v1.Pod) *rejection {
	alloc := node.Status.Allocatable
	if max, ok := alloc[v1.ResourcePods]; ok && int64(len(active))+1 > max.Value() {
		return insufficient(v1.ResourcePods, 1, int64(len(active)), max.Value())
	}
	want := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	used := v1.ResourceList{}
	for _, p := range active {
		for name, q := range resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}) {
			sum := used[name]
			sum.Add(q)
			used[name] = sum
		}
	}
	amount := func(l v1.ResourceList, name v1.ResourceName) int64 {
		q, ok := l[name]
		if !ok {
			return 0
		}
		if name == v1.ResourceCPU {
			return q.MilliValue()
		}
		return q.Value()
	}
	// cpu, memory and ephemeral storage first, then the rest by name, so
	// the reason given is the same every time.
	names := []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage}
	var others []v1.ResourceName
	for name := range want {
		if !slices.Contains(names, name) && name != v1.ResourcePods {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	for _, name := range append(names, others...) {
		req := amount(want, name)
		if req <= 0 {
			continue
		}
		if _, ok := alloc[name]; !ok && isExtendedResource(name) {
			// An extended resource the node does not know (a cluster
			// or DRA-backed one) is not the node's to check.
			continue
		}
		if req > amount(alloc, name)-amount(used, name) {
			return insufficient(name, req, amount(used, name), amount(alloc, name))
		}
	}
	return nil
}

func insufficient(name v1.ResourceName, requested, used, capacity int64) *rejection {
	return &rejection{
		Reason:  reasonInsufficientPrefix + string(name),
		Message: fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", name, requested, used, capacity),
	}
}

// isExtendedResource reports whether a resource is outside the
// kubernetes.io domain (example.com/gpu), as v1helper.IsExtendedResourceName.
func isExtendedResource(name v1.ResourceName) bool {
	s := string(name)
	return strings.Contains(s, "/") && !strings.Contains(s, v1.ResourceDefaultNamespacePrefix) &&
		!strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix)
}

// isStaticPod reports whether the pod came from a file or URL rather
// than the API (its mirror pod carries the source).
func isStaticPod(pod *v1.Pod) bool {
	src := pod.Annotations["kubernetes.io/config.source"]
	return src != "" && src != "api"
}

// hostPorts lists the ports of the pod's containers that are bound on the
// node: its containers' and its sidecars' (restartable init containers
// run as long as the pod), as the scheduler's GetHostPorts.
func hostPorts(pod *v1.Pod) []v1.ContainerPort {
	var out []v1.ContainerPort
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways {
			continue
		}
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				out = append(out, p)
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// bindAll is the host IP a port with none is bound on.
const bindAll = "0.0.0.0"

// portSet holds host ports in use, by host IP then protocol and port
// (the scheduler's HostPortInfo).
type portSet map[string]map[string]bool

func portKey(cp v1.ContainerPort) (ip, key string) {
	ip, proto := cp.HostIP, string(cp.Protocol)
	if ip == "" {
		ip = bindAll
	}
	if proto == "" {
		proto = string(v1.ProtocolTCP)
	}
	return ip, fmt.Sprintf("%s/%d", proto, cp.HostPort)
}

func (s portSet) add(cp v1.ContainerPort) {
	ip, k := portKey(cp)
	if s[ip] == nil {
		s[ip] = map[string]bool{}
	}
	s[ip][k] = true
}

// conflicts reports whether cp clashes with a port in use: the same
// protocol and port on the same IP, where 0.0.0.0 is every IP.
func (s portSet) conflicts(cp v1.ContainerPort) bool {
	ip, k := portKey(cp)
	if ip == bindAll {
		for _, ports := range s {
			if ports[k] {
				return true
			}
		}
		return false
	}
	return s[bindAll][k] || s[ip][k]
}

// decide returns why pod may not run, deciding as the node would if it
// took the pods in creation order: the pods admitted already first, then
// the undecided ones older than pod, each counted only if it fits. pods
// are the node's pods from the cache; decided holds the node's decisions.
func decide(pod *v1.Pod, node *v1.Node, pods []*v1.Pod, decided map[types.UID]admission) *rejection {
	var active, older []*v1.Pod
	for _, p := range pods {
		if p.UID == pod.UID || p.Spec.NodeName != pod.Spec.NodeName || status.IsTerminal(p.Status.Phase) {
			continue
		}
		switch decided[p.UID] {
		case admitted:
			// Being deleted or not, it holds its ports until its
			// containers have stopped (then it is no longer admitted).
			active = append(active, p)
		case rejected:
		default:
			if p.DeletionTimestamp == nil && createdBefore(p, pod) {
				older = append(older, p)
			}
		}
	}
	slices.SortFunc(older, func(a, b *v1.Pod) int {
		switch {
		case createdBefore(a, b):
			return -1
		case createdBefore(b, a):
			return 1
		}
		return 0
	})
	for _, p := range older {
		if check(p, node, active) == nil {
			active = append(active, p)
		}
	}
	return check(pod, node, active)
}

// createdBefore orders pods by creation time (a second's resolution),
// then by namespace, name and UID so that equal times order the same on
// every call.
func createdBefore(a, b *v1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return cmp.Or(
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.UID, b.UID),
	) < 0
}

// admit decides, once, whether the pod may run on its node, and reports
// whether it may. A pod the runtime has something of was admitted before
// (by this kubelet before a restart) and keeps its place. A rejected pod
// is written Failed with the reason, and an event says why.
func (m *Manager) admit(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod) bool {
	m.admitMu.Lock()
	verdict, ok := m.admission[pod.UID]
	var why *rejection
	if !ok {
		verdict = admitted
		if rp == nil {
			node := m.node(pod.Spec.NodeName)
			if node == nil && len(hostPorts(pod)) == 0 {
				// Nothing to check that depends on the other pods:
				// spare listing them.
				why = check(pod, nil, nil)
			} else {
				why = decide(pod, node, m.nodePods(), m.admission)
			}
			for _, h := range m.opts.AdmitHandlers {
				if why != nil {
					break
				}
				if ok, reason, message := h(pod); !ok {
					why = &rejection{Reason: reason, Message: message}
				}
			}
			if why != nil {
				verdict = rejected
			}
		}
		m.admission[pod.UID] = verdict
	}
	m.admitMu.Unlock()
	if verdict == admitted {
		return true
	}
	if why != nil {
		m.log.Info("pod rejected", zap.String("pod", key(pod)), zap.String("reason", why.Reason), zap.String("message", why.Message))
		m.event(pod, "", v1.EventTypeWarning, why.Reason, "%s", why.Message)
		w.rejection = why
	}
	if w.rejection != nil {
		m.patchStatus(ctx, w, pod, pod.Status, status.Rejected(pod, w.rejection.Reason, w.rejection.Message, time.Now()))
	}
	return false
}

// release forgets the node's decision on a pod whose containers have
// stopped for good: it no longer holds ports or resources.
func (m *Manager) release(uid types.UID) {
	m.admitMu.Lock()
	delete(m.admission, uid)
	m.admitMu.Unlock()
}

// node returns the Node to check pods against, or nil.
func (m *Manager) node(name string) *v1.Node {
	if m.opts.GetNode == nil {
		return nil
	}
	return m.opts.GetNode(name)
}

// nodePods lists the pods of the kubelet's nodes from the cache.
func (m *Manager) nodePods() []*v1.Pod {
	if m.opts.PodUIDs == nil {
		return nil
	}
	var out []*v1.Pod
	for _, uid := range m.opts.PodUIDs() {
		if p := m.opts.GetPod(uid); p != nil {
			out = append(out, p)
		}
	}
	return out
}
