#!/bin/sh
# Runs the Coracle components that exist so far as background processes on
# this machine: state in /var/lib/coracle, logs in /var/log/coracle, the
# admin kubeconfig at /etc/coracle/admin.conf. Idempotent: a component
# already running is left alone.
set -eu

. "$(dirname "$0")/local-common.sh"

mkdir -p "$STATE" "$LOGS" "$RUN" "$CONF" "$CONF/manifests"

# start NAME "PORTS" ARGS...: start bin/NAME in the background unless it
# runs already. PORTS are the TCP ports it listens on: each must be free,
# or another process would answer for it.
start() {
	name=$1
	ports=$2
	shift 2
	if running "$name"; then
		echo "$name: already running (pid $(cat "$RUN/$name.pid"))"
		return 0
	fi
	if [ ! -x "$BIN/$name" ]; then
		echo "$name: $BIN/$name not built; run make build" >&2
		exit 1
	fi
	for port in $ports; do
		owner=$(port_owner "$port")
		if [ -n "$owner" ]; then
			echo "$name: port $port is already in use by $(describe_pid "$owner"); stop that process or free the port" >&2
			exit 1
		fi
	done
	setsid "$BIN/$name" "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
	echo $! > "$RUN/$name.pid"
	echo "$name: started (pid $!), log $LOGS/$name.log"
}

# The bridge every node hangs on (see local-common.sh); the apiserver
# advertises its address, so cluster-info sends joining nodes there.
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
	ip link add "$BRIDGE" type bridge
fi
ip addr replace "$BRIDGE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up

start apiserver "$PORT 12379 12380" \
	--data-dir "$STATE/apiserver" \
	--secure-port "$PORT" \
	--advertise-address "$BRIDGE_IP" \
	--kubelet-certificate-authority "$STATE/apiserver/pki/ca.crt" \
	--audit-policy-file "$ROOT/deploy/config/audit-policy.yaml" \
	--audit-log-path "$LOGS/audit.log" \
	--audit-log-maxsize 100 \
	--audit-log-maxbackup 3 \
	--admin-kubeconfig "$CONF/admin.conf"

# wait_ready NAME PORT URL: poll URL, served on PORT, until it answers 200
# from the process we started, at most 60 s. An answer from another
# process on that port is an error that names it.
wait_ready() {
	i=0
	pid=$(cat "$RUN/$1.pid")
	while :; do
		if ! running "$1"; then
			# Just forked and not yet exec'd, its command line is still
			# this script's: give it a moment before calling it gone.
			if [ "$i" -lt 10 ] && kill -0 "$pid" 2>/dev/null; then
				i=$((i + 1))
				sleep 0.5
				continue
			fi
			echo "$1: exited; last log lines:" >&2
			tail -n 20 "$LOGS/$1.log" >&2
			exit 1
		fi
		owner=$(port_owner "$2")
		if [ -n "$owner" ] && [ "$owner" != "$pid" ]; then
			echo "$1: port $2 is served by $(describe_pid "$owner"), not by $1 (pid $pid); last log lines:" >&2
			tail -n 20 "$LOGS/$1.log" >&2
			exit 1
		fi
		if [ "$owner" = "$pid" ] && curl -fsk "$3" >/dev/null 2>&1; then
			break
		fi
		i=$((i + 1))
		if [ "$i" -ge 120 ]; then
			echo "$1: not ready after 60s; last log lines:" >&2
			tail -n 20 "$LOGS/$1.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	echo "$1: ready"
}

wait_ready apiserver "$PORT" "https://127.0.0.1:$PORT/readyz"

# Each component with its own identity, from the kubeconfigs the apiserver
# writes next to admin.conf.
start scheduler 10259 \
	--kubeconfig "$CONF/scheduler.conf" \
	--leader-elect \
	--status-address 127.0.0.1:10259
# The add-ons' manifests go where the add-on manager applies them from,
# each written aside and renamed into place so it is never read half
# written; an add-on whose manifest a user deleted (NAME.skip) stays off.
mkdir -p "$ADDON_MANIFESTS"
for addon in $ADDONS; do
	dir=${addon%%:*}
	name=${addon#*:}
	[ -e "$ADDON_MANIFESTS/$name.skip" ] && continue
	cp "$ROOT/deploy/addons/$dir/manifest.yaml" "$ADDON_MANIFESTS/.$name.yaml.tmp"
	if [ "$dir" = local-path ]; then
		# The nodes in network namespaces share this machine's
		# filesystem: each keeps its volumes under its own install
		# prefix, where a real host of its own would have
		# /var/lib/coracle/storage.
		n=2
		while [ "$n" -le "$NODES" ]; do
			sed -i "/\"nodePathMap\": \[/a\\        {\"node\": \"$(node_name "$n")\", \"paths\": [\"$(node_dir "$n")/var/lib/coracle/storage\"]}," "$ADDON_MANIFESTS/.$name.yaml.tmp"
			n=$((n + 1))
		done
	fi
	mv "$ADDON_MANIFESTS/.$name.yaml.tmp" "$ADDON_MANIFESTS/$name.yaml"
done
start controller-manager 10257 \
	--kubeconfig "$CONF/controller-manager.conf" \
	--addon-manifests-dir "$ADDON_MANIFESTS" \
	--disable-addons "${CORACLE_DISABLE:-}" \
	--use-service-account-credentials \
	--leader-elect \
	--cluster-cidr 10.244.0.0/16 \
	--node-cidr-mask-size 24 \
	--cluster-signing-cert-file "$STATE/apiserver/pki/ca.crt" \
	--cluster-signing-key-file "$STATE/apiserver/pki/ca.key" \
	--status-address 127.0.0.1:10257
wait_ready scheduler 10259 http://127.0.0.1:10259/readyz
wait_ready controller-manager 10257 http://127.0.0.1:10257/readyz

# The local registry holds busybox (built from Debian's busybox-static) so
# pods run with no internet, and the add-ons' images, each packed from its
# static binary (bin/addons/DIR) under the name and tag its manifest uses;
# the kubelet runs this machine's node.
images=
for addon in $ADDONS; do
	dir=${addon%%:*}
	for ref in $(grep -o "coracle.dev/addons/$dir:[A-Za-z0-9._-]*" "$ROOT/deploy/addons/$dir/manifest.yaml" | sort -u); do
		images="$images --image ${ref#coracle.dev/}=$BIN/addons/$dir"
	done
done
# shellcheck disable=SC2086 # images is a list of flags
start local-registry "${REGISTRY##*:}" --address "$REGISTRY" $images
wait_ready local-registry "${REGISTRY##*:}" "http://$REGISTRY/v2/library/busybox/manifests/latest"
# The add-ons' images are pushed after busybox: wait for them too, or the
# first pull of one fails and backs off.
for flag in $images; do
	[ "$flag" = --image ] && continue
	ref=${flag%%=*}
	wait_ready local-registry "${REGISTRY##*:}" "http://$REGISTRY/v2/${ref%:*}/manifests/${ref##*:}"
done

# join_command: a fresh bootstrap token's join command, as a user gets it
# (ctl token create --print-join-command), with this checkout's ctl.
join_command() {
	cmd=$("$BIN/ctl" --kubeconfig "$CONF/admin.conf" token create --ttl 1h --description "make up" --print-join-command)
	echo "$BIN/$cmd"
}

# join NAME ARGS...: run a fresh join command with ARGS (the node's own
# settings); its report goes to the node's join log. make up starts the
# kubelet itself, not through systemd.
join() {
	who=$1
	shift
	log="$LOGS/$who.join.log"
	# shellcheck disable=SC2046 # the join command is a list of words
	if ! $(join_command) "$@" --start=false >"$log" 2>&1; then
		echo "node $who: join failed:" >&2
		cat "$log" >&2
		exit 1
	fi
	echo "node $who: joined (ctl join; its report: $log)"
}

# joined DIR: true if DIR/kubelet.conf exists and trusts this cluster's
# CA (a kubelet.conf of an earlier cluster, whose state was wiped, does
# not).
joined() {
	[ -f "$1/kubelet.conf" ] || return 1
	grep -q "certificate-authority-data: $(base64 -w0 < "$STATE/apiserver/pki/ca.crt")" "$1/kubelet.conf"
}

# wait_node NAME LOG: wait until node NAME is Ready, at most 90 s.
wait_node() {
	i=0
	until [ "$("$BIN/ctl" --kubeconfig "$CONF/admin.conf" get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
		i=$((i + 1))
		if [ "$i" -ge 180 ]; then
			echo "node $1: not Ready after 90s; last lines of $2:" >&2
			tail -n 20 "$2" >&2
			exit 1
		fi
		sleep 0.5
	done
	echo "node $1: Ready"
}

# This machine joins as a node the way any host does: a bootstrap token,
# ctl join (discovery pinned to the CA's hash), then the kubelet's TLS
# bootstrap, which writes kubelet.conf. Credentials of an earlier cluster
# (its state wiped, a new CA) are dropped first.
if ! running kubelet && ! joined "$CONF"; then
	rm -f "$CONF/kubelet.conf" "$CONF/pki/ca.crt" "$STATE/kubelet/pki/kubelet-client-current.pem" "$STATE/kubelet/pki/kubelet-server-current.pem"
	join "$NODE_NAME" --config-dir "$CONF" --node-name "$NODE_NAME" --node-ip "$BRIDGE_IP"
fi
# shellcheck disable=SC2086 # KUBELET_FLAGS is a list of flags
start kubelet "10248 10250" $KUBELET_FLAGS
wait_ready kubelet 10248 http://127.0.0.1:10248/readyz

# The node is Ready once its pod network is configured (the controller
# manager gives it a pod CIDR) and the runtime answers.
wait_node "$NODE_NAME" "$LOGS/kubelet.log"

# Services: ClusterIPs, NodePorts and LoadBalancer addresses in iptables,
# with the node's own credentials.
start kube-proxy 10256 \
	--kubeconfig "$CONF/kubelet.conf" \
	--node-name "$NODE_NAME" \
	--cluster-cidr 10.244.0.0/16 \
	--metrics-bind-address 127.0.0.1:10256
wait_ready kube-proxy 10256 http://127.0.0.1:10256/readyz

# start_unit NODE COMPONENT: run a node's component from its installed
# systemd unit, the way systemd would: the unit's EnvironmentFile= and
# Environment= settings, then its ExecStart= line, inside the node's
# network namespace.
start_unit() {
	n=$1
	component=$2
	dir=$(node_dir "$n")
	unit="$dir/etc/systemd/system/coracle-$component.service"
	pidname="$(node_name "$n").$component"
	if running "$pidname"; then
		echo "$pidname: already running (pid $(cat "$RUN/$pidname.pid"))"
		return 0
	fi
	log="$LOGS/$pidname.log"
	(
		set -a
		for f in $(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit"); do
			if [ -f "$f" ]; then
				# shellcheck disable=SC1090 # the unit names it
				. "$f"
			fi
		done
		eval "$(sed -n 's/^Environment=//p' "$unit")"
		set +a
		# shellcheck disable=SC2046 # ExecStart= is a list of words
		exec setsid nsenter --net="/var/run/netns/$(node_netns "$n")" $(sed -n 's/^ExecStart=//p' "$unit") >>"$log" 2>&1 < /dev/null
	) &
	echo $! > "$RUN/$pidname.pid"
	echo "$pidname: started (pid $!), log $log"
}

# The other nodes: each a network namespace with a veth on the bridge and
# its own address, installed from deploy/install.sh --worker under its own
# prefix, joined with its own token, its kubelet and kube-proxy started
# from the installed units.
n=2
while [ "$n" -le "$NODES" ]; do
	name=$(node_name "$n")
	ns=$(node_netns "$n")
	dir=$(node_dir "$n")
	if [ ! -e "/var/run/netns/$ns" ]; then
		ip netns add "$ns"
		ip link add "cn$n" type veth peer name eth0 netns "$ns"
		ip link set "cn$n" master "$BRIDGE" up
		ip -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
		ip -n "$ns" link set lo up
		ip -n "$ns" link set eth0 up
		# Service traffic and everything off the bridge leaves through
		# this machine.
		ip -n "$ns" route add default via "$BRIDGE_IP"
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
	fi
	"$ROOT/deploy/install.sh" --worker --prefix "$dir" >/dev/null
	conf="$dir/etc/coracle"
	# What make up sets on its nodes, whatever an earlier install wrote:
	# the local registry as mirror, the cluster DNS, the static pods'
	# directory, and eviction on memory only (the disk signals off, as
	# kind's nodes: the nodes share this machine's disk, whose free share
	# is not the cluster's concern).
	sed -i '/^registry-mirror:/d; /^cluster-dns:/d; /^cluster-domain:/d; /^pod-manifest-path:/d; /^eviction-hard:/d' "$conf/kubelet.yaml"
	cat >> "$conf/kubelet.yaml" <<-EOF
		registry-mirror: [docker.io=http://$REGISTRY, registry.k8s.io=http://$REGISTRY, coracle.dev=http://$REGISTRY]
		cluster-dns: [10.96.0.10]
		cluster-domain: cluster.local
		pod-manifest-path: $conf/manifests
		eviction-hard: $EVICTION_HARD
	EOF
	if ! running "$name.kubelet" && ! joined "$conf"; then
		rm -f "$conf/kubelet.conf" "$conf/pki/ca.crt" "$dir/var/lib/coracle/kubelet/pki/kubelet-client-current.pem" "$dir/var/lib/coracle/kubelet/pki/kubelet-server-current.pem"
		join "$name" --config-dir "$conf" --node-name "$name" --node-ip "$(node_ip "$n")"
	fi
	start_unit "$n" kubelet
	n=$((n + 1))
done
# Nodes of an earlier, bigger make up leave the cluster: their Node
# objects and their files go.
for dir in "$STATE"/nodes/node-*; do
	[ -d "$dir" ] || continue
	n=${dir##*/node-}
	[ "$n" -gt "$NODES" ] || continue
	name=$(node_name "$n")
	if running "$name.kubelet" || running "$name.kube-proxy"; then
		echo "node $name: still running; make down first, then make up NODES=$NODES" >&2
		exit 1
	fi
	"$BIN/ctl" --kubeconfig "$CONF/admin.conf" delete node "$name" --ignore-not-found >/dev/null
	rm -rf "$dir"
	echo "node $name: removed (NODES=$NODES)"
done

n=2
while [ "$n" -le "$NODES" ]; do
	wait_node "$(node_name "$n")" "$LOGS/$(node_name "$n").kubelet.log"
	start_unit "$n" kube-proxy
	n=$((n + 1))
done

cat <<MSG

Coracle is up: the API at https://$BRIDGE_IP:$PORT, $NODES node(s).

  bin/ctl get nodes -o wide       # ctl finds $CONF/admin.conf by itself
  bin/ctl create deployment web --image=busybox --replicas=3 -- httpd -f -p 8080 -h /etc
  bin/ctl get pods -o wide
  bin/ctl expose deployment web --port 80 --target-port 8080
  curl http://\$(bin/ctl get svc web -o jsonpath='{.spec.clusterIP}')/hostname
  export KUBECONFIG=$CONF/admin.conf
  kubectl get all -A              # the real kubectl works too

Logs: $LOGS/   State: $STATE/   Stop with: make down
MSG
