#!/bin/sh
# Runs the Coracle components that exist so far as background processes on
# this machine: state in /var/lib/coracle, logs in /var/log/coracle, the
# admin kubeconfig at /etc/coracle/admin.conf. Idempotent: a component
# already running is left alone.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/bin"
STATE=${CORACLE_STATE_DIR:-/var/lib/coracle}
LOGS=${CORACLE_LOG_DIR:-/var/log/coracle}
RUN=${CORACLE_RUN_DIR:-/run/coracle}
CONF=${CORACLE_CONF_DIR:-/etc/coracle}
PORT=${CORACLE_APISERVER_PORT:-6443}

mkdir -p "$STATE" "$LOGS" "$RUN" "$CONF"

# running NAME: true if the component's recorded process is alive and is
# still our binary (a recycled PID is not).
running() {
	pidfile="$RUN/$1.pid"
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "^$BIN/$1 "
}

# start NAME ARGS...: start bin/NAME in the background unless running.
start() {
	name=$1
	shift
	if running "$name"; then
		echo "$name: already running (pid $(cat "$RUN/$name.pid"))"
		return 0
	fi
	if [ ! -x "$BIN/$name" ]; then
		echo "$name: $BIN/$name not built; run make build" >&2
		exit 1
	fi
	setsid "$BIN/$name" "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
	echo $! > "$RUN/$name.pid"
	echo "$name: started (pid $!), log $LOGS/$name.log"
}

start apiserver \
	--data-dir "$STATE/apiserver" \
	--secure-port "$PORT" \
	--admin-kubeconfig "$CONF/admin.conf"

# wait_ready NAME URL: poll URL until it answers 200, at most 60 s.
wait_ready() {
	i=0
	until curl -fsk "$2" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -ge 120 ]; then
			echo "$1: not ready after 60s; last log lines:" >&2
			tail -n 20 "$LOGS/$1.log" >&2
			exit 1
		fi
		if ! running "$1"; then
			echo "$1: exited; last log lines:" >&2
			tail -n 20 "$LOGS/$1.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	echo "$1: ready"
}

wait_ready apiserver "https://127.0.0.1:$PORT/readyz"

start scheduler \
	--kubeconfig "$CONF/admin.conf" \
	--leader-elect \
	--status-address 127.0.0.1:10259
start controller-manager \
	--kubeconfig "$CONF/admin.conf" \
	--leader-elect \
	--cluster-cidr 10.244.0.0/16 \
	--node-cidr-mask-size 24 \
	--status-address 127.0.0.1:10257
wait_ready scheduler http://127.0.0.1:10259/readyz
wait_ready controller-manager http://127.0.0.1:10257/readyz

cat <<MSG

Coracle is up: the API at https://127.0.0.1:$PORT.

  bin/ctl get namespaces          # ctl finds $CONF/admin.conf by itself
  export KUBECONFIG=$CONF/admin.conf
  kubectl get all -A              # the real kubectl works too

Logs: $LOGS/   State: $STATE/   Stop with: make down
MSG
