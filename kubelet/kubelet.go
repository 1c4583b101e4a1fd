// Package kubelet is the node agent as a library: it registers its Node
// (or, with the fake runtime, many simulated ones), heartbeats, watches
// the pods bound to it and runs them with runc, CNI networking and images
// pulled from OCI registries, and serves their logs and exec over HTTPS
// to the apiserver. The Kubelet is a component.Component; Run and Daemon
// are the binary.
//
//	opts := kubelet.DefaultOptions()   // or flags, see AddFlags
//	k, err := kubelet.New(opts)
//	err = k.Start(ctx)                 // ctx bounds the start only
//	<-k.Ready()
//	defer k.Close()
//
// Run first gets the node a client certificate if it has none
// (Bootstrap, with --bootstrap-kubeconfig). Start starts, in order: the
// event recorders (and checks the node's --resolv-conf, as the
// kubelet's sync loop does: CheckLimitsForResolvConf), the pod cache (an
// informer of the pods bound to the kubelet's nodes), the Service cache
// (the Services with a cluster IP, for the containers' service
// variables), the pod workers and probes,
// the static pods (--pod-manifest-path, --manifest-url) and the keeper
// of their mirror pods, the kubelet API (HTTPS, authenticated and authorized as --anonymous-auth,
// --authentication-token-webhook and --authorization-mode say) and the
// status server, one node status manager per node (registration,
// status, Lease), the routes to other nodes' pods (a Node informer of
// the cluster, with --node-routes=host-gw or vxlan), then the informers,
// the refresh of the pods' volume files and tokens
// (--volume-refresh-period, runc only), image garbage collection, the
// eviction manager (node-pressure eviction, runc only: --eviction-hard
// and the other eviction flags; it sets the node's pressure conditions),
// and the certificate managers (--rotate-server-certificates: the serving certificate is
// requested once the node is registered; --rotate-certificates). Ready
// closes once the pods are listed and every node is registered; the pod
// workers start then.
//
// Close stops the node status managers, the pod workers (the sync in
// flight finishes), image garbage collection and the eviction manager
// and waits for them; then,
// in order, the status server and the kubelet API, the probes, the
// informers, the event recorders and the runtime's exit watcher. It stops
// the kubelet, not the containers: a kubelet started again on the same
// --root-dir adopts them.
package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kubelet/internal/certificate"
	"coracle.dev/kubelet/internal/envvars"
	"coracle.dev/kubelet/internal/eviction"
	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/network/cni"
	"coracle.dev/kubelet/internal/nodestatus"
	"coracle.dev/kubelet/internal/podworkers"
	"coracle.dev/kubelet/internal/prober"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/server"
	"coracle.dev/kubelet/internal/staticpods"
	"coracle.dev/kubelet/internal/volumes"
	"coracle.dev/shared/apiclient"
	"coracle.dev/shared/component"
	"coracle.dev/shared/statusserver"
	"coracle.dev/shared/version"
)

// Kubelet is a node agent.
type Kubelet struct {
	component.Lifecycle

	opts    Options
	log     *zap.Logger
	clients *apiclient.Clients
	client  kubernetes.Interface
	rest    *rest.Config
	nodes   []string
	nodeSet map[string]bool // nodes, for lookups
	nodeIP  string

	runtime kruntime.Runtime
	images  *images.Store    // nil with the fake runtime
	network *cni.Network     // nil with the fake runtime
	volumes *volumes.Manager // nil with the fake runtime
	probes  *prober.Manager  // nil with the fake runtime
	fakeImg *fakeImages

	factory     informers.SharedInformerFactory
	podInformer cache.SharedIndexInformer
	// serviceFactory informs env of the Services, for the containers'
	// service variables.
	serviceFactory informers.SharedInformerFactory
	env            envvars.APISource
	broadcaster    record.EventBroadcaster
	recorders      map[string]record.EventRecorder
	managers       map[string]*nodestatus.Manager
	workers        *podworkers.Manager
	eviction       *eviction.Manager // nil with the fake runtime
	// static are the static pods (--pod-manifest-path, --manifest-url);
	// mirrors keeps their mirror pods, prompted by mirrorKick.
	static      *staticpods.Source
	mirrors     *staticpods.Mirrors
	mirrorKick  chan struct{}
	server      *server.Server
	status      *statusserver.Server // nil without --status-address
	serverCerts certificate.Manager  // nil unless --rotate-server-certificates
}

var _ component.Component = (*Kubelet)(nil)

// New checks the options and builds a kubelet; Start runs it.
func New(opts Options) (*Kubelet, error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	k := &Kubelet{opts: opts, log: opts.Log, nodes: opts.nodeNames(), nodeSet: map[string]bool{}}
	for _, n := range k.nodes {
		k.nodeSet[n] = true
	}
	// The rate limits are per node: simulated nodes each make the
	// requests of one.
	n := len(k.nodes)
	clients, err := apiclient.New(apiclient.Options{
		Kubeconfig: opts.Kubeconfig, RESTConfig: opts.RESTConfig, UserAgent: "coracle-kubelet/" + version.String(),
		QPS: opts.KubeAPIQPS * float32(n), Burst: opts.KubeAPIBurst * n,
		EventQPS: opts.EventQPS * float32(n), EventBurst: opts.EventBurst * n,
	})
	if err != nil {
		return nil, err
	}
	k.clients, k.client, k.rest = clients, clients.Client, clients.REST
	k.nodeIP = opts.NodeIP
	if k.nodeIP == "" {
		k.nodeIP = defaultIP()
	}
	if err := os.MkdirAll(opts.RootDir, 0o700); err != nil {
		return nil, err
	}
	if err := k.newRuntime(); err != nil {
		return nil, err
	}
	return k, nil
}

// complete fills in what the options leave to the machine: the node name
// is the host name, lowercased, as Kubernetes' kubelet makes it.
func (o *Options) complete() error {
	if o.NodeName != "" {
		return nil
	}
	h, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("--node-name: %w", err)
	}
	o.NodeName = strings.ToLower(h)
	return nil
}

// Bootstrap is the TLS bootstrap of the node's client credential, as
// Kubernetes' kubelet does it before it starts: with a
// --bootstrap-kubeconfig and no valid client certificate in the
// --kubeconfig file, it sends a CertificateSigningRequest for
// system:node:<node-name> with the bootstrap token, waits for the
// certificate (up to an hour: approval may be a person's), stores it
// with its key as --root-dir/pki/kubelet-client-current.pem and writes
// the --kubeconfig file to use it. Without a --bootstrap-kubeconfig, or
// with a valid kubeconfig, it does nothing.
func Bootstrap(ctx context.Context, opts Options) error {
	if opts.BootstrapKubeconfig == "" || opts.RESTConfig != nil {
		return nil
	}
	if err := opts.complete(); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return certificate.LoadClientCert(ctx, certificate.Bootstrap{
		Kubeconfig: opts.Kubeconfig, BootstrapKubeconfig: opts.BootstrapKubeconfig,
		CertDir: filepath.Join(opts.RootDir, "pki"), NodeName: opts.NodeName, Log: log.Named("bootstrap"),
	})
}

// Daemon is the kubelet binary's command line, for component.Main.
func Daemon() component.Daemon[Options] {
	return component.Daemon[Options]{Name: "kubelet", AddFlags: AddFlags, Defaults: DefaultOptions, Run: Run}
}

// Run runs a kubelet with opts until ctx ends (SIGTERM); with --teardown
// it removes what a kubelet left on the machine instead, and returns.
// With --bootstrap-kubeconfig it first gets the node its client
// certificate (Bootstrap).
func Run(ctx context.Context, opts Options, log *zap.Logger) error {
	opts.Log = log
	if opts.Teardown {
		return Teardown(ctx, opts)
	}
	if err := Bootstrap(ctx, opts); err != nil {
		return err
	}
	k, err := New(opts)
	if err != nil {
		return err
	}
	return component.Run(ctx, k)
}

// Start brings the kubelet up in the background and returns once its
// servers listen; ctx bounds the start only: the kubelet runs until
// Close. See the package comment for what runs.
func (k *Kubelet) Start(context.Context) error { return k.Lifecycle.Start(k.start) }

// start takes the steps the package comment lists; ctx is the run
// context, which Close cancels. On an error, Lifecycle.Start closes what
// the steps before registered.
func (k *Kubelet) start(ctx context.Context) error {
	k.startEvents()
	k.checkResolvConf()
	if err := k.newPodCache(); err != nil {
		return err
	}
	k.newServiceCache()
	k.newStaticPods()
	if err := k.newPodWorkers(); err != nil {
		return err
	}
	if err := k.startServers(); err != nil {
		return err
	}
	if err := k.newEviction(); err != nil {
		return err
	}
	if err := k.startNodeStatus(ctx); err != nil {
		return err
	}
	if err := k.startNodeRoutes(ctx); err != nil {
		return err
	}
	k.startStaticPods(ctx)
	k.factory.Start(ctx.Done())
	k.serviceFactory.Start(ctx.Done())
	k.Go(ctx, k.runPodWorkers)
	if k.volumes != nil {
		k.Go(ctx, func(ctx context.Context) error {
			// Static pods have no volume the API feeds.
			k.volumes.Run(ctx, k.opts.VolumeRefreshPeriod, k.apiPods)
			return nil
		})
	}
	if k.serverCerts != nil {
		k.Go(ctx, k.runServerCertificate)
	}
	if k.opts.RotateCertificates {
		k.Go(ctx, k.runClientCertificate)
	}
	if k.images != nil {
		k.Go(ctx, k.imageGCLoop)
	}
	if k.eviction != nil {
		k.Go(ctx, func(ctx context.Context) error { k.eviction.Run(ctx); return nil })
	}
	return nil
}

// Addr is the kubelet API's address.
func (k *Kubelet) Addr() string { return k.server.Addr() }

// StatusAddress is where /healthz, /readyz and /metrics are served (""
// without --status-address).
func (k *Kubelet) StatusAddress() string {
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
