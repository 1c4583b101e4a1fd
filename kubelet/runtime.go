package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kubelet/internal/dns"
	"coracle.dev/kubelet/internal/envvars"
	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/network/cni"
	"coracle.dev/kubelet/internal/network/routes"
	"coracle.dev/kubelet/internal/podworkers"
	"coracle.dev/kubelet/internal/runtime/fake"
	"coracle.dev/kubelet/internal/runtime/runc"
	"coracle.dev/kubelet/internal/token"
	"coracle.dev/kubelet/internal/volumes"
)

// newRuntime builds the container runtime --runtime names, with what it
// needs: for runc, the image store, the pod network and volumes. The
// runtime lives as long as the Kubelet: Close stops it, Start or not.
func (k *Kubelet) newRuntime() error {
	switch k.opts.Runtime {
	case RuntimeFake:
		k.runtime = fake.New(k.opts.FakeStartupDelay)
		k.fakeImg = &fakeImages{}
	case RuntimeRunc:
		rt, err := k.newRuncRuntime()
		if err != nil {
			return err
		}
		k.runtime = rt
		k.OnClose(func(context.Context) error { rt.Close(); return nil })
	}
	return nil
}

func (k *Kubelet) newRuncRuntime() (*runc.Runtime, error) {
	o := k.opts
	mirrors := map[string]string{}
	for _, m := range o.RegistryMirror {
		from, to, _ := strings.Cut(m, "=")
		mirrors[from] = to
	}
	store, err := images.Open(images.Options{Dir: filepath.Join(o.RootDir, "images"), Mirrors: mirrors, Log: k.log.Named("images")})
	if err != nil {
		return nil, err
	}
	k.images = store
	k.network = cni.New(cni.Options{
		BinDir: o.CNIBinDir, ConfDir: o.CNIConfDir, StateDir: filepath.Join(o.RootDir, "cni"),
		Bridge: o.BridgeName, NetworkName: o.NetworkName, MTU: k.podMTU(), Log: k.log.Named("cni"),
	})
	if o.PodCIDR != "" {
		if err := k.network.SetPodCIDR(o.PodCIDR); err != nil {
			return nil, err
		}
	}
	maxSize, err := resource.ParseQuantity(o.ContainerLogMaxSize)
	if err != nil {
		return nil, fmt.Errorf("--container-log-max-size %q: %w", o.ContainerLogMaxSize, err)
	}
	rt, err := runc.New(runc.Options{
		RootDir: o.RootDir, Runc: o.Runc, CgroupRoot: o.CgroupRoot, Images: store, Network: k.network,
		ShimPath: o.ShimPath, LogMaxSize: maxSize.Value(), LogMaxFiles: o.ContainerLogMaxFiles,
		SeccompProfileRoot: filepath.Join(o.RootDir, "seccomp"),
		DNS:                k.dnsConfigurer(),
		// The recorders are made at Start, after the runtime: looked up
		// when a pod's DNS is formed.
		Recorder: func(node string) record.EventRecorder { return k.recorders[node] },
		Log:      k.log.Named("runc"),
	})
	if err != nil {
		return nil, err
	}
	k.volumes = &volumes.Manager{
		Dir: filepath.Join(o.RootDir, "volumes"), Src: envvars.APISource{Client: k.client},
		Tokens: token.NewManager(k.client), Client: k.client, Log: k.log.Named("volumes"),
	}
	return rt, nil
}

// dnsConfigurer forms pods' DNS from --cluster-dns, --cluster-domain and
// --resolv-conf (Validate checked the addresses).
func (k *Kubelet) dnsConfigurer() *dns.Configurer {
	c := &dns.Configurer{ClusterDomain: k.opts.ClusterDomain, ResolverConfig: k.opts.ResolvConf}
	for _, s := range k.opts.ClusterDNS {
		if ip := net.ParseIP(s); ip != nil {
			c.ClusterDNS = append(c.ClusterDNS, ip)
		}
	}
	if ip := net.ParseIP(k.nodeIP); ip != nil {
		c.NodeIPs = []net.IP{ip}
	}
	return c
}

// checkResolvConf checks the node's resolv.conf once, as the kubelet's
// sync loop does when it starts: a file that cannot be read, or whose
// search line leaves no room for the cluster's domains, is a
// CheckLimitsForResolvConf warning on the node. Simulated nodes have no
// resolv.conf of their own.
func (k *Kubelet) checkResolvConf() {
	if k.opts.Runtime != RuntimeRunc {
		return
	}
	e := k.dnsConfigurer().CheckLimitsForResolvConf()
	if e == nil {
		return
	}
	k.log.Warn("check limits for resolv.conf failed", zap.String("resolvConf", k.opts.ResolvConf), zap.String("event", e.Message))
	for _, n := range k.nodes {
		ref := &v1.ObjectReference{Kind: "Node", Name: n, UID: types.UID(n)}
		k.recorders[n].Event(ref, v1.EventTypeWarning, e.Reason, e.Message)
	}
}

// podMTU is the MTU the pods' interfaces get: with --node-routes=vxlan,
// what fits the tunnel (the node IP's link's less VXLAN's overhead), as
// flannel hands its CNI plugin; else 0, the kernel's default. A node IP
// on no link is logged and gets the default: the overlay itself then
// fails, with its own errors, until the address is there.
func (k *Kubelet) podMTU() int {
	if k.opts.NodeRoutes != NodeRoutesVXLAN {
		return 0
	}
	ip, err := netip.ParseAddr(k.nodeIP)
	if err == nil {
		var mtu int
		if mtu, err = routes.OverlayMTU(nil, ip.Unmap()); err == nil {
			return mtu
		}
	}
	k.log.Warn("pods get the default MTU: the VXLAN tunnel's is not known", zap.String("nodeIP", k.nodeIP), zap.Error(err))
	return 0
}

// fakeImages is the image service of the fake runtime: every image is
// present and runs sh.
type fakeImages struct{}

func (fakeImages) Get(ref string) (*images.Image, bool) {
	return &images.Image{Name: ref, Ref: ref + "@sha256:0000000000000000000000000000000000000000000000000000000000000000", Cmd: []string{"sh"}}, true
}

func (f fakeImages) Pull(_ context.Context, ref string, _ []v1.Secret) (*images.Image, error) {
	img, _ := f.Get(ref)
	return img, nil
}

func (fakeImages) Use(string) {}

func (k *Kubelet) imageService() podworkers.ImageService {
	if k.images != nil {
		return k.images
	}
	return k.fakeImg
}
