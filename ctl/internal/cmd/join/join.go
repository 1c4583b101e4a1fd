// Package join is `ctl join`: the one command a new host runs to become a
// node of the cluster, kubeadm join's worker path. It trusts the
// apiserver through token discovery (package discovery: the JWS-signed
// cluster-info and the pinned CA hash), writes what the node's kubelet and
// kube-proxy units read — the bootstrap kubeconfig carrying the token,
// the cluster CA and kubelet.env — and starts them; the kubelet then
// trades the token for its own certificate (TLS bootstrap) and writes
// kubelet.conf, which join waits for.
//
// Files under --config-dir (default /etc/coracle):
//
//	bootstrap-kubelet.conf  the cluster's server and CA, user tls-bootstrap-token-user with the token
//	pki/ca.crt              the cluster CA
//	kubelet.env             CORACLE_NODE_NAME=, CORACLE_NODE_IP= (the units' EnvironmentFile)
//	kubelet.conf            written by the kubelet once its TLS bootstrap is done
//
// Nothing is written unless discovery trusted the cluster.
package join

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/discovery"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/shared/kubeconfig"
)

// Names of what join writes and starts.
const (
	// DefaultConfigDir is where the node's units read their files.
	DefaultConfigDir = "/etc/coracle"
	// BootstrapKubeconfig is the kubelet's kubeconfig for its TLS
	// bootstrap, holding the token.
	BootstrapKubeconfig = "bootstrap-kubelet.conf"
	// KubeletKubeconfig is the kubeconfig the kubelet writes once it has
	// its own client certificate.
	KubeletKubeconfig = "kubelet.conf"
	// CACert is the cluster CA, under the config directory.
	CACert = "pki/ca.crt"
	// KubeletEnv holds the node's settings as CORACLE_* variables, which
	// the kubelet and kube-proxy units load with EnvironmentFile=.
	KubeletEnv = "kubelet.env"

	// TokenUser is the user of the bootstrap kubeconfig, and
	// clusterName its cluster, as kubeadm names them.
	TokenUser   = "tls-bootstrap-token-user"
	clusterName = "kubernetes"

	// systemdDir exists when systemd is PID 1 (sd_booted's test).
	systemdDir = "/run/systemd/system"
	// pollInterval paces the wait for kubelet.conf (kubeadm's TLS
	// bootstrap retry interval).
	pollInterval = time.Second
)

// Units are the node's services, started by join.
var Units = []string{"coracle-kubelet.service", "coracle-kube-proxy.service"}

// doneMessage is kubeadm's closing text for a worker.
const doneMessage = `
This node has joined the cluster:
* Certificate signing request was sent to apiserver and a response was received.
* The Kubelet was informed of the new secure connection details.

Run 'kubectl get nodes' on the control-plane to see this node join the cluster.

`

// Host is what join needs of the machine; tests replace it.
type Host struct {
	// Hostname is the machine's name (the default node name, lower-cased).
	Hostname func() (string, error)
	// Systemctl runs systemctl with args.
	Systemctl func(ctx context.Context, args ...string) error
	// Discover finds and verifies the cluster.
	Discover func(ctx context.Context, o discovery.Options) (*discovery.Cluster, error)
}

// SystemHost is the real machine.
func SystemHost() Host {
	return Host{Hostname: os.Hostname, Systemctl: systemctl, Discover: discovery.Discover}
}

func systemctl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// systemdRunning reports whether systemd is PID 1, as sd_booted(3) does.
func systemdRunning() bool {
	fi, err := os.Stat(systemdDir)
	return err == nil && fi.IsDir()
}

// Options are join's flags.
type Options struct {
	Endpoint                 string
	Token                    string
	CACertHashes             []string
	UnsafeSkipCAVerification bool
	ConfigDir                string
	NodeName                 string
	NodeIP                   string
	// Start enables and starts the units, then waits for the TLS
	// bootstrap; otherwise join says what to start.
	Start bool
	// Timeout bounds the wait for the TLS bootstrap.
	Timeout time.Duration
	// DiscoveryTimeout bounds discovery (waiting for the apiserver and
	// the signer included).
	DiscoveryTimeout time.Duration
}

// New is the join command.
func New(env *cmdenv.Env) *cobra.Command { return NewWithHost(env, SystemHost()) }

// NewWithHost is the join command acting on host.
func NewWithHost(env *cmdenv.Env, host Host) *cobra.Command {
	o := Options{ConfigDir: DefaultConfigDir, Start: systemdRunning(), Timeout: 5 * time.Minute, DiscoveryTimeout: discovery.DefaultTimeout}
	cmd := &cobra.Command{
		Use:   "join <host:port> --token TOKEN --discovery-token-ca-cert-hash sha256:HASH",
		Short: "Run this on any machine you wish to join an existing cluster",
		Long: `Join this host to the cluster as a node.

When joining a cluster, we need to establish bidirectional trust. This is split into
discovery (having the node trust the control plane) and TLS bootstrap (having the
control plane trust the node).

Discovery uses a shared token along with the address of the API server: the node reads
the cluster-info ConfigMap, which the cluster signs with each bootstrap token, and checks
the signature with its token. It also checks the public key of the root certificate
authority (CA) presented by the control plane against --discovery-token-ca-cert-hash,
"<hash-type>:<hex-encoded-value>", where the supported hash type is "sha256": the hash of
the CA certificate's Subject Public Key Info (as in RFC 7469). The flag may be repeated
to allow more than one public key. If you cannot know the hash ahead of time, pass
--discovery-token-unsafe-skip-ca-verification: this weakens the security model, since
other nodes can then impersonate the control plane.

The TLS bootstrap is driven by the same token: the kubelet authenticates with it to
submit a certificate signing request for its own key, which the controller manager
approves and signs; the kubelet then writes kubelet.conf and never uses the token again.

'ctl token create --print-join-command' on the control plane prints the whole command.`,
		Example: helptext.Examples(`
# Join, with the command 'ctl token create --print-join-command' printed
ctl join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:1234..cdef

# Only write the node's files (the kubelet and kube-proxy are started otherwise)
ctl join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:1234..cdef --start=false --config-dir /srv/node-2/etc/coracle --node-name node-2 --node-ip 172.31.250.12`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmderr.Usage(cmd.CommandPath(), "join needs the API server's address: ctl join <host:port> --token TOKEN --discovery-token-ca-cert-hash sha256:HASH")
			}
			o.Endpoint = args[0]
			return Run(cmd.Context(), env.Out, env.ErrOut, host, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Token, "token", "", "The bootstrap token: it validates the cluster information fetched from the API server (discovery) and authenticates the kubelet while it gets its certificate (TLS bootstrap).")
	f.StringSliceVar(&o.CACertHashes, "discovery-token-ca-cert-hash", nil, "For token-based discovery, validate that the root CA public key matches this hash (format: \"<type>:<value>\").")
	f.BoolVar(&o.UnsafeSkipCAVerification, "discovery-token-unsafe-skip-ca-verification", false, "For token-based discovery, allow joining without --discovery-token-ca-cert-hash pinning.")
	f.StringVar(&o.ConfigDir, "config-dir", o.ConfigDir, "The directory the node's kubelet and kube-proxy read their files from.")
	f.StringVar(&o.NodeName, "node-name", "", "Specify the node name (default: the host name, lower-cased).")
	f.StringVar(&o.NodeIP, "node-ip", "", "The node's InternalIP (default: the kubelet picks the address of the interface with the default route).")
	f.BoolVar(&o.Start, "start", o.Start, "Enable and start "+strings.Join(Units, " and ")+" with systemctl and wait for the kubelet's TLS bootstrap (default: whether systemd runs this host).")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the kubelet's TLS bootstrap with --start.")
	f.DurationVar(&o.DiscoveryTimeout, "discovery-timeout", o.DiscoveryTimeout, "How long to wait for the API server to answer and for the cluster-info ConfigMap to be signed for the token.")
	_ = cmd.MarkFlagRequired("token")
	return cmd
}

// Run joins this host.
func Run(ctx context.Context, out, errOut io.Writer, host Host, o Options) error {
	name, err := nodeName(host, o.NodeName)
	if err != nil {
		return err
	}
	if o.NodeIP != "" && net.ParseIP(o.NodeIP) == nil {
		return fmt.Errorf("--node-ip %q: not an IP address", o.NodeIP)
	}
	dopts := discovery.Options{
		Endpoint:                 o.Endpoint,
		Token:                    o.Token,
		CACertHashes:             o.CACertHashes,
		UnsafeSkipCAVerification: o.UnsafeSkipCAVerification,
		Timeout:                  o.DiscoveryTimeout,
		Progress:                 func(r string) { fmt.Fprintf(errOut, "[discovery] %s\n", r) },
	}
	// Every check that needs no network comes before any request.
	if err := dopts.Validate(); err != nil {
		return err
	}
	kubeletConf := filepath.Join(o.ConfigDir, KubeletKubeconfig)
	if _, err := os.Stat(kubeletConf); err == nil {
		return fmt.Errorf("%s already exists: this host has joined a cluster already (remove it, and the kubelet's certificates, to join again)", kubeletConf)
	}
	fmt.Fprintf(out, "[discovery] Requesting cluster-info from %q\n", "https://"+o.Endpoint)
	cluster, err := host.Discover(ctx, dopts)
	if err != nil {
		return fmt.Errorf("couldn't validate the identity of the API Server: %w", err)
	}
	if len(o.CACertHashes) > 0 {
		fmt.Fprintf(out, "[discovery] Cluster info signature and contents are valid and TLS certificate validates against pinned roots, will use API Server %q\n", cluster.Server)
	} else {
		fmt.Fprintf(out, "[discovery] Cluster info signature and contents are valid and no TLS pinning was specified, will use API Server %q\n", cluster.Server)
	}
	if err := writeFiles(out, o.ConfigDir, cluster, o.Token, name, o.NodeIP); err != nil {
		return err
	}
	if !o.Start {
		fmt.Fprintf(out, `
This node's configuration is written. Start its kubelet and kube-proxy to join the cluster:

	systemctl daemon-reload
	systemctl enable --now %s

The kubelet performs the TLS Bootstrap and writes %s.
Run 'kubectl get nodes' on the control-plane to see this node join the cluster.
`, strings.Join(Units, " "), kubeletConf)
		return nil
	}
	fmt.Fprintln(out, "[kubelet-start] Starting the kubelet")
	if err := host.Systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	if err := host.Systemctl(ctx, append([]string{"enable", "--now"}, Units...)...); err != nil {
		return err
	}
	fmt.Fprintln(out, "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
	if err := waitForKubeconfig(ctx, kubeletConf, o.Timeout); err != nil {
		return err
	}
	// The kubelet has its own credentials: the token leaves the disk, as
	// kubeadm removes it.
	_ = os.Remove(filepath.Join(o.ConfigDir, BootstrapKubeconfig))
	fmt.Fprint(out, doneMessage)
	return nil
}

// nodeName is the name given, or the host name lower-cased (the kubelet's
// own default), which must be a DNS subdomain.
func nodeName(host Host, given string) (string, error) {
	name := given
	if name == "" {
		h, err := host.Hostname()
		if err != nil {
			return "", fmt.Errorf("--node-name not given and the host name is unknown: %w", err)
		}
		name = strings.ToLower(h)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("--node-name %q: %s", name, strings.Join(errs, "; "))
	}
	return name, nil
}

// writeFiles writes the node's files: the CA (kept if the same CA is
// there already, refused if another is), the bootstrap kubeconfig and
// kubelet.env.
func writeFiles(out io.Writer, dir string, cluster *discovery.Cluster, token, name, ip string) error {
	caPath := filepath.Join(dir, CACert)
	writeCA, err := checkExistingCA(caPath, cluster.CAData)
	if err != nil {
		return err
	}
	if writeCA {
		fmt.Fprintf(out, "[kubelet-start] Writing the cluster CA certificate to %q\n", caPath)
		if err := writeAtomic(caPath, cluster.CAData, 0o644); err != nil {
			return fmt.Errorf("couldn't save the CA certificate to disk: %w", err)
		}
	}
	bootstrap := filepath.Join(dir, BootstrapKubeconfig)
	fmt.Fprintf(out, "[kubelet-start] Writing the bootstrap kubeconfig to %q\n", bootstrap)
	err = kubeconfig.Write(bootstrap, kubeconfig.Credentials{
		ClusterName: clusterName, Server: cluster.Server, CAData: cluster.CAData,
		UserName: TokenUser, Token: token,
	})
	if err != nil {
		return fmt.Errorf("couldn't save %s to disk: %w", BootstrapKubeconfig, err)
	}
	envPath := filepath.Join(dir, KubeletEnv)
	fmt.Fprintf(out, "[kubelet-start] Writing kubelet environment file with flags to file %q\n", envPath)
	if err := writeAtomic(envPath, []byte(EnvFile(name, ip)), 0o644); err != nil {
		return fmt.Errorf("couldn't save %s to disk: %w", KubeletEnv, err)
	}
	return nil
}

// EnvFile is kubelet.env: the node's name and address as the CORACLE_*
// variables the kubelet and kube-proxy read (viper binds
// CORACLE_NODE_NAME to --node-name).
func EnvFile(name, ip string) string {
	var b strings.Builder
	b.WriteString("# Written by ctl join: this node's settings, read by the coracle-kubelet and\n# coracle-kube-proxy units (EnvironmentFile=).\n")
	fmt.Fprintf(&b, "CORACLE_NODE_NAME=%s\n", name)
	if ip != "" {
		fmt.Fprintf(&b, "CORACLE_NODE_IP=%s\n", ip)
	}
	return b.String()
}

// checkExistingCA says whether the CA file must be written: yes when
// absent; no when it holds the cluster's CA already; an error when it
// holds another, which the kubelet would trust instead.
func checkExistingCA(path string, caData []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	have, _ := certutil.ParseCertsPEM(old)
	want, err := certutil.ParseCertsPEM(caData)
	if err != nil {
		return false, err
	}
	for _, w := range want {
		if !containsCert(have, w) {
			return false, fmt.Errorf("%s already exists and holds another CA than this cluster's: remove it to join this cluster", path)
		}
	}
	return false, nil
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, h := range certs {
		if h.Equal(c) {
			return true
		}
	}
	return false
}

// waitForKubeconfig waits until path is a kubeconfig a client can be made
// from (its certificate files present too), as kubeadm waits for the
// TLS bootstrap.
func waitForKubeconfig(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if usable(path) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed while waiting for TLS bootstrap: the kubelet did not write %s within %s.\n"+
				"The kubelet may not be running, or may not reach the API server, or its certificate signing request may not be approved:\n"+
				"\t- 'systemctl status %s' and 'journalctl -xeu %s' on this node\n"+
				"\t- 'kubectl get csr' on the control-plane", path, timeout, Units[0], Units[0])
		case <-time.After(pollInterval):
		}
	}
}

func usable(path string) bool {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return false
	}
	_, err = rest.HTTPClientFor(cfg)
	return err == nil
}

// writeAtomic writes through a temporary file and a rename, so the units
// never read half a file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
