package kubelet

import (
	"context"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"coracle.dev/kubelet/internal/eviction"
	"coracle.dev/kubelet/internal/nodestatus"
	"coracle.dev/shared/version"
)

// startNodeStatus starts a node status manager per node: it registers
// the Node, keeps its status and renews its Lease. With runc, the node's
// spec.podCIDR configures the pod network.
func (k *Kubelet) startNodeStatus(ctx context.Context) error {
	capacity, allocatable, err := k.resources()
	if err != nil {
		return err
	}
	k.managers = map[string]*nodestatus.Manager{}
	for _, n := range k.nodes {
		k.managers[n] = nodestatus.New(k.nodeOptions(n, capacity, allocatable))
	}
	if k.volumes != nil {
		// A pod's volumes mounted or unmounted: the node's volumesInUse
		// is written now rather than at the next status check. Set
		// before the pod workers start.
		k.volumes.Changed = func(node string) {
			if m := k.managers[node]; m != nil {
				m.Kick()
			}
		}
	}
	if k.network != nil {
		k.watchOwnNode(ctx, k.managers[k.opts.NodeName])
	}
	for _, m := range k.managers {
		k.Go(ctx, func(ctx context.Context) error { m.Run(ctx); return nil })
	}
	return nil
}

// watchOwnNode follows the node's spec.podCIDR and configures CNI with it.
func (k *Kubelet) watchOwnNode(ctx context.Context, m *nodestatus.Manager) {
	nf := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", k.opts.NodeName).String()
		}))
	inf := nf.Core().V1().Nodes().Informer()
	handle := func(obj any) {
		node, ok := obj.(*v1.Node)
		if !ok {
			return
		}
		m.ObserveNode(node)
		if cidr := m.PodCIDR(); cidr != "" && cidr != k.network.PodCIDR() {
			if err := k.network.SetPodCIDR(cidr); err != nil {
				k.log.Error("configure pod network", zap.String("podCIDR", cidr), zap.Error(err))
				return
			}
			m.Kick()
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: handle, UpdateFunc: func(_, obj any) { handle(obj) },
	})
	nf.Start(ctx.Done())
	k.OnClose(func(context.Context) error { nf.Shutdown(); return nil })
}

// nodeAddresses are the addresses node name reports: the node IP, and
// the host name (the node's name for simulated nodes).
func (k *Kubelet) nodeAddresses(name string) []v1.NodeAddress {
	hostname := name
	if len(k.nodes) == 1 {
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
	return []v1.NodeAddress{
		{Type: v1.NodeInternalIP, Address: k.nodeIP},
		{Type: v1.NodeHostName, Address: hostname},
	}
}

func (k *Kubelet) nodeOptions(name string, capacity, allocatable v1.ResourceList) nodestatus.Options {
	labels := map[string]string{
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       goruntime.GOOS,
		"kubernetes.io/arch":     goruntime.GOARCH,
		"beta.kubernetes.io/os":  goruntime.GOOS,
	}
	if k.opts.Runtime == RuntimeFake {
		labels["coracle.dev/fake-node"] = "true"
	}
	o := nodestatus.Options{
		NodeName: name, Client: k.client, Log: k.log.Named("nodestatus"), Labels: labels, Addresses: k.nodeAddresses(name),
		Capacity: capacity, Allocatable: allocatable, NodeInfo: k.nodeInfo(),
		KubeletPort: int32(k.serverPort()), PodCIDR: k.opts.PodCIDR,
		RenewInterval: k.opts.NodeLeaseRenewInterval, CheckInterval: k.opts.NodeStatusUpdateFrequency,
		ReportInterval: k.opts.NodeStatusReportFrequency,
		Recorder:       k.recorders[name],
	}
	if k.opts.Runtime == RuntimeRunc {
		o.Ready = k.runtime.Status
		// The pressure conditions are the eviction manager's.
		o.Checks = map[v1.NodeConditionType]nodestatus.Check{}
		for _, c := range []v1.NodeConditionType{v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
			o.Checks[c] = func() (v1.ConditionStatus, string, string) {
				if k.eviction.IsUnderPressure(c) {
					return v1.ConditionTrue, "", ""
				}
				return v1.ConditionFalse, "", ""
			}
		}
		// The PersistentVolumes mounted for the node's pods. None is
		// attachable here (hostPath, local, nfs), so volumesAttached
		// stays empty.
		o.VolumesInUse = func() []v1.UniqueVolumeName { return k.volumes.InUse(name) }
	}
	return o
}

func (k *Kubelet) resources() (v1.ResourceList, v1.ResourceList, error) {
	if k.opts.Runtime == RuntimeFake {
		c := v1.ResourceList{
			v1.ResourceCPU:              resource.MustParse("32"),
			v1.ResourceMemory:           resource.MustParse("256Gi"),
			v1.ResourcePods:             *resource.NewQuantity(int64(k.opts.MaxPods), resource.DecimalSI),
			v1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
		}
		return c, c.DeepCopy(), nil
	}
	c, err := nodestatus.HostCapacity(goruntime.NumCPU(), k.opts.RootDir, k.opts.MaxPods)
	if err != nil {
		return nil, nil, err
	}
	thresholds, err := k.opts.evictionThresholds()
	if err != nil {
		return nil, nil, err
	}
	system, kube, err := k.opts.reserved()
	if err != nil {
		return nil, nil, err
	}
	return c, eviction.Allocatable(c, eviction.Reservation(c, system, kube, thresholds)), nil
}

// newEviction builds the node-pressure eviction manager (runc only): it
// observes the node's memory, disks and processes and the pods' cgroup,
// reports the pressure conditions the node status shows (a change is
// written at once), frees unused images under disk pressure and evicts
// pods through their workers. Its metric kubelet_evictions is on the
// status server's /metrics.
func (k *Kubelet) newEviction() error {
	if k.opts.Runtime != RuntimeRunc {
		return nil
	}
	thresholds, err := k.opts.evictionThresholds()
	if err != nil {
		return err
	}
	system, kube, err := k.opts.reserved()
	if err != nil {
		return err
	}
	capacity, err := nodestatus.HostCapacity(goruntime.NumCPU(), k.opts.RootDir, k.opts.MaxPods)
	if err != nil {
		return err
	}
	// The pods' share of memory: what upstream makes the pods' cgroup's
	// limit (capacity less the reservations, not the eviction threshold).
	podsMemory := capacity.Memory().DeepCopy()
	podsMemory.Sub(*system.Memory())
	podsMemory.Sub(*kube.Memory())
	node := k.opts.NodeName
	o := eviction.Options{
		Thresholds: thresholds, PressureTransitionPeriod: k.opts.EvictionPressureTransitionPeriod,
		MaxPodGracePeriodSeconds: k.opts.EvictionMaxPodGracePeriod,
		Summary: eviction.NewHost(eviction.HostOptions{
			CgroupRoot: k.opts.CgroupRoot, RootDir: k.opts.RootDir, ImageDir: filepath.Join(k.opts.RootDir, "images"),
			PodLogDir: k.opts.PodLogDir, PodsMemoryCapacity: podsMemory.Value(),
		}),
		ActivePods:         k.activePods,
		Killer:             k.workers,
		PodCleanedUp:       eviction.PodCgroupCleanedUp(k.opts.CgroupRoot),
		DeleteUnusedImages: k.deleteUnusedImages,
		ConditionsChanged: func() {
			if m := k.managers[node]; m != nil {
				m.Kick()
			}
		},
		Recorder: k.recorders[node],
		NodeRef:  &v1.ObjectReference{Kind: "Node", Name: node, UID: types.UID(node)},
		Log:      k.log.Named("eviction"),
		Interval: k.opts.EvictionMonitoringInterval,
	}
	if k.status != nil {
		o.Metrics = k.status.Registry()
	}
	k.eviction = eviction.New(o)
	return nil
}

// activePods are the pods the eviction manager may evict: bound to the
// node, neither terminal nor being deleted, as upstream's active pods.
func (k *Kubelet) activePods() []*v1.Pod {
	var out []*v1.Pod
	for _, p := range k.cachedPods() {
		if p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func (k *Kubelet) nodeInfo() v1.NodeSystemInfo {
	info := v1.NodeSystemInfo{
		OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
		ContainerRuntimeVersion: k.runtime.Type() + "://" + k.runtime.Version(),
		KubeletVersion:          version.Get().GitVersion,
		KubeProxyVersion:        version.Get().GitVersion,
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		info.KernelVersion = strings.TrimSpace(string(b))
	}
	info.OSImage = osImage()
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		info.MachineID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		info.BootID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/sys/class/dmi/id/product_uuid"); err == nil {
		info.SystemUUID = strings.TrimSpace(string(b))
	}
	return info
}

func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// defaultIP is the first IPv4 address of the interface with the default
// route (from /proc/net/route), or of any non-loopback interface.
func defaultIP() string {
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 2 || f[1] != "00000000" {
				continue
			}
			if ip := interfaceIPv4(f[0]); ip != "" {
				return ip
			}
		}
	}
	ifaces, _ := net.Interfaces()
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback == 0 {
			if ip := interfaceIPv4(i.Name); ip != "" {
				return ip
			}
		}
	}
	return "127.0.0.1"
}

func interfaceIPv4(name string) string {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return ""
	}
	addrs, _ := iface.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}
