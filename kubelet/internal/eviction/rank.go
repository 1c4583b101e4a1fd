package eviction

import (
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Reason is the reason of an evicted pod's status and of its event.
const Reason = "Evicted"

// The messages and event annotations, as upstream's.
const (
	nodeLowMessageFmt       = "The node was low on resource: %v. "
	nodeConditionMessageFmt = "The node had condition: %v. "
	containerMessageFmt     = "Container %s was using %s, request is %s, has larger consumption of %v. "
	thresholdMetMessageFmt  = "Threshold quantity: %v, available: %v. "

	OffendingContainersKey      = "offending_containers"
	OffendingContainersUsageKey = "offending_containers_usage"
	StarvedResourceKey          = "starved_resource"
)

// observation is one signal's value: available of capacity.
type observation struct {
	available, capacity *resource.Quantity
	time                time.Time
}

type observations map[Signal]observation

// statsFunc gives a pod's usage, if it was observed.
type statsFunc func(*v1.Pod) (PodStats, bool)

// makeObservations derives the signals from a summary, as upstream's
// makeSignalObservations.
func makeObservations(s *Summary) (observations, statsFunc) {
	obs := observations{}
	bin := func(n int64) *resource.Quantity { return resource.NewQuantity(n, resource.BinarySI) }
	dec := func(n int64) *resource.Quantity { return resource.NewQuantity(n, resource.DecimalSI) }
	if m := s.Memory; m != nil {
		obs[SignalMemoryAvailable] = observation{available: bin(m.CapacityBytes - m.WorkingSetBytes), capacity: bin(m.CapacityBytes), time: s.Time}
	}
	if m := s.PodsMemory; m != nil {
		obs[SignalAllocatableMemoryAvailable] = observation{available: bin(m.CapacityBytes - m.WorkingSetBytes), capacity: bin(m.CapacityBytes), time: s.Time}
	}
	if fs := s.NodeFs; fs != nil {
		obs[SignalNodeFsAvailable] = observation{available: bin(fs.AvailableBytes), capacity: bin(fs.CapacityBytes), time: s.Time}
		obs[SignalNodeFsInodesFree] = observation{available: dec(fs.InodesFree), capacity: dec(fs.Inodes), time: s.Time}
	}
	if fs := s.ImageFs; fs != nil {
		obs[SignalImageFsAvailable] = observation{available: bin(fs.AvailableBytes), capacity: bin(fs.CapacityBytes), time: s.Time}
		obs[SignalImageFsInodesFree] = observation{available: dec(fs.InodesFree), capacity: dec(fs.Inodes), time: s.Time}
	}
	if p := s.PIDs; p != nil {
		obs[SignalPIDAvailable] = observation{available: dec(p.MaxPID - p.Processes), capacity: dec(p.MaxPID), time: s.Time}
	}
	return obs, func(pod *v1.Pod) (PodStats, bool) {
		ps, ok := s.Pods[pod.UID]
		return ps, ok
	}
}

// cmpFunc orders two pods: negative if p1 goes first.
type cmpFunc func(p1, p2 *v1.Pod) int

// orderedBy sorts pods by the comparisons in order, the first that
// tells them apart deciding.
func orderedBy(cmps ...cmpFunc) func([]*v1.Pod) {
	return func(pods []*v1.Pod) {
		sort.SliceStable(pods, func(i, j int) bool {
			for _, c := range cmps {
				if r := c(pods[i], pods[j]); r != 0 {
					return r < 0
				}
			}
			return false
		})
	}
}

// cmpBool puts true before false.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// priority puts lower priorities first.
func priority(p1, p2 *v1.Pod) int {
	a, b := corev1helpers.PodPriority(p1), corev1helpers.PodPriority(p2)
	switch {
	case a == b:
		return 0
	case a > b:
		return 1
	}
	return -1
}

// podRequest is the pod's effective request of a resource, as the
// scheduler counts it.
func podRequest(pod *v1.Pod, rn v1.ResourceName) resource.Quantity {
	q, ok := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})[rn]
	if !ok {
		return resource.Quantity{Format: resource.BinarySI}
	}
	return q
}

// usageFunc is a pod's usage of the resource under pressure.
type usageFunc func(PodStats) *resource.Quantity

func memoryUsage(ps PodStats) *resource.Quantity {
	return resource.NewQuantity(ps.MemoryWorkingSetBytes, resource.BinarySI)
}

func diskUsage(ps PodStats) *resource.Quantity {
	return resource.NewQuantity(ps.DiskBytes, resource.BinarySI)
}

func inodeUsage(ps PodStats) *resource.Quantity {
	return resource.NewQuantity(ps.Inodes, resource.DecimalSI)
}

// exceedsRequests puts the pods using more than they requested first;
// pods not observed go before all.
func exceedsRequests(stats statsFunc, usage usageFunc, rn v1.ResourceName) cmpFunc {
	return func(p1, p2 *v1.Pod) int {
		s1, ok1 := stats(p1)
		s2, ok2 := stats(p2)
		if !ok1 || !ok2 {
			return cmpBool(!ok1, !ok2)
		}
		r1, r2 := podRequest(p1, rn), podRequest(p2, rn)
		return cmpBool(usage(s1).Cmp(r1) > 0, usage(s2).Cmp(r2) > 0)
	}
}

// usageAboveRequests puts the pods using the most above their requests
// first.
func usageAboveRequests(stats statsFunc, usage usageFunc, rn v1.ResourceName) cmpFunc {
	return func(p1, p2 *v1.Pod) int {
		s1, ok1 := stats(p1)
		s2, ok2 := stats(p2)
		if !ok1 || !ok2 {
			return cmpBool(!ok1, !ok2)
		}
		u1, u2 := usage(s1), usage(s2)
		u1.Sub(podRequest(p1, rn))
		u2.Sub(podRequest(p2, rn))
		return u2.Cmp(*u1)
	}
}

// processes puts the pods with the most processes first.
func processes(stats statsFunc) cmpFunc {
	return func(p1, p2 *v1.Pod) int {
		s1, ok1 := stats(p1)
		s2, ok2 := stats(p2)
		if !ok1 || !ok2 {
			return cmpBool(!ok1, !ok2)
		}
		switch {
		case s1.Processes == s2.Processes:
			return 0
		case s1.Processes > s2.Processes:
			return -1
		}
		return 1
	}
}

// rankMemoryPressure orders pods for eviction under memory pressure:
// those above their requests, then by priority, then by usage above
// requests.
func rankMemoryPressure(pods []*v1.Pod, stats statsFunc) {
	orderedBy(exceedsRequests(stats, memoryUsage, v1.ResourceMemory), priority,
		usageAboveRequests(stats, memoryUsage, v1.ResourceMemory))(pods)
}

// rankPIDPressure orders pods by priority, then by processes.
func rankPIDPressure(pods []*v1.Pod, stats statsFunc) {
	orderedBy(priority, processes(stats))(pods)
}

// rankDiskPressure orders pods as memory, by disk usage against their
// ephemeral-storage requests. One file system holds images, containers,
// logs and volumes here, so every signal of it measures all of them.
func rankDiskPressure(pods []*v1.Pod, stats statsFunc) {
	orderedBy(exceedsRequests(stats, diskUsage, v1.ResourceEphemeralStorage), priority,
		usageAboveRequests(stats, diskUsage, v1.ResourceEphemeralStorage))(pods)
}

// rankInodePressure orders pods by inodes used (pods request none).
func rankInodePressure(pods []*v1.Pod, stats statsFunc) {
	orderedBy(exceedsRequests(stats, inodeUsage, resourceInodes), priority,
		usageAboveRequests(stats, inodeUsage, resourceInodes))(pods)
}

var signalToRank = map[Signal]func([]*v1.Pod, statsFunc){
	SignalMemoryAvailable:            rankMemoryPressure,
	SignalAllocatableMemoryAvailable: rankMemoryPressure,
	SignalPIDAvailable:               rankPIDPressure,
	SignalNodeFsAvailable:            rankDiskPressure,
	SignalImageFsAvailable:           rankDiskPressure,
	SignalNodeFsInodesFree:           rankInodePressure,
	SignalImageFsInodesFree:          rankInodePressure,
}

// evictionMessage is upstream's message of an eviction, and the
// annotations of its event.
func evictionMessage(rn v1.ResourceName, pod *v1.Pod, stats statsFunc, thresholds []Threshold, obs observations) (string, map[string]string) {
	annotations := map[string]string{}
	msg := fmt.Sprintf(nodeLowMessageFmt, rn)
	for _, t := range thresholds {
		if signalToResource[t.Signal] != rn {
			continue
		}
		if o, ok := obs[t.Signal]; ok {
			msg += fmt.Sprintf(thresholdMetMessageFmt, t.Value.quantity(o.capacity), o.available)
			break
		}
	}
	ps, ok := stats(pod)
	if !ok {
		return msg, annotations
	}
	containers := append(append([]v1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...)
	var exceeded, usages []string
	for _, cs := range ps.Containers {
		for _, c := range containers {
			if c.Name != cs.Name {
				continue
			}
			req := c.Resources.Requests[rn]
			var usage *resource.Quantity
			switch rn {
			case v1.ResourceMemory:
				usage = resource.NewQuantity(cs.MemoryWorkingSetBytes, resource.BinarySI)
			case v1.ResourceEphemeralStorage:
				usage = resource.NewQuantity(cs.DiskBytes, resource.BinarySI)
			}
			if usage != nil && usage.Cmp(req) > 0 {
				msg += fmt.Sprintf(containerMessageFmt, c.Name, usage.String(), req.String(), rn)
				exceeded = append(exceeded, c.Name)
				usages = append(usages, usage.String())
			}
			break
		}
	}
	annotations[OffendingContainersKey] = strings.Join(exceeded, ",")
	annotations[OffendingContainersUsageKey] = strings.Join(usages, ",")
	annotations[StarvedResourceKey] = string(rn)
	return msg, annotations
}

// The annotations of static and mirror pods, and the priority from which
// a pod is critical, as upstream's kubelet types.
const (
	configSourceAnnotationKey = "kubernetes.io/config.source"
	apiserverSource           = "api"
	systemCriticalPriority    = 2 * 1000000000
)

// isCriticalPod is upstream's IsCriticalPod: static and mirror pods and
// pods of system-critical priority are neither evicted nor refused.
func isCriticalPod(pod *v1.Pod) bool {
	if src, ok := pod.Annotations[configSourceAnnotationKey]; ok && src != apiserverSource {
		return true
	}
	if _, ok := pod.Annotations[v1.MirrorPodAnnotationKey]; ok {
		return true
	}
	return pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority
}

// isBestEffort reports whether the pod's QoS class is BestEffort: no
// container requests or limits cpu or memory.
func isBestEffort(pod *v1.Pod) bool {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass == v1.PodQOSBestEffort
	}
	nonZero := func(l v1.ResourceList) bool {
		for _, rn := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			if q, ok := l[rn]; ok && !q.IsZero() {
				return true
			}
		}
		return false
	}
	if pod.Spec.Resources != nil && (nonZero(pod.Spec.Resources.Requests) || nonZero(pod.Spec.Resources.Limits)) {
		return false
	}
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if nonZero(c.Resources.Requests) || nonZero(c.Resources.Limits) {
				return false
			}
		}
	}
	return true
}
