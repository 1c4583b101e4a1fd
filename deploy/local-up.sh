#!/bin/sh
# Runs the Coracle components that exist so far as background processes on
# this machine: state in /var/lib/coracle, logs in /var/log/coracle, the
# admin kubeconfig at /etc/coracle/admin.conf. Idempotent: a component
# already running is left alone.
set -eu

. "$(dirname "$0")/local-common.sh"

mkdir -p "$STATE" "$LOGS" "$RUN" "$CONF"

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

start apiserver "$PORT 12379 12380" \
	--data-dir "$STATE/apiserver" \
	--secure-port "$PORT" \
	--admin-kubeconfig "$CONF/admin.conf"

# wait_ready NAME PORT URL: poll URL, served on PORT, until it answers 200
# from the process we started, at most 60 s. An answer from another
# process on that port is an error that names it.
wait_ready() {
	i=0
	pid=$(cat "$RUN/$1.pid")
	while :; do
		if ! running "$1"; then
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

start scheduler 10259 \
	--kubeconfig "$CONF/admin.conf" \
	--leader-elect \
	--status-address 127.0.0.1:10259
start controller-manager 10257 \
	--kubeconfig "$CONF/admin.conf" \
	--leader-elect \
	--cluster-cidr 10.244.0.0/16 \
	--node-cidr-mask-size 24 \
	--status-address 127.0.0.1:10257
wait_ready scheduler 10259 http://127.0.0.1:10259/readyz
wait_ready controller-manager 10257 http://127.0.0.1:10257/readyz

# The local registry holds busybox (built from Debian's busybox-static) so
# pods run with no internet; the kubelet runs this machine's node.
start local-registry "${REGISTRY##*:}" --address "$REGISTRY"
wait_ready local-registry "${REGISTRY##*:}" "http://$REGISTRY/v2/library/busybox/manifests/latest"
# shellcheck disable=SC2086 # KUBELET_FLAGS is a list of flags
start kubelet "10248 10250" $KUBELET_FLAGS
wait_ready kubelet 10248 http://127.0.0.1:10248/readyz

# The node is Ready once its pod network is configured (the controller
# manager gives it a pod CIDR) and the runtime answers.
i=0
until [ "$("$BIN/ctl" --kubeconfig "$CONF/admin.conf" get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
	i=$((i + 1))
	if [ "$i" -ge 120 ]; then
		echo "node $NODE_NAME: not Ready after 60s; last kubelet log lines:" >&2
		tail -n 20 "$LOGS/kubelet.log" >&2
		exit 1
	fi
	sleep 0.5
done
echo "node $NODE_NAME: Ready"

# Services: ClusterIPs, NodePorts and LoadBalancer addresses in iptables.
start kube-proxy 10256 \
	--kubeconfig "$CONF/admin.conf" \
	--node-name "$NODE_NAME" \
	--cluster-cidr 10.244.0.0/16 \
	--metrics-bind-address 127.0.0.1:10256
wait_ready kube-proxy 10256 http://127.0.0.1:10256/readyz

cat <<MSG

Coracle is up: the API at https://127.0.0.1:$PORT.

  bin/ctl get nodes               # ctl finds $CONF/admin.conf by itself
  bin/ctl create deployment web --image=busybox --replicas=3 -- httpd -f -p 8080 -h /etc
  bin/ctl get pods -o wide
  bin/ctl expose deployment web --port 80 --target-port 8080
  curl http://\$(bin/ctl get svc web -o jsonpath='{.spec.clusterIP}')/hostname
  export KUBECONFIG=$CONF/admin.conf
  kubectl get all -A              # the real kubectl works too

Logs: $LOGS/   State: $STATE/   Stop with: make down
MSG
