#!/bin/sh
# Stops the local Coracle processes started by local-up.sh, newest first,
# then removes kube-proxy's iptables rules (`kube-proxy --cleanup`), stops
# this node's pods and removes every runtime leftover (the
# containers, their network namespaces, veths, bridge, cgroups, mounts and
# iptables rules: `kubelet --teardown`). The stored state (the cluster's
# objects, pulled images) in /var/lib/coracle stays: `make up` carries on
# where it was. Idempotent.
set -eu

. "$(dirname "$0")/local-common.sh"

# stop NAME: SIGTERM the component if it is still our binary, wait for it
# (SIGKILL after 30 s), and forget its pidfile.
stop() {
	pidfile="$RUN/$1.pid"
	[ -f "$pidfile" ] || return 0
	if running "$1"; then
		pid=$(cat "$pidfile")
		kill -TERM "$pid"
		i=0
		while kill -0 "$pid" 2>/dev/null; do
			i=$((i + 1))
			if [ "$i" -ge 60 ]; then
				echo "$1: did not stop after 30s; killing"
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.5
		done
		echo "$1: stopped"
	fi
	rm -f "$pidfile"
}

if [ -d "$RUN" ]; then
	# The other nodes' components first (make up NODES=N).
	for pidfile in "$RUN"/node-*.pid; do
		[ -f "$pidfile" ] || continue
		stop "$(basename "$pidfile" .pid)"
	done
	for name in kube-proxy kubelet local-registry controller-manager scheduler apiserver; do
		stop "$name"
	done
	# Anything else a newer local-up.sh started.
	for pidfile in "$RUN"/*.pid; do
		[ -f "$pidfile" ] || continue
		stop "$(basename "$pidfile" .pid)"
	done
	rmdir "$RUN" 2>/dev/null || true
else
	echo "coracle: not running"
fi

# The other nodes: their pods and runtime leftovers (the kubelet's
# --teardown, run from the node's unit inside its namespace), then the
# namespace itself, which takes its veth, routes and iptables with it.
for dir in "$STATE"/nodes/node-*; do
	[ -d "$dir" ] || continue
	n=${dir##*/node-}
	ns=$(node_netns "$n")
	unit="$dir/etc/systemd/system/coracle-kubelet.service"
	if [ -e "/var/run/netns/$ns" ] && [ -f "$unit" ]; then
		(
			set -a
			for f in $(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit"); do
				if [ -f "$f" ]; then
					# shellcheck disable=SC1090 # the unit names it
					. "$f"
				fi
			done
			set +a
			# shellcheck disable=SC2046 # ExecStart= is a list of words
			nsenter --net="/var/run/netns/$ns" $(sed -n 's/^ExecStart=//p' "$unit") --teardown --log-format console --log-level warn
		) && echo "$(node_name "$n"): pods stopped, runtime leftovers removed" ||
			echo "$(node_name "$n"): kubelet --teardown failed; removing its namespace anyway" >&2
	fi
done
# Every node namespace make up made, whether or not its files are left.
for ns in $(ip netns list 2>/dev/null | sed -n 's/^\(coracle-node-[0-9][0-9]*\).*/\1/p'); do
	ip netns del "$ns"
	echo "$ns: network namespace removed"
done

# kube-proxy's chains and rules, and nothing else of the tables.
if [ -x "$BIN/kube-proxy" ] && command -v iptables >/dev/null 2>&1; then
	"$BIN/kube-proxy" --cleanup --log-format console --log-level warn
	echo "kube-proxy: rules removed"
fi

# The node's pods and everything they left on the machine.
if [ -d "$STATE/kubelet" ] && [ -x "$BIN/kubelet" ]; then
	# shellcheck disable=SC2086 # KUBELET_FLAGS is a list of flags
	"$BIN/kubelet" $KUBELET_FLAGS --teardown --log-format console --log-level warn
	echo "kubelet: pods stopped, runtime leftovers removed"
fi

# The nodes' bridge, last: the routes through it go with it.
if ip link show "$BRIDGE" >/dev/null 2>&1; then
	ip link del "$BRIDGE"
	echo "bridge $BRIDGE removed"
fi
