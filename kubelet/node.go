package kubelet

import (
	"context"
	"net"
	"os"
	goruntime "runtime"
	"strings"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

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
		o.Checks = nodestatus.HostChecks(k.opts.RootDir, nodestatus.DefaultThresholds)
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
	return c, nodestatus.Allocatable(c, nodestatus.DefaultThresholds), nil
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
