package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"go.uber.org/zap"

	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/network/cni"
	"coracle.dev/kubelet/internal/network/routes"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/runtime/runc"
	"coracle.dev/kubelet/internal/volumes"
)

// Teardown removes everything a runc kubelet with these options left on
// the machine: it stops every container (SIGTERM, SIGKILL after 10 s),
// removes every pod's containers, network attachment, namespaces, mounts,
// cgroups and logs, then the cgroup root, the bridge and portmap's
// now-empty chains, the pod network's masquerade rules and, with
// --node-routes=host-gw or vxlan, the routes to other nodes' pods and the
// VXLAN device (whichever mode made them: a node switched between the
// two keeps nothing of the other). Images stay.
// The kubelet must not be running. It is what `make down` runs.
func Teardown(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	store, err := images.Open(images.Options{Dir: filepath.Join(opts.RootDir, "images"), Log: opts.Log})
	if err != nil {
		return err
	}
	network := cni.New(cni.Options{
		BinDir: opts.CNIBinDir, StateDir: filepath.Join(opts.RootDir, "cni"),
		Bridge: opts.BridgeName, NetworkName: opts.NetworkName, Log: opts.Log,
	})
	rt, err := runc.New(runc.Options{
		RootDir: opts.RootDir, Runc: opts.Runc, CgroupRoot: opts.CgroupRoot, Images: store, Network: network,
		ShimPath: opts.ShimPath, Log: opts.Log,
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	pods, err := rt.ListPods(ctx)
	if err != nil {
		return err
	}
	// Containers stop in parallel: each may take its whole grace period.
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, p := range pods {
		for _, c := range p.Containers {
			if c.State != kruntime.StateExited {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := rt.StopContainer(ctx, p.UID, c.ID, 10*time.Second); err != nil {
						fail(err)
					}
				}()
			}
		}
	}
	wg.Wait()
	vols := volumes.Manager{Dir: filepath.Join(opts.RootDir, "volumes")}
	for _, p := range pods {
		if err := rt.RemovePod(ctx, p.UID); err != nil {
			errs = append(errs, fmt.Errorf("remove pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		if err := vols.Remove(string(p.UID)); err != nil {
			errs = append(errs, err)
		}
		opts.Log.Info("pod removed", zap.String("pod", p.Namespace+"/"+p.Name))
	}
	// Volumes of pods whose records were already gone.
	if entries, err := os.ReadDir(filepath.Join(opts.RootDir, "volumes")); err == nil {
		for _, e := range entries {
			if err := vols.Remove(e.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := network.RemoveAllMasquerades(); err != nil {
		errs = append(errs, err)
	}
	if opts.NodeRoutes == NodeRoutesHostGW || opts.NodeRoutes == NodeRoutesVXLAN {
		if err := routes.NewApplier(nil, opts.Log).RemoveAll(); err != nil {
			errs = append(errs, fmt.Errorf("remove routes to other nodes' pods: %w", err))
		}
	}
	runc.RemoveCgroupRoot(opts.CgroupRoot)
	// Asked of the kernel (netlink), not of /sys: under `nsenter --net`
	// /sys still shows the host's interfaces.
	if _, err := net.InterfaceByName(opts.BridgeName); err == nil {
		if out, err := exec.CommandContext(ctx, "ip", "link", "delete", opts.BridgeName).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %v: %s", opts.BridgeName, err, strings.TrimSpace(string(out))))
		}
	}
	if err := removeEmptyHostportChains(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeEmptyHostportChains removes the chains the portmap plugin leaves
// behind, once no pod's hostPort is in them.
func removeEmptyHostportChains() error {
	ipt, err := iptables.New()
	if err != nil {
		return nil // no iptables: nothing was made
	}
	rules, err := ipt.List("nat", "CNI-HOSTPORT-DNAT")
	if err != nil {
		return nil // no chain
	}
	for _, r := range rules {
		if strings.HasPrefix(r, "-A ") {
			return nil // still in use
		}
	}
	_ = ipt.DeleteIfExists("nat", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT")
	_ = ipt.DeleteIfExists("nat", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT")
	_ = ipt.DeleteIfExists("nat", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ")
	var errs []error
	for _, c := range []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"} {
		if ok, _ := ipt.ChainExists("nat", c); ok {
			if err := ipt.ClearAndDeleteChain("nat", c); err != nil {
				errs = append(errs, fmt.Errorf("delete chain %s: %w", c, err))
			}
		}
	}
	return errors.Join(errs...)
}
