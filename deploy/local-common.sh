# Shared by local-up.sh and local-down.sh (sourced, not run): where the
# local cluster keeps its files, and how its kubelet is configured, so
# that `make down` tears down exactly what `make up` started.

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/bin"
STATE=${CORACLE_STATE_DIR:-/var/lib/coracle}
LOGS=${CORACLE_LOG_DIR:-/var/log/coracle}
RUN=${CORACLE_RUN_DIR:-/run/coracle}
CONF=${CORACLE_CONF_DIR:-/etc/coracle}
PORT=${CORACLE_APISERVER_PORT:-6443}
NODE_NAME=${CORACLE_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}

# NODES: how many nodes (this machine is the first; each other is a
# network namespace on the bridge $BRIDGE). The apiserver, the registry
# and this machine's node are reached at the bridge's address, which every
# node routes to; so the addresses stay the same whatever NODES is.
NODES=${CORACLE_NODES:-1}
BRIDGE=coracle0
NET_PREFIX=172.31.250
BRIDGE_IP=$NET_PREFIX.1
REGISTRY=${CORACLE_REGISTRY_ADDRESS:-$BRIDGE_IP:5000}

# node_name I, node_ip I, node_netns I, node_dir I: the I-th extra node
# (I >= 2): its name, InternalIP, network namespace and install prefix.
node_name() { echo "node-$1"; }
node_ip() { echo "$NET_PREFIX.$((10 + $1))"; }
node_netns() { echo "coracle-node-$1"; }
node_dir() { echo "$STATE/nodes/node-$1"; }

# make up's kubelets evict on memory only, the disk signals off (0%) as
# kind's nodes: this machine's free disk is not the cluster's concern.
# deploy/config/kubelet.yaml (real hosts) keeps upstream's thresholds.
EVICTION_HARD="memory.available<100Mi,nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%"

# The kubelet's settings, for running it and for its --teardown. It joins
# with a bootstrap token like any node (ctl join writes
# bootstrap-kubelet.conf; its TLS bootstrap writes kubelet.conf). Images
# of docker.io ("busybox") and registry.k8s.io (the conformance suite's,
# once `REGISTRY=172.31.250.1:5000 ../shared/conformance/images.sh` has
# pushed them) come from the local registry first, and so do the add-ons'
# images (coracle.dev/addons/NAME:TAG, packed by make up). Pods resolve
# names through the cluster DNS add-on (the kube-dns Service). Static pods
# come from $CONF/manifests, the kubeadm convention.
KUBELET_FLAGS="--bootstrap-kubeconfig $CONF/bootstrap-kubelet.conf --kubeconfig $CONF/kubelet.conf --rotate-server-certificates --node-name $NODE_NAME --root-dir $STATE/kubelet --pod-log-dir $LOGS/pods --status-address 127.0.0.1:10248 --registry-mirror docker.io=http://$REGISTRY --registry-mirror registry.k8s.io=http://$REGISTRY --registry-mirror coracle.dev=http://$REGISTRY --cluster-dns 10.96.0.10 --cluster-domain cluster.local --node-ip $BRIDGE_IP --pod-manifest-path $CONF/manifests --eviction-hard $EVICTION_HARD"

# The add-ons (deploy/addons/DIR) and the name of each in the add-on
# manager's directory (NAME.yaml): `make up DISABLE=dns,ingress,storage`
# names these.
ADDONS="coredns:dns ingress:ingress local-path:storage"
ADDON_MANIFESTS="$STATE/server/manifests"

# running NAME: true if the component's recorded process is alive and is
# still our binary (a recycled PID is not). Just after `setsid BIN &` the
# process may not have exec'd the binary yet: its command line then still
# starts with setsid, and it is ours all the same.
running() {
	pidfile="$RUN/$1.pid"
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' < "/proc/$pid/cmdline" | grep -Eq "^(setsid )?$BIN/$1 |^(setsid )?(nsenter --net=[^ ]* )?[^ ]*/coracle-${1#*.} "
}

# port_owner PORT: the PID of the process listening on TCP PORT, empty if
# none does.
port_owner() {
	ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n 1
}

# describe_pid PID: the PID and the start of its command line, for errors.
describe_pid() {
	printf 'pid %s (%s)' "$1" "$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | cut -c1-100)"
}
