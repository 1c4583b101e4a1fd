// Package cni gives pods their network: it makes each pod's network, IPC
// and UTS namespaces (kept as bind-mounted files), and attaches the network
// namespace to the node's bridge with libcni and the standard plugins
// (bridge with host-local IPAM on the node's pod CIDR, portmap for
// hostPorts, loopback). The network configuration is generated from the
// pod CIDR.
package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"go.uber.org/zap"
)

// Options configure the pod network.
type Options struct {
	// BinDir holds the plugins (/usr/lib/cni).
	BinDir string
	// ConfDir is where the generated configuration is written for people
	// and tools to read (/etc/cni/net.d); empty writes none.
	ConfDir string
	// StateDir holds libcni's cache, host-local's allocations and the
	// pods' namespace files.
	StateDir string
	// Bridge is the Linux bridge pods attach to (cni0).
	Bridge string
	// NetworkName names the CNI network (coracle).
	NetworkName string
	// MTU, when not 0, is the MTU of the pods' interfaces (and of the
	// bridge the plugin makes): what fits an overlay's tunnel, so that
	// pods never send what the node would have to fragment or drop.
	// 0 leaves the kernel's default.
	MTU int
	Log *zap.Logger
}

// Network is the node's pod network.
type Network struct {
	opts Options
	cni  *libcni.CNIConfig
	lo   *libcni.NetworkConfigList
	log  *zap.Logger

	mu      sync.Mutex // guards podCIDR, list and ports
	podCIDR string
	// list attaches a pod to the bridge; ports does the same and maps
	// hostPorts (portmap), for the pods that have some.
	list  *libcni.NetworkConfigList
	ports *libcni.NetworkConfigList

	masqMu sync.Mutex // guards masqPodCIDR, clusterCIDRs and the masquerade rules
	// masqPodCIDR is the pod CIDR the masquerade rules are for;
	// clusterCIDRs are the IPv4 pod CIDRs of every node (see
	// masquerade.go).
	masqPodCIDR  string
	clusterCIDRs []string
}

// PortMapping is one hostPort of a pod.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Pod names one pod's attachment.
type Pod struct {
	UID, Namespace, Name string
	Hostname             string
	Ports                []PortMapping
	// HostNetwork pods use the node's network and UTS namespaces: they
	// get their own IPC namespace only, and no CNI attachment.
	HostNetwork bool
}

// Sandbox is a pod's namespaces and address.
type Sandbox struct {
	// NetNS, IPCNS and UTSNS are the namespace files; NetNS and UTSNS are
	// empty for a pod on the host's network (and so is IP).
	NetNS, IPCNS, UTSNS string
	IP                  string
}

// SandboxOf returns the namespace files of a pod's sandbox.
func (n *Network) SandboxOf(uid string, hostNetwork bool) *Sandbox {
	dir := n.nsDir(uid)
	if hostNetwork {
		return &Sandbox{IPCNS: filepath.Join(dir, "ipc")}
	}
	return &Sandbox{NetNS: filepath.Join(dir, "net"), IPCNS: filepath.Join(dir, "ipc"), UTSNS: filepath.Join(dir, "uts")}
}

// New returns the network; it is not ready until SetPodCIDR.
func New(opts Options) *Network {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	lo, _ := libcni.NetworkConfFromBytes([]byte(`{"cniVersion":"1.0.0","name":"lo","plugins":[{"type":"loopback"}]}`))
	return &Network{
		opts: opts, lo: lo, log: opts.Log,
		cni: libcni.NewCNIConfigWithCacheDir([]string{opts.BinDir}, filepath.Join(opts.StateDir, "cache"), nil),
	}
}

// PodCIDR is the CIDR the network hands addresses out of.
func (n *Network) PodCIDR() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.podCIDR
}

// Ready reports nil once pods can be attached, else why not.
func (n *Network) Ready() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.list == nil {
		return errors.New("network plugin not ready: no pod CIDR (spec.podCIDR or --pod-cidr)")
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(n.opts.BinDir, p)); err != nil {
			return fmt.Errorf("network plugin not ready: CNI plugin %s missing in %s (install containernetworking-plugins)", p, n.opts.BinDir)
		}
	}
	return nil
}

// SetPodCIDR generates the network configuration for cidr, and
// masquerades traffic from it to anywhere but pods (see masquerade.go).
func (n *Network) SetPodCIDR(cidr string) error {
	bridge := n.bridgePlugin(cidr)
	portmap := map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]bool{"portMappings": true}}
	conf := func(plugins ...any) ([]byte, *libcni.NetworkConfigList, error) {
		b, err := json.MarshalIndent(map[string]any{"cniVersion": "1.0.0", "name": n.opts.NetworkName, "plugins": plugins}, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		l, err := libcni.NetworkConfFromBytes(b)
		if err != nil {
			return nil, nil, fmt.Errorf("cni config: %w", err)
		}
		return b, l, nil
	}
	_, list, err := conf(bridge)
	if err != nil {
		return err
	}
	b, ports, err := conf(bridge, portmap)
	if err != nil {
		return err
	}
	if err := n.setMasqueradePodCIDR(cidr); err != nil {
		return err
	}
	if n.opts.ConfDir != "" {
		if err := os.MkdirAll(n.opts.ConfDir, 0o755); err != nil {
			return err
		}
		path := filepath.Join(n.opts.ConfDir, "10-"+n.opts.NetworkName+".conflist")
		if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.podCIDR, n.list, n.ports = cidr, list, ports
	n.mu.Unlock()
	n.log.Info("pod network configured", zap.String("podCIDR", cidr), zap.String("bridge", n.opts.Bridge))
	return nil
}

// bridgePlugin is the bridge plugin's configuration for pod CIDR cidr.
func (n *Network) bridgePlugin(cidr string) map[string]any {
	bridge := map[string]any{
		"type": "bridge", "bridge": n.opts.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": cidr}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": filepath.Join(n.opts.StateDir, "networks"),
		},
	}
	if n.opts.MTU > 0 {
		bridge["mtu"] = n.opts.MTU
	}
	return bridge
}

func (n *Network) nsDir(uid string) string { return filepath.Join(n.opts.StateDir, "netns", uid) }

func (n *Network) runtimeConf(p Pod, netns, ifName string) *libcni.RuntimeConf {
	rc := &libcni.RuntimeConf{
		ContainerID: p.UID, NetNS: netns, IfName: ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", p.Namespace},
			{"K8S_POD_NAME", p.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", p.UID},
			{"K8S_POD_UID", p.UID},
		},
	}
	if len(p.Ports) > 0 {
		rc.CapabilityArgs = map[string]any{"portMappings": p.Ports}
	}
	return rc
}

// Setup makes the pod's namespaces and attaches it, unless done already.
func (n *Network) Setup(ctx context.Context, p Pod) (*Sandbox, error) {
	if p.HostNetwork {
		if err := createNamespaces(n.nsDir(p.UID), "", hostNetworkPod); err != nil {
			return nil, fmt.Errorf("pod namespaces: %w", err)
		}
		return n.SandboxOf(p.UID, true), nil
	}
	n.mu.Lock()
	list := n.list
	if len(p.Ports) > 0 {
		list = n.ports
	}
	n.mu.Unlock()
	if list == nil {
		return nil, n.Ready()
	}
	dir := n.nsDir(p.UID)
	sb := &Sandbox{NetNS: filepath.Join(dir, "net"), IPCNS: filepath.Join(dir, "ipc"), UTSNS: filepath.Join(dir, "uts")}
	if namespacesExist(dir, sharedNamespaces) {
		if res, err := n.cni.GetNetworkListCachedResult(list, n.runtimeConf(p, sb.NetNS, "eth0")); err == nil && res != nil {
			if ip, err := firstIP(res); err == nil {
				sb.IP = ip
				return sb, nil
			}
		}
	}
	if err := createNamespaces(dir, p.Hostname, sharedNamespaces); err != nil {
		return nil, fmt.Errorf("pod namespaces: %w", err)
	}
	if _, err := n.cni.AddNetworkList(ctx, n.lo, n.runtimeConf(Pod{UID: p.UID, Namespace: p.Namespace, Name: p.Name}, sb.NetNS, "lo")); err != nil {
		return nil, fmt.Errorf("loopback: %w", err)
	}
	res, err := n.cni.AddNetworkList(ctx, list, n.runtimeConf(p, sb.NetNS, "eth0"))
	if err != nil {
		return nil, fmt.Errorf("attach pod network: %w", err)
	}
	if sb.IP, err = firstIP(res); err != nil {
		return nil, err
	}
	return sb, nil
}

// Teardown detaches the pod and removes its namespaces. It is idempotent.
func (n *Network) Teardown(ctx context.Context, p Pod) error {
	dir := n.nsDir(p.UID)
	if p.HostNetwork {
		return removeNamespaces(dir)
	}
	n.mu.Lock()
	list := n.list
	n.mu.Unlock()
	netns := filepath.Join(dir, "net")
	if !namespacesExist(dir, []string{"net"}) {
		// Plugins still release addresses and rules with no namespace.
		netns = ""
	}
	var errs []error
	if list == nil {
		// Not configured (a teardown): what ADD cached is enough.
		list = &libcni.NetworkConfigList{Name: n.opts.NetworkName}
	}
	{
		rc := n.runtimeConf(p, netns, "eth0")
		// DEL uses the configuration and port mappings cached at ADD.
		if cached, cachedRC, err := n.cni.GetNetworkListCachedConfig(list, rc); err == nil && cached != nil {
			if l, err := libcni.NetworkConfFromBytes(cached); err == nil {
				list = l
			}
			if cachedRC != nil {
				rc.CapabilityArgs = cachedRC.CapabilityArgs
			}
		}
		if len(list.Plugins) > 0 {
			if err := n.cni.DelNetworkList(ctx, list, rc); err != nil {
				errs = append(errs, fmt.Errorf("detach pod network: %w", err))
			}
		}
	}
	if netns != "" {
		_ = n.cni.DelNetworkList(ctx, n.lo, n.runtimeConf(Pod{UID: p.UID, Namespace: p.Namespace, Name: p.Name}, netns, "lo"))
	}
	if len(errs) == 0 {
		if err := removeNamespaces(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func firstIP(res cnitypes.Result) (string, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return "", fmt.Errorf("cni result: %w", err)
	}
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			return ip.Address.IP.String(), nil
		}
	}
	return "", errors.New("cni result: no IPv4 address")
}
