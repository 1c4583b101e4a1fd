// Package kubelet is the node agent as a library: it registers its Node
// (or, with the fake runtime, many simulated ones), heartbeats, watches
// the pods bound to it and runs them with runc, CNI networking and images
// pulled from OCI registries, and serves their logs and exec over HTTPS
// to the apiserver.
//
//	opts := kubelet.DefaultOptions()   // or flags, see AddFlags
//	k, err := kubelet.New(opts)
//	err = k.Start(ctx)
//	<-k.Ready()
//	defer k.Close()
//
// Close stops the kubelet, not the containers: a kubelet started again on
// the same --root-dir adopts them.
package kubelet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kubelet/internal/envvars"
	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/network/cni"
	"coracle.dev/kubelet/internal/nodestatus"
	"coracle.dev/kubelet/internal/podworkers"
	"coracle.dev/kubelet/internal/prober"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/runtime/fake"
	"coracle.dev/kubelet/internal/runtime/runc"
	"coracle.dev/kubelet/internal/server"
	"coracle.dev/kubelet/internal/volumes"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/statusserver"
	"coracle.dev/shared/version"
)

// Kubelet is a running node agent.
type Kubelet struct {
	opts   Options
	log    *zap.Logger
	client kubernetes.Interface
	events kubernetes.Interface // events only, rate-limited on their own
	rest   *rest.Config
	nodes  []string
	nodeIP string

	runtime kruntime.Runtime
	images  *images.Store    // nil with the fake runtime
	network *cni.Network     // nil with the fake runtime
	volumes *volumes.Manager // nil with the fake runtime
	probes  *prober.Manager  // nil with the fake runtime
	fakeImg *fakeImages

	factory     informers.SharedInformerFactory
	podInformer cache.SharedIndexInformer
	broadcaster record.EventBroadcaster
	recorders   map[string]record.EventRecorder
	managers    map[string]*nodestatus.Manager
	workers     *podworkers.Manager
	server      *server.Server
	status      *statusserver.Server

	ready  chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
}

// uidIndex indexes the pod cache by UID, the key of pod workers.
const uidIndex = "uid"

// New checks the options and builds a kubelet; Start runs it.
func New(opts Options) (*Kubelet, error) {
	if opts.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--node-name: %w", err)
		}
		opts.NodeName = strings.ToLower(h)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	k := &Kubelet{opts: opts, log: opts.Log, nodes: opts.nodeNames(), ready: make(chan struct{})}
	cfg := opts.RESTConfig
	if cfg == nil {
		var err error
		if cfg, err = kubeconfig.RESTConfig(opts.Kubeconfig); err != nil {
			return nil, err
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "coracle-kubelet/" + version.String()
	n := len(k.nodes)
	cfg.QPS, cfg.Burst = opts.KubeAPIQPS*float32(n), opts.KubeAPIBurst*n
	k.rest = cfg
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	k.client = client
	// Events have a client (and rate limit) of their own, as Kubernetes'
	// kubelet: a burst of events never delays a status write.
	ecfg := rest.CopyConfig(cfg)
	ecfg.QPS, ecfg.Burst = opts.EventQPS*float32(n), opts.EventBurst*n
	if k.events, err = kubernetes.NewForConfig(ecfg); err != nil {
		return nil, err
	}
	k.nodeIP = opts.NodeIP
	if k.nodeIP == "" {
		k.nodeIP = defaultIP()
	}
	if err := os.MkdirAll(opts.RootDir, 0o700); err != nil {
		return nil, err
	}
	switch opts.Runtime {
	case RuntimeFake:
		k.runtime = fake.New(opts.FakeStartupDelay)
		k.fakeImg = &fakeImages{}
	case RuntimeRunc:
		if err := k.newRuncRuntime(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *Kubelet) newRuncRuntime() error {
	o := k.opts
	mirrors := map[string]string{}
	for _, m := range o.RegistryMirror {
		from, to, _ := strings.Cut(m, "=")
		mirrors[from] = to
	}
	store, err := images.Open(images.Options{Dir: filepath.Join(o.RootDir, "images"), Mirrors: mirrors, Log: k.log.Named("images")})
	if err != nil {
		return err
	}
	k.images = store
	k.network = cni.New(cni.Options{
		BinDir: o.CNIBinDir, ConfDir: o.CNIConfDir, StateDir: filepath.Join(o.RootDir, "cni"),
		Bridge: o.BridgeName, NetworkName: o.NetworkName, Log: k.log.Named("cni"),
	})
	if o.PodCIDR != "" {
		if err := k.network.SetPodCIDR(o.PodCIDR); err != nil {
			return err
		}
	}
	maxSize, err := resource.ParseQuantity(o.ContainerLogMaxSize)
	if err != nil {
		return fmt.Errorf("--container-log-max-size %q: %w", o.ContainerLogMaxSize, err)
	}
	rt, err := runc.New(runc.Options{
		RootDir: o.RootDir, Runc: o.Runc, CgroupRoot: o.CgroupRoot, Images: store, Network: k.network,
		ShimPath: o.ShimPath, LogMaxSize: maxSize.Value(), LogMaxFiles: o.ContainerLogMaxFiles,
		Log: k.log.Named("runc"),
	})
	if err != nil {
		return err
	}
	k.runtime = rt
	k.volumes = &volumes.Manager{Dir: filepath.Join(o.RootDir, "volumes"), Src: envvars.APISource{Client: k.client}}
	return nil
}

// Start registers the node(s) and runs the kubelet in the background until
// Close (or ctx ends).
func (k *Kubelet) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	k.cancel = cancel

	k.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	k.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.events.CoreV1().Events("")})
	k.recorders = map[string]record.EventRecorder{}
	k.managers = map[string]*nodestatus.Manager{}
	nodeSet := map[string]bool{}
	for _, n := range k.nodes {
		nodeSet[n] = true
		k.recorders[n] = k.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: n})
	}

	selector := fields.OneTermEqualSelector("spec.nodeName", k.opts.NodeName).String()
	if len(k.nodes) > 1 {
		// One watch for every simulated node, not one each.
		selector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	}
	k.factory = informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	k.podInformer = k.factory.Core().V1().Pods().Informer()
	if err := k.podInformer.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*v1.Pod); ok {
			return []string{string(p.UID)}, nil
		}
		return nil, nil
	}}); err != nil {
		return err
	}

	k.workers = podworkers.New(podworkers.Options{
		Client: k.client, Runtime: k.runtime, Images: k.imageService(), Env: envvars.APISource{Client: k.client},
		GetPod: func(uid types.UID) *v1.Pod {
			objs, err := k.podInformer.GetIndexer().ByIndex(uidIndex, string(uid))
			if err != nil || len(objs) == 0 {
				return nil
			}
			p := objs[0].(*v1.Pod)
			if !nodeSet[p.Spec.NodeName] {
				return nil
			}
			return p
		},
		PodUIDs: func() []types.UID {
			pods := k.cachedPods()
			out := make([]types.UID, len(pods))
			for i, p := range pods {
				out[i] = p.UID
			}
			return out
		},
		Recorder:     func(node string) record.EventRecorder { return k.recorders[node] },
		HostIP:       func(string) string { return k.nodeIP },
		PodLogDir:    k.opts.PodLogDir,
		PodPidsLimit: k.opts.PodPidsLimit,
		ResyncInterval: func() time.Duration {
			if k.opts.Runtime == RuntimeFake {
				return 5 * time.Minute
			}
			return k.opts.SyncFrequency
		}(),
		HousekeepingInterval: func() time.Duration {
			if k.opts.Runtime == RuntimeFake {
				return 30 * time.Second
			}
			return 2 * time.Second
		}(),
		Volumes: k.volumes,
		Log:     k.log.Named("podworkers"),
	})
	if k.opts.Runtime == RuntimeRunc {
		probes := prober.New(k.runtime, k.workers.Update, func(pod *v1.Pod, container, reason, message string) {
			k.recorders[pod.Spec.NodeName].Event(&v1.ObjectReference{
				Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
				FieldPath: "spec.containers{" + container + "}",
			}, v1.EventTypeWarning, reason, message)
		})
		k.workers.SetProbes(probes)
		k.probes = probes
	}
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*v1.Pod); ok && nodeSet[p.Spec.NodeName] {
			k.workers.Update(p.UID)
		}
	}
	if _, err := k.podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, obj any) {
			if changedForKubelet(old, obj) {
				enqueue(obj)
			}
		},
		DeleteFunc: enqueue,
	}); err != nil {
		return err
	}

	if err := k.startServers(); err != nil {
		cancel()
		return err
	}
	capacity, allocatable, err := k.resources()
	if err != nil {
		cancel()
		return err
	}
	for _, n := range k.nodes {
		k.managers[n] = nodestatus.New(k.nodeOptions(n, capacity, allocatable))
	}
	if k.network != nil {
		m := k.managers[k.opts.NodeName]
		k.watchOwnNode(ctx, m)
	}

	for _, m := range k.managers {
		k.goBackground(func() { m.Run(ctx) })
	}
	k.factory.Start(ctx.Done())
	k.goBackground(func() {
		if !cache.WaitForCacheSync(ctx.Done(), k.podInformer.HasSynced) {
			return
		}
		for _, m := range k.managers {
			select {
			case <-m.Registered():
			case <-ctx.Done():
				return
			}
		}
		close(k.ready)
		k.log.Info("kubelet ready", zap.Int("nodes", len(k.nodes)), zap.String("runtime", k.runtime.Type()))
		k.workers.Run(ctx)
	})
	if k.images != nil {
		k.goBackground(func() { k.imageGCLoop(ctx) })
	}
	return nil
}

// changedForKubelet reports whether a pod update is one the kubelet acts
// on: not status writes (its own, mostly), which would only make it sync
// again for nothing.
func changedForKubelet(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*v1.Pod)
	n, ok2 := newObj.(*v1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) ||
		!apiequality.Semantic.DeepEqual(o.DeletionTimestamp, n.DeletionTimestamp) ||
		!apiequality.Semantic.DeepEqual(o.Labels, n.Labels) ||
		!apiequality.Semantic.DeepEqual(o.Annotations, n.Annotations) ||
		o.UID != n.UID
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
}

func (k *Kubelet) nodeOptions(name string, capacity, allocatable v1.ResourceList) nodestatus.Options {
	hostname := name
	if len(k.nodes) == 1 {
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
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
		NodeName: name, Client: k.client, Log: k.log.Named("nodestatus"), Labels: labels,
		Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: k.nodeIP},
			{Type: v1.NodeHostName, Address: hostname},
		},
		Capacity: capacity, Allocatable: allocatable, NodeInfo: k.nodeInfo(),
		KubeletPort: int32(k.serverPort()), PodCIDR: k.opts.PodCIDR,
		RenewInterval: k.opts.NodeLeaseRenewInterval, CheckInterval: k.opts.NodeStatusUpdateFrequency,
		ReportInterval: k.opts.NodeStatusReportFrequency,
	}
	if k.opts.Runtime == RuntimeRunc {
		o.Ready = k.runtime.Status
		o.Checks = nodestatus.HostChecks(k.opts.RootDir, nodestatus.DefaultThresholds)
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

// startServers starts the kubelet API (HTTPS) and the status endpoint.
func (k *Kubelet) startServers() error {
	cert, key, err := k.servingCert()
	if err != nil {
		return err
	}
	cas, err := k.clientCAs()
	if err != nil {
		return err
	}
	k.server, err = server.New(server.Options{
		Address: net.JoinHostPort(k.opts.Address, fmt.Sprint(k.opts.Port)), CertPEM: cert, KeyPEM: key, ClientCAs: cas,
		Runtime: k.runtime, Pods: k.cachedPods, Log: k.log.Named("server"),
	})
	if err != nil {
		return err
	}
	if err := k.server.Start(); err != nil {
		return fmt.Errorf("kubelet API: %w", err)
	}
	if k.opts.StatusAddress != "" {
		k.status = statusserver.New(k.opts.StatusAddress, k.log.Named("status"))
		k.status.AddReadyCheck("node-registered", func(context.Context) error {
			select {
			case <-k.ready:
				return nil
			default:
				return errors.New("node not registered or pods not listed yet")
			}
		})
		k.status.AddReadyCheck("runtime", func(context.Context) error { return k.runtime.Status() })
		if err := k.status.Start(); err != nil {
			_ = k.server.Close()
			return fmt.Errorf("status server: %w", err)
		}
	}
	return nil
}

// serverPort is the kubelet API's port once listening (the configured one
// before).
func (k *Kubelet) serverPort() int {
	if k.server != nil {
		if _, p, err := net.SplitHostPort(k.server.Addr()); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				return n
			}
		}
	}
	return k.opts.Port
}

// cachedPods lists the pods of this kubelet's nodes from the cache.
func (k *Kubelet) cachedPods() []*v1.Pod {
	var out []*v1.Pod
	set := map[string]bool{}
	for _, n := range k.nodes {
		set[n] = true
	}
	for _, obj := range k.podInformer.GetStore().List() {
		if p, ok := obj.(*v1.Pod); ok && set[p.Spec.NodeName] {
			out = append(out, p)
		}
	}
	return out
}

func (k *Kubelet) clientCAs() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	var data []byte
	if k.opts.ClientCAFile != "" {
		b, err := os.ReadFile(k.opts.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		data = b
	} else {
		data = k.rest.CAData
		if len(data) == 0 && k.rest.CAFile != "" {
			b, err := os.ReadFile(k.rest.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig CA: %w", err)
			}
			data = b
		}
	}
	if len(data) == 0 || !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no client CA: give --client-ca-file or a kubeconfig with certificate-authority data")
	}
	return pool, nil
}

// Ready is closed once every node is registered and the pods are listed.
func (k *Kubelet) Ready() <-chan struct{} { return k.ready }

// Addr is the kubelet API's address.
func (k *Kubelet) Addr() string { return k.server.Addr() }

// StatusAddr is the status endpoint's address.
func (k *Kubelet) StatusAddr() string {
	if k.status == nil {
		return ""
	}
	return k.status.Addr()
}

// PodCIDR is the pod CIDR the node's network uses ("" with the fake
// runtime).
func (k *Kubelet) PodCIDR() string {
	if k.network == nil {
		return ""
	}
	return k.network.PodCIDR()
}

// NodeNames are the nodes this kubelet runs.
func (k *Kubelet) NodeNames() []string { return append([]string(nil), k.nodes...) }

// Close stops the kubelet: the servers, the heartbeats, the workers (the
// sync in flight finishes). Containers keep running.
func (k *Kubelet) Close() error {
	k.closeOnce.Do(func() {
		if k.cancel != nil {
			k.cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if k.server != nil {
			_ = k.server.Close()
		}
		if k.status != nil {
			_ = k.status.Close(ctx)
		}
		k.wg.Wait()
		if k.factory != nil {
			k.factory.Shutdown()
		}
		if k.broadcaster != nil {
			k.broadcaster.Shutdown()
		}
		if k.probes != nil {
			k.probes.Stop()
		}
		if c, ok := k.runtime.(interface{ Close() }); ok {
			c.Close()
		}
	})
	return nil
}

// Run starts the kubelet and blocks until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	if err := k.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return k.Close()
}

func (k *Kubelet) goBackground(f func()) {
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		f()
	}()
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
