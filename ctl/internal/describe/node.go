package describe

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Node writes a node's description: roles, taints, conditions, addresses,
// capacity and allocatable, system info, the pods on it with their
// requests and limits, the resources those add up to, and the events.
// pods are the node's non-terminated pods.
// lease is the node's heartbeat Lease, or nil with leaseErr saying why.
func Node(out io.Writer, node *corev1.Node, lease *coordinationv1.Lease, leaseErr error, pods []corev1.Pod, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", node.Name)
	w.line(l0, "Roles:\t%s\n", roles(node.Labels))
	w.mapLines(l0, "Labels", node.Labels)
	w.mapLines(l0, "Annotations", node.Annotations)
	w.line(l0, "CreationTimestamp:\t%s\n", timestamp(node.CreationTimestamp))
	var taints []string
	for _, t := range node.Spec.Taints {
		taints = append(taints, t.ToString())
	}
	w.stringList(l0, "Taints", taints)
	w.line(l0, "Unschedulable:\t%v\n", node.Spec.Unschedulable)
	switch {
	case lease != nil:
		w.line(l0, "Lease:\n")
		holder := "<unset>"
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		w.line(l1, "HolderIdentity:\t%s\n", holder)
		acquire, renew := "<unset>", "<unset>"
		if lease.Spec.AcquireTime != nil {
			acquire = lease.Spec.AcquireTime.Time.UTC().Format(time.RFC1123Z)
		}
		if lease.Spec.RenewTime != nil {
			renew = lease.Spec.RenewTime.Time.UTC().Format(time.RFC1123Z)
		}
		w.line(l1, "AcquireTime:\t%s\n", acquire)
		w.line(l1, "RenewTime:\t%s\n", renew)
	case leaseErr != nil:
		w.line(l0, "Lease:\tFailed to get lease: %s\n", leaseErr)
	}
	if len(node.Status.Conditions) == 0 {
		w.line(l0, "Conditions:\t<none>\n")
	} else {
		w.flush()
		w.line(l0, "Conditions:\n")
		w.line(l1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
		w.line(l1, "----\t------\t-----------------\t------------------\t------\t-------\n")
		for _, c := range node.Status.Conditions {
			w.line(l1, "%v \t%v \t%s \t%s \t%v \t%v\n", c.Type, c.Status, timestamp(c.LastHeartbeatTime), timestamp(c.LastTransitionTime), c.Reason, c.Message)
		}
		w.flush()
	}
	if len(node.Status.Addresses) == 0 {
		w.line(l0, "Addresses:\t<none>\n")
	} else {
		w.line(l0, "Addresses:\n")
		for _, a := range node.Status.Addresses {
			w.line(l1, "%s:\t%s\n", a.Type, a.Address)
		}
	}
	w.resourceList("Capacity", node.Status.Capacity)
	w.resourceList("Allocatable", node.Status.Allocatable)
	info := node.Status.NodeInfo
	w.line(l0, "System Info:\n")
	w.line(l1, "Machine ID:\t%s\n", info.MachineID)
	w.line(l1, "System UUID:\t%s\n", info.SystemUUID)
	w.line(l1, "Boot ID:\t%s\n", info.BootID)
	w.line(l1, "Kernel Version:\t%s\n", info.KernelVersion)
	w.line(l1, "OS Image:\t%s\n", info.OSImage)
	w.line(l1, "Operating System:\t%s\n", info.OperatingSystem)
	w.line(l1, "Architecture:\t%s\n", info.Architecture)
	w.line(l1, "Container Runtime Version:\t%s\n", info.ContainerRuntimeVersion)
	w.line(l1, "Kubelet Version:\t%s\n", info.KubeletVersion)
	w.line(l1, "Kube-Proxy Version:\t%s\n", info.KubeProxyVersion)
	if node.Spec.PodCIDR != "" {
		w.line(l0, "PodCIDR:\t%s\n", node.Spec.PodCIDR)
		w.line(l0, "PodCIDRs:\t%s\n", strings.Join(node.Spec.PodCIDRs, ","))
	}
	if node.Spec.ProviderID != "" {
		w.line(l0, "ProviderID:\t%s\n", node.Spec.ProviderID)
	}
	w.nodePods(node, pods)
	w.events(events)
	return w.flush()
}

func roles(labels map[string]string) string {
	var rs []string
	for k, v := range labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
				rs = append(rs, r)
			}
		case k == "kubernetes.io/role" && v != "":
			rs = append(rs, v)
		}
	}
	if len(rs) == 0 {
		return "<none>"
	}
	sort.Strings(rs)
	return strings.Join(rs, ",")
}

func (w *writer) resourceList(title string, rl corev1.ResourceList) {
	if len(rl) == 0 {
		return
	}
	w.line(l0, "%s:\n", title)
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		q := rl[corev1.ResourceName(n)]
		w.line(l1, "%s:\t%s\n", n, q.String())
	}
}

// podTotals adds up a pod's container requests and limits (init
// containers count by their maximum, as the scheduler counts them).
func podTotals(pod *corev1.Pod) (reqs, limits corev1.ResourceList) {
	reqs, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addList(reqs, c.Resources.Requests)
		addList(limits, c.Resources.Limits)
	}
	for _, c := range pod.Spec.InitContainers {
		maxList(reqs, c.Resources.Requests)
		maxList(limits, c.Resources.Limits)
	}
	return reqs, limits
}

func addList(into, add corev1.ResourceList) {
	for n, q := range add {
		cur := into[n]
		cur.Add(q)
		into[n] = cur
	}
}

func maxList(into, other corev1.ResourceList) {
	for n, q := range other {
		if cur, ok := into[n]; !ok || q.Cmp(cur) > 0 {
			into[n] = q.DeepCopy()
		}
	}
}

// fraction is "100m (5%)" of allocatable.
func fraction(q resource.Quantity, alloc resource.Quantity, cpu bool) string {
	pct := int64(0)
	if cpu {
		if a := alloc.MilliValue(); a > 0 {
			pct = q.MilliValue() * 100 / a
		}
	} else if a := alloc.Value(); a > 0 {
		pct = q.Value() * 100 / a
	}
	return fmt.Sprintf("%s (%d%%)", q.String(), pct)
}

func (w *writer) nodePods(node *corev1.Node, pods []corev1.Pod) {
	alloc := node.Status.Allocatable
	if len(alloc) == 0 {
		alloc = node.Status.Capacity
	}
	w.line(l0, "Non-terminated Pods:\t(%d in total)\n", len(pods))
	w.flush()
	w.line(l1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
	w.line(l1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
	totalReq, totalLim := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range pods {
		p := &pods[i]
		reqs, limits := podTotals(p)
		addList(totalReq, reqs)
		addList(totalLim, limits)
		w.line(l1, "%s\t%s\t\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name,
			fraction(reqs[corev1.ResourceCPU], alloc[corev1.ResourceCPU], true),
			fraction(limits[corev1.ResourceCPU], alloc[corev1.ResourceCPU], true),
			fraction(reqs[corev1.ResourceMemory], alloc[corev1.ResourceMemory], false),
			fraction(limits[corev1.ResourceMemory], alloc[corev1.ResourceMemory], false),
			w.since(p.CreationTimestamp))
	}
	w.flush()
	w.line(l0, "Allocated resources:\n")
	w.line(l1, "(Total limits may be over 100 percent, i.e., overcommitted.)\n")
	w.line(l1, "Resource\tRequests\tLimits\n")
	w.line(l1, "--------\t--------\t------\n")
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		cpu := n == corev1.ResourceCPU
		w.line(l1, "%s\t%s\t%s\n", n, fraction(totalReq[n], alloc[n], cpu), fraction(totalLim[n], alloc[n], cpu))
	}
	w.flush()
}
